"""Notebooks 01-03 run headless through papermill on tiny parameters, chained as in the demo."""

import json

import numpy as np
import pandas as pd
import pytest

from drscale.data.prepare import load_prepared
from drscale.suite import run_notebook
from drscale.sweep.store import study_store

pytestmark = pytest.mark.notebook

TINY_TRAINING = {
    "train": {
        "steps": 6,  # the least steps; at least one epoch of each run's pairs (the preset's `epochs`)
        "batch_size": 8,
        "negatives": 16,
        "warmup_steps": 1,
        "passage_max_length": 24,
        "query_max_length": 12,
    },
    "evaluation": {"negatives": 32, "repeats": 2, "pool_size": 256},
}


def assert_regime_kept(records, chance):
    """The demo's regime, guarded: every run keeps its dev learning curve from step 0, reports
    the checkpoint with the lowest dev CE, and ends below chance on the test split."""
    for record in records:
        curve = record["dev_curve"]
        assert curve[0]["step"] == 0 and curve[-1]["step"] == record["steps"] and len(curve) >= 8
        best = min(curve, key=lambda point: point["dev_ce"])
        assert record["best_step"] == best["step"] and record["dev_ce"] == best["dev_ce"]
        assert chance is None or record["ce"] < chance, f"{record['model']} D={record['data_size']}: CE {record['ce']:.3f} >= chance {chance:.3f}"


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    dirs = {"data_dir": str(root / "data"), "figures_dir": str(root / "figures")}
    executed = root / "executed"
    run_notebook("01_prepare_data", {**dirs, "packages": [], "test_queries": 100, "dev_queries": 100}, output_dir=executed)
    return root, dirs, executed


def test_prepare_notebook_builds_the_stdlib_corpus(study):
    root, dirs, _ = study
    data = load_prepared(dirs["data_dir"], "docstrings")
    summary = json.loads((root / "data" / "prepared" / "docstrings" / "summary.json").read_text())
    assert summary["test_pairs"] == 100 and summary["dev_pairs"] == 100 and summary["train_pairs"] == data.n_train_pairs > 1000
    assert summary["fingerprint"] == data.fingerprint()
    assert (root / "figures" / "data_token_lengths.png").stat().st_size > 10_000


def test_model_size_notebook_writes_its_table_store_and_figure(study):
    root, dirs, executed = study
    params = {**dirs, **TINY_TRAINING, "models": ["L1_H16", "L1_H32"]}  # all ~2,000 pairs: one epoch, 251 steps
    run_notebook("02_model_size_sweep", params, output_dir=executed)
    table = pd.read_csv(root / "data" / "results" / "model_size.csv")
    assert table.model.tolist() == ["L1_H16", "L1_H32"]
    n_train = load_prepared(dirs["data_dir"], "docstrings").n_train_pairs
    assert table.n_params.tolist() == [16_608, 39_104] and (table.data_size == n_train).all()
    assert (table.steps == -(-n_train // TINY_TRAINING["train"]["batch_size"])).all()  # one epoch: the budget reads the data
    assert table.ce.between(0, 20).all()
    assert (root / "figures" / "ce_vs_model_size.png").exists()
    assert (root / "figures" / "learning_curves_model_size.png").stat().st_size > 10_000
    records = study_store(dirs["data_dir"]).records()
    assert len(records) == 2
    assert_regime_kept(records, chance=np.log(TINY_TRAINING["evaluation"]["negatives"] + 1))

    run_notebook("02_model_size_sweep", params, output_dir=executed)  # finished runs are reused
    assert len(study_store(dirs["data_dir"]).records()) == 2
    assert pd.read_csv(root / "data" / "results" / "model_size.csv").ce.tolist() == table.ce.tolist()


def test_data_size_notebook_uses_nested_subsets(study):
    root, dirs, executed = study
    params = {**dirs, **TINY_TRAINING, "model": "L1_H16", "data_sizes": [64, 256]}
    run_notebook("03_data_size_sweep", params, output_dir=executed)
    table = pd.read_csv(root / "data" / "results" / "data_size.csv")
    assert table.data_size.tolist() == [64, 256] and (table.model == "L1_H16").all()
    assert (root / "figures" / "ce_vs_data_size.png").exists()
    assert (root / "figures" / "learning_curves_data_size.png").stat().st_size > 10_000
    records = [r for r in study_store(dirs["data_dir"]).records() if r["run_id"] in set(table.run_id)]
    assert_regime_kept(records, chance=None)  # 8 to 32 steps on 64-256 pairs: not enough to beat chance


def test_joint_notebook_trains_only_the_grid_points_not_already_in_the_store(study):
    root, dirs, executed = study
    before = len(study_store(dirs["data_dir"]).records())  # 02 trained (L1_H16|L1_H32, all), 03 (L1_H16, 64|256)
    params = {**dirs, **TINY_TRAINING, "models": ["L1_H16", "L1_H32"], "data_sizes": [64, None]}
    run_notebook("04_joint_sweep", params, output_dir=executed)
    table = pd.read_csv(root / "data" / "results" / "joint.csv")
    n = load_prepared(dirs["data_dir"], "docstrings").n_train_pairs
    assert sorted(zip(table.model, table.data_size)) == [("L1_H16", 64), ("L1_H16", n), ("L1_H32", 64), ("L1_H32", n)]
    assert len(study_store(dirs["data_dir"]).records()) == before + 1
    assert (root / "figures" / "ce_joint_grid.png").exists()


def test_embedding_dim_notebook_reuses_the_768_dimensional_runs_of_the_model_size_sweep(study):
    root, dirs, executed = study
    before = len(study_store(dirs["data_dir"]).records())
    params = {**dirs, **TINY_TRAINING, "models": ["L1_H16", "L1_H32"], "embedding_dims": [4, 768]}
    run_notebook("10_embedding_dim_sweep", params, output_dir=executed)
    table = pd.read_csv(root / "data" / "results" / "embedding_dim.csv")
    assert sorted(zip(table.model, table.embedding_dim)) == [("L1_H16", 4), ("L1_H16", 768), ("L1_H32", 4), ("L1_H32", 768)]
    assert len(study_store(dirs["data_dir"]).records()) == before + 2  # d = 768 came from notebook 02
    assert dict(zip(table.model, table.encoder_params)) == {"L1_H16": 16_608 - 17 * 768, "L1_H32": 39_104 - 33 * 768}
    assert (root / "figures" / "ce_vs_embedding_dim.png").stat().st_size > 10_000


def test_predict_then_verify_fits_before_the_held_out_runs_exist_then_trains_and_judges_them(study):
    root, dirs, executed = study
    store = study_store(dirs["data_dir"])
    params = {**dirs, **TINY_TRAINING, "models": ["L1_H4", "L1_H8", "L1_H16", "L1_H32", "L1_H64"], "data_size": 64,
              "model": "L1_H8", "data_sizes": [32, 64, 128, 256, 512], "n_bootstrap": 100}
    run_notebook("11_predict_then_verify", params, output_dir=executed)
    results = root / "data" / "results"
    for law, variable, held in (("model_size", "n_params", 104_064), ("data_size", "data_size", 512)):
        predicted = pd.read_csv(results / f"predictions_{law}.csv")
        verified = pd.read_csv(results / f"verified_{law}.csv")
        assert predicted[variable].tolist() == [held] and verified[variable].tolist() == [held]
        row = verified.iloc[0]
        assert row["band low"] < row["band high"] and row["interval low"] < row["interval high"]  # tiny runs: no law to expect
        assert row.inside == (row["interval low"] <= row.observed <= row["interval high"])
        assert (root / "figures" / f"predict_then_verify_{law}.png").stat().st_size > 10_000
    records = {(r.model, r.data_size) for r in store.records() if r.finished}
    assert {("L1_H64", 64), ("L1_H8", 512)} <= records  # the held-out runs were trained here


@pytest.mark.bad_input
def test_a_misspelt_parameter_is_refused_before_running(study):
    _, dirs, executed = study
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['model_sizes'\]"):
        run_notebook("02_model_size_sweep", {**dirs, "model_sizes": ["L1_H16"]}, output_dir=executed)


@pytest.mark.bad_input
def test_a_misspelt_training_setting_is_named_before_any_run(study):
    from papermill.exceptions import PapermillExecutionError

    _, dirs, executed = study
    before = len(study_store(dirs["data_dir"]).records())
    with pytest.raises(PapermillExecutionError, match=r"notebook parameters: unknown training setting\(s\) \['stpes'\]"):
        run_notebook("02_model_size_sweep", {**dirs, "train": {"stpes": 6}}, output_dir=executed)
    assert len(study_store(dirs["data_dir"]).records()) == before


@pytest.mark.bad_input
def test_sweep_notebook_without_prepared_data_says_which_notebook_to_run(tmp_path):
    from papermill.exceptions import PapermillExecutionError

    with pytest.raises(PapermillExecutionError, match="run notebooks/01_prepare_data.ipynb"):
        run_notebook("03_data_size_sweep", {"data_dir": str(tmp_path), "figures_dir": str(tmp_path)}, output_dir=tmp_path)
