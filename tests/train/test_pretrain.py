"""Inverse Cloze Task pre-training as a start: shared per size, never on a dev or test positive."""

from dataclasses import replace

import pytest

from drscale.train import pretrain as pretrain_module
from drscale.data.corpus import column
from drscale.train.pretrain import Pretraining
from drscale.sweep.store import ResultsStore
from drscale.sweep.runner import run_sweep
from drscale.sweep.config import RunConfig
from drscale.measure.config import EvalConfig
from drscale.train.config import CPU_PRESET


TINY = replace(CPU_PRESET, steps=4, warmup_steps=1, epochs=None, batch_size=8, negatives=16, passage_max_length=24, query_max_length=12,
               eval_points=3, dev_pairs=20, dev_pool_size=64)
QUICK = EvalConfig(negatives=16, repeats=1, pool_size=64, ranking=False)


@pytest.mark.slow
def test_runs_of_one_size_share_one_pretrained_start(dev_data, tmp_path, monkeypatch):
    trained = []
    real = pretrain_module.train
    monkeypatch.setattr(pretrain_module, "train", lambda *a, **k: trained.append(1) or real(*a, **k))
    start = Pretraining(epochs=0.05)
    grid = [RunConfig("L1_H16", d, TINY, QUICK, pretraining=start) for d in (32, 64)]
    store = ResultsStore(tmp_path / "runs" / "results.jsonl")
    table = run_sweep(grid, dev_data, store, progress=False)
    assert len(trained) == 1 and len(table) == 2
    records = store.records()
    assert len({r["pretrained_from"] for r in records}) == 1
    folder = tmp_path / "runs" / "pretrained" / records[0]["pretrained_from"]
    assert (folder / "modules.json").exists()
    run_sweep([RunConfig("L1_H16", 48, TINY, QUICK, pretraining=start)], dev_data, store, progress=False)
    assert len(trained) == 1  # the saved start is reused, not trained again
    assert grid[0].run_id("x") != replace(grid[0], pretraining=None).run_id("x")

def test_pretraining_never_reads_a_dev_or_test_positive(dev_data):
    from drscale.annotate.sources import InverseClozeTask, annotate

    ict = annotate(dev_data, InverseClozeTask())
    held_out = set(column(dev_data.test_qrels, "passage_id")) | set(column(dev_data.dev_qrels, "passage_id"))
    origins = {qid.split(":", 2)[2] for qid in column(ict.train_qrels, "query_id")}
    assert origins and not origins & held_out

def test_pretraining_settings_leave_dev_selection_out():
    config = Pretraining(epochs=2.0, learning_rate=1e-3).train_config(CPU_PRESET)
    assert (config.eval_points, config.selection, config.epochs, config.learning_rate) == (0, "last", 2.0, 1e-3)
    with pytest.raises(ValueError, match="Pretraining.epochs must be positive"):
        Pretraining(epochs=0)
