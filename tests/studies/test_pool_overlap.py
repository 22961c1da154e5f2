"""The pool-overlap study: a run's test CE against the pool passages it trained on and those it did not."""

import numpy as np
import pytest

from drscale.measure.config import EvalConfig
from drscale.studies import pool_overlap
from drscale.sweep.config import RunConfig
from drscale.train.config import TrainConfig

TINY = TrainConfig(steps=30, batch_size=8, negatives=16, warmup_steps=2, learning_rate=2e-3, passage_max_length=24,
                   query_max_length=12)
EVALUATION = EvalConfig(negatives=16, repeats=2, ranking=False)


def test_the_pool_splits_into_the_passages_a_run_trained_on_and_the_rest(small_data):
    config = RunConfig(model="L1_H4", data_size=100, train=TINY, evaluation=EVALUATION)
    trained, untrained = pool_overlap.split_pool(small_data, config)
    positives = set(small_data.train_pair_rows(100, seed=config.subset_seed)[:, 1].tolist())
    assert set(trained.tolist()) == positives  # every training positive is in this data's pool
    assert not set(untrained.tolist()) & positives


@pytest.mark.slow
def test_the_table_measures_each_run_on_both_parts_of_its_pool(small_data):
    config = RunConfig(model="L1_H4", data_size=100, train=TINY, evaluation=EVALUATION)
    table = pool_overlap.overlap_table(small_data, [config], samples=2)
    row = table.iloc[0]
    assert row.data_size == 100 and row.sample_size == 100
    assert row.pool_share_trained == pytest.approx(100 / len(small_data.pool_rows()))
    assert np.isfinite([row.ce, row.ce_trained_pool, row.ce_untrained_pool]).all()
    assert row.gap == pytest.approx(row.ce_trained_pool - row.ce_untrained_pool)
    again = pool_overlap.overlap_table(small_data, [config], samples=2)
    assert again.equals(table)  # deterministic on CPU
