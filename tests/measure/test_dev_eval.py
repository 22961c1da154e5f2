"""The dev split, dev measurements during training, and best-on-dev checkpoint selection."""

from dataclasses import replace

import numpy as np
import pytest

from drscale.data.corpus import RetrievalData, column
from drscale.measure.dev import DevSet, evaluation_steps
from drscale.model.encoder import build_encoder
from drscale.model.tokens import TokenizedData
from drscale.train.loop import train
from drscale.train.config import CPU_PRESET

TINY = replace(CPU_PRESET, eval_points=0, selection="last", epochs=None, steps=40, batch_size=8, negatives=16, warmup_steps=3, passage_max_length=32,
               query_max_length=16)


@pytest.fixture(scope="module")
def dev_data(small_data):
    return small_data.with_dev_split(30, seed=0)


@pytest.fixture(scope="module")
def tokens(dev_data):
    return TokenizedData.build(dev_data, build_encoder("L1_H16").tokenizer, 16, 32)


@pytest.fixture(scope="module")
def dev(dev_data):
    return DevSet.from_data(dev_data, pairs=30, pool_size=64, negatives=32)


def test_dev_split_is_carved_from_train_and_never_touches_test(small_data, dev_data):
    train_q, dev_q, test_q = (set(column(t, "query_id")) for t in (dev_data.train_qrels, dev_data.dev_qrels, dev_data.test_qrels))
    assert len(dev_q) == 30 and not (dev_q & train_q) and not (dev_q & test_q)
    assert train_q | dev_q == set(column(small_data.train_qrels, "query_id"))
    assert column(dev_data.test_qrels, "query_id") == column(small_data.test_qrels, "query_id")
    dev_positives = {dev_data.passage_row[p] for p in column(dev_data.dev_qrels, "passage_id")}
    assert not dev_positives & set(dev_data.unlabelled_rows().tolist())
    assert dev_data.fingerprint() != small_data.fingerprint()
    assert dev_data.with_dev_split(30) is dev_data
    with pytest.raises(ValueError, match="already has a dev split of 30 queries; asked for 20"):
        dev_data.with_dev_split(20)


def test_dev_split_survives_save_and_load(dev_data, tmp_path):
    loaded = RetrievalData.load(dev_data.save(tmp_path / "saved"))
    assert loaded.fingerprint() == dev_data.fingerprint()
    assert np.array_equal(loaded.dev_pair_rows(), dev_data.dev_pair_rows())


def test_data_without_a_dev_split_says_how_to_get_one(small_data):
    with pytest.raises(ValueError, match="has no dev split: prepare it with dev_queries > 0"):
        small_data.dev_pair_rows()


def test_queries_in_two_splits_are_refused(dev_data):
    with pytest.raises(ValueError, match="queries are in both train and dev"):
        replace(dev_data, dev_qrels=dev_data.train_qrels.select(range(3)))


def test_evaluation_steps_watch_the_start_closely_and_end_at_the_last_step():
    steps = evaluation_steps(512, 16)
    assert steps[0] == 0 and steps[-1] == 512 and steps == sorted(set(steps))
    assert steps[1] <= 6 and len([s for s in steps if s <= 64]) >= 8
    assert evaluation_steps(100, 0) == []
    assert evaluation_steps(512, 1) == [0, 512]  # one measurement is the end of the run, which best-dev may select


def test_epochs_set_the_budget_from_the_data_size():
    config = replace(TINY, steps=40, epochs=2.0)
    assert config.steps_for(64) == 40  # 2 epochs of 64 pairs = 16 steps: the floor holds
    assert config.steps_for(1000) == 250  # 2 epochs of 1000 pairs at 8 a step
    assert config.for_data_size(1000).steps == 250 and config.for_data_size(1000).epochs is None


def test_best_dev_hands_back_the_best_measured_checkpoint(dev_data, tokens, dev):
    config = replace(TINY, eval_points=6, selection="best_dev")
    model = build_encoder("L1_H16", seed=0)
    result = train(model, tokens, dev_data.train_pair_rows(seed=0), config, progress=False, dev=dev)
    steps = [point["step"] for point in result.curve]
    assert steps == evaluation_steps(40, 6)
    best = min(result.curve, key=lambda point: point["dev_ce"])
    assert (result.best_step, result.best_dev_ce) == (best["step"], best["dev_ce"])
    assert dev.evaluate(model, tokens) == pytest.approx(result.best_dev_ce, abs=1e-9)
    assert result.curve[0]["train_loss"] is None and all(p["train_loss"] > 0 for p in result.curve[1:])
    assert 0 < result.dev_eval_s < result.wall_time_s


def test_dev_measurements_do_not_change_training(dev_data, tokens, dev):
    """Measuring dev draws no random numbers of the training run: the same losses and weights."""
    pairs = dev_data.train_pair_rows(seed=0)
    plain = train(build_encoder("L1_H16", seed=0), tokens, pairs, TINY, progress=False)
    model = build_encoder("L1_H16", seed=0)
    watched = train(model, tokens, pairs, replace(TINY, eval_points=5), progress=False, dev=dev)
    assert watched.losses == plain.losses
    assert watched.best_step == 40 and dev.evaluate(model, tokens) == pytest.approx(watched.curve[-1]["dev_ce"], abs=1e-9)


def test_a_small_projection_starts_at_chance(dev_data, tokens, dev):
    model = build_encoder("L1_H16", seed=0, projection_scale=0.01)
    assert dev.evaluate(model, tokens) == pytest.approx(dev.chance, abs=0.01)
    assert dev.chance == pytest.approx(np.log(33))


def test_dev_settings_are_checked_at_the_door(dev_data, tokens):
    with pytest.raises(ValueError, match="selection='best_dev' needs eval_points > 0"):
        replace(TINY, selection="best_dev")
    with pytest.raises(ValueError, match="selection must be one of"):
        replace(TINY, selection="best")
    with pytest.raises(ValueError, match="epochs must be a positive number or None"):
        replace(TINY, epochs=0)
    with pytest.raises(ValueError, match="needs a dev set"):
        train(build_encoder("L1_H16"), tokens, dev_data.train_pair_rows(seed=0), replace(TINY, eval_points=3), progress=False)
    with pytest.raises(ValueError, match="dev negatives \\(100\\) exceed the dev pool of 64"):
        DevSet.from_data(dev_data, pool_size=64, negatives=100)
    with pytest.raises(ValueError, match="eval_points"):
        replace(TINY, eval_points=-1)


@pytest.mark.bad_input
def test_a_dev_split_too_large_for_the_data_is_refused_with_a_way_out(small_data):
    queries = len(set(column(small_data.train_qrels, "query_id")))
    with pytest.raises(ValueError, match=f"dev_queries must be between 1 and {queries - 1} .* Pass dev_queries=0"):
        small_data.with_dev_split(queries)


@pytest.mark.bad_input
def test_prepare_refuses_a_negative_dev_split(tmp_path):
    from drscale.data.prepare import prepare_data

    with pytest.raises(ValueError, match="dev_queries must be a non-negative integer; got -1"):
        prepare_data(data_dir=tmp_path, dev_queries=-1)
