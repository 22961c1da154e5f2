"""The notebook chain on data in the shapes of real sets, not the embedded default.

Each of the four file formats is prepared by notebook 01; the BEIR-shaped set then goes
through the sweeps (02, 03), the fits (05) and the metric agreement (08), as a user with
their own data would run them: far more passages than queries, a few queries with several
positives, passages past 512 tokens, a corpus too small for the demo's pool sizes.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from drscale.data.prepare import load_prepared
from drscale.suite import run_notebook
from drscale.sweep.store import study_store
from real_shapes import write_beir, write_hf, write_msmarco, write_t2ranking

pytestmark = pytest.mark.notebook

SMALL_CORPUS = {
    "train": {"steps": 6, "batch_size": 8, "negatives": 16, "warmup_steps": 1, "passage_max_length": 48,
              "query_max_length": 16, "eval_points": 4, "dev_pool_size": 128},
    "evaluation": {"negatives": 32, "repeats": 2, "pool_size": 128},
}
"""Tiny runs whose pools fit a 400-passage corpus."""


@pytest.mark.parametrize("source, writer", [("beir", write_beir), ("msmarco", write_msmarco),
                                            ("t2ranking", write_t2ranking), ("hf", write_hf)])
def test_prepare_notebook_reads_every_format(tmp_path, source, writer):
    folder, task = writer(tmp_path / f"{source}-files")
    dirs = {"data_dir": str(tmp_path / "data"), "figures_dir": str(tmp_path / "figures")}
    run_notebook("01_prepare_data", {**dirs, "source": source, "path": str(folder), "name": "mine", "dev_queries": 8},
                 output_dir=tmp_path / "executed", cell_timeout_s=120)
    data = load_prepared(dirs["data_dir"], "mine")
    assert data.name == "mine" and len(data.corpus) == len(task.passages)
    assert set(data.test_qrels["query_id"]) == set(task.test_queries)  # test_queries=None: the whole test split
    assert (tmp_path / "figures" / "data_token_lengths.png").stat().st_size > 10_000


@pytest.fixture(scope="module")
def beir_study(tmp_path_factory):
    root = tmp_path_factory.mktemp("beir-study")
    folder, _ = write_beir(root / "files")
    dirs = {"data_dir": str(root / "data"), "figures_dir": str(root / "figures")}
    executed = root / "executed"
    run_notebook("01_prepare_data", {**dirs, "source": "beir", "path": str(folder), "name": "mine", "dev_queries": 8},
                 output_dir=executed, cell_timeout_s=120)
    common = {**dirs, **SMALL_CORPUS, "dataset": "mine"}
    run_notebook("02_model_size_sweep", {**common, "models": ["L1_H4", "L1_H8", "L1_H16", "L1_H32"]}, output_dir=executed)
    run_notebook("03_data_size_sweep", {**common, "model": "L1_H16", "data_sizes": [8, 16, 32, 48]}, output_dir=executed)
    return root, dirs, executed


def test_sweeps_on_a_small_real_shaped_corpus(beir_study):
    root, dirs, _ = beir_study
    model_size = pd.read_csv(root / "data" / "results" / "model_size.csv")
    data_size = pd.read_csv(root / "data" / "results" / "data_size.csv")
    data = load_prepared(dirs["data_dir"], "mine")
    assert len(model_size) == 4 and (model_size.data_size == data.n_train_pairs).all()
    assert data_size.data_size.tolist() == [8, 16, 32, 48]
    assert set(model_size.data_fingerprint) == set(data_size.data_fingerprint) == {data.fingerprint()}
    assert model_size.ce.notna().all() and data_size.ce.notna().all()
    assert all(r["status"] == "finished" for r in study_store(dirs["data_dir"]).records())


def test_fits_and_agreement_on_a_small_real_shaped_corpus(beir_study):
    root, dirs, executed = beir_study
    run_notebook("05_fit_scaling_laws", {**dirs, "n_bootstrap": 20, "n_bootstrap_joint": 5}, output_dir=executed)
    fits = json.loads((root / "data" / "results" / "fits.json").read_text())
    assert {"model_size", "data_size"} <= set(fits)
    run_notebook("08_metric_agreement", {**dirs, "dataset": "mine", "evaluation": "W32 R2 pool128 seed1"},
                 output_dir=executed)
    summary = json.loads((root / "data" / "results" / "metric_agreement.json").read_text())
    tables = [pd.read_csv(root / "data" / "results" / f"{name}.csv") for name in ("model_size", "data_size")]
    assert summary["runs"] == len(set(tables[0].run_id) | set(tables[1].run_id))
    assert summary["test_fingerprint"] == load_prepared(dirs["data_dir"], "mine").test_fingerprint()
