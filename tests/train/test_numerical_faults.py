"""A run whose numbers stop being numbers is recorded as failed, and no law is fitted on it
without saying so."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from drscale.fit import estimate as fit

from drscale.fit import laws

from drscale.sweep import run as one_run
from drscale.sweep.executors import LocalBackend
from drscale.sweep.store import ResultsStore
from drscale.sweep.runner import run_sweep
from drscale.sweep.config import data_size_grid, model_size_grid
from drscale.measure.config import EvalConfig
from drscale.train.config import CPU_PRESET

TINY = replace(CPU_PRESET, eval_points=0, selection="last", epochs=None, steps=6, batch_size=8, negatives=16, warmup_steps=1, passage_max_length=24, query_max_length=12)
QUICK_EVAL = EvalConfig(negatives=32, repeats=2, pool_size=128)


def test_a_run_that_really_diverges_stops_early_and_is_recorded_failed_with_its_step(tmp_path, small_data):
    """No mock: a learning rate of 1e30 overflows the weights within a step or two."""
    store = ResultsStore(tmp_path / "r.jsonl")
    exploding = replace(TINY, steps=50, learning_rate=1e30, warmup_steps=0)
    with pytest.warns(UserWarning, match=r"1 failed run\(s\) left out of the table: L1_H16 D=32: training loss became (nan|inf) at step \d+"):
        table = run_sweep(data_size_grid("L1_H16", [32], exploding, evaluation=QUICK_EVAL), small_data, store,
                          progress=False, backend=LocalBackend(workers=1))
    assert table.empty
    (record,) = store.records()
    assert record["status"] == "failed" and "ce" not in record
    assert 1 <= record["failed_step"] < 50  # stopped at the fault, not after the full budget
    assert record["error"].endswith(f"at step {record['failed_step']}")


def test_an_infinite_contrastive_entropy_is_recorded_as_failed(tmp_path, small_data, monkeypatch):
    monkeypatch.setattr(one_run, "evaluate_contrastive_entropy", lambda *args, **kwargs: float("inf"))
    store = ResultsStore(tmp_path / "r.jsonl")
    with pytest.warns(UserWarning, match="contrastive entropy is inf"):
        run_sweep(data_size_grid("L1_H16", [32], TINY, evaluation=QUICK_EVAL), small_data, store, progress=False,
                  backend=LocalBackend(workers=1))
    (record,) = store.records()
    assert record["status"] == "failed" and record["error"] == "contrastive entropy is inf"


PLANTED = {"a": 2e4, "alpha": 0.5, "delta": 3.0}


def planted_runs() -> pd.DataFrame:
    """Six finished model-size runs on a known law, one failed run in the middle, as
    `ResultsStore.to_frame()` shows them (a failed run has no CE)."""
    n = np.geomspace(1e4, 1e6, 6)
    rows = [{"run_id": f"r{i}", "status": "finished", "model": f"M{i}", "data_size": 1000, "n_params": v,
             "ce": float(laws.model_size_law(v, **PLANTED))} for i, v in enumerate(n)]
    rows.insert(3, {"run_id": "r-bad", "status": "failed", "model": "L2_H64", "data_size": 1000, "n_params": 1.5e5,
                    "error": "training loss became nan at step 17", "failed_step": 17})
    return pd.DataFrame(rows)


def test_a_fit_given_a_failed_run_leaves_it_out_and_says_so():
    runs = planted_runs()
    with pytest.warns(UserWarning, match=r"model_size fit: 1 failed run\(s\) left out: r-bad \(model=L2_H64, data_size=1000\): training loss became nan at step 17"):
        result = fit.fit_runs("model_size", runs, n_bootstrap=20)
    finished = runs[runs.status == "finished"]
    alone = fit.fit_model_size(finished.n_params, finished.ce, n_bootstrap=20)
    assert result.params == alone.params and result.ce.size == 6
    assert result.excluded_runs == ["r-bad (model=L2_H64, data_size=1000): training loss became nan at step 17"]
    assert "1 failed run(s) left out of the fit: r-bad" in result.report()
    assert fit.FitResult.from_dict(result.to_dict()).excluded_runs == result.excluded_runs


def test_a_sweep_table_with_a_missing_ce_is_read_without_that_run_and_names_it(tmp_path):
    runs = planted_runs().drop(columns=["status", "error", "failed_step"])
    runs["seed"] = 521
    (tmp_path / "results").mkdir()
    runs.to_csv(tmp_path / "results" / "model_size.csv", index=False)
    with (pytest.warns(UserWarning, match=r"1 failed run\(s\) left out: r-bad \(model=L2_H64, data_size=1000\): ce is nan"),
          pytest.warns(UserWarning, match=r"no column\(s\) \['data_fingerprint', 'evaluation'\]")):  # planted_runs has neither
        table = fit.read_sweep_table(tmp_path, "model_size")
    assert table.run_id.tolist() == ["r0", "r1", "r2", "r3", "r4", "r5"]


@pytest.mark.bad_input
def test_a_nan_handed_straight_to_a_law_is_refused_and_points_to_fit_runs():
    n = np.geomspace(1e4, 1e6, 5)
    with pytest.raises(ValueError, match=r"ce\[2\] = nan: every value must be finite and positive \(a failed run\? fit_runs"):
        fit.fit_model_size(n, [3.5, 3.4, np.nan, 3.2, 3.1], n_bootstrap=5)


@pytest.mark.slow
def test_a_store_with_a_failed_run_fits_from_its_finished_runs(tmp_path, small_data, monkeypatch):
    """End to end: a sweep where one model diverges, the store's frame handed to `fit_runs`."""
    real_train = one_run.train

    def diverge_for_l1_h8(model, *args, **kwargs):
        if model[0].auto_model.config.hidden_size == 8:
            raise one_run.TrainingDiverged(step=3, loss=float("inf"))
        return real_train(model, *args, **kwargs)

    monkeypatch.setattr(one_run, "train", diverge_for_l1_h8)
    store = ResultsStore(tmp_path / "r.jsonl")
    grid = model_size_grid(["L1_H8", "L1_H16", "L1_H32", "L1_H64", "L2_H64"], 64, TINY, evaluation=QUICK_EVAL)
    with pytest.warns(UserWarning, match="L1_H8 D=64: training loss became inf at step 3"):
        run_sweep(grid, small_data, store, progress=False, backend=LocalBackend(workers=1))
    failed_id = next(r["run_id"] for r in store.records() if r["status"] == "failed")
    with pytest.warns(UserWarning, match=rf"left out: {failed_id} \(model=L1_H8, data_size=64\): training loss became inf at step 3"):
        result = fit.fit_runs("model_size", store.to_frame(), n_bootstrap=10, cross_check=False)
    assert result.ce.size == 4 and len(result.excluded_runs) == 1
