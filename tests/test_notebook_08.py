"""Notebook 08 reads the study's results store, stores CE-vs-ranking statistics and draws one figure per metric."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from drscale.agreement import figure_name
from drscale.suite import run_notebook
from drscale.sweep import study_store

pytestmark = pytest.mark.notebook

METRICS = ("ndcg@10", "mrr@10", "recall@100", "recall@1000")


def write_store(data_dir, with_ranking: int) -> None:
    """`with_ranking` finished runs whose metrics fall with CE (plus noise), one run without
    ranking and one failed run, as the sweep records them."""
    store = study_store(data_dir)
    rng = np.random.default_rng(0)
    for i, ce in enumerate(np.linspace(2.0, 5.0, with_ranking)):
        quality = np.exp(-ce)
        ranking = {"ndcg@10": 2 * quality + rng.normal(0, 0.01), "mrr@10": 2 * quality, "recall@100": 4 * quality,
                   "recall@1000": 1.0}
        store.append({"run_id": f"run{i}", "status": "finished", "model": f"L{1 + i % 2}_H16", "n_params": 1000 * (i + 1),
                      "data_size": 64, "ce": float(ce), "ranking": ranking})
    store.append({"run_id": "plain", "status": "finished", "model": "L1_H16", "n_params": 10, "data_size": 64, "ce": 3.0})
    store.append({"run_id": "broken", "status": "failed", "model": "L1_H16", "n_params": 10, "data_size": 64,
                  "error": "training diverged"})


def run(tmp_path):
    run_notebook("08_metric_agreement", {"data_dir": str(tmp_path / "data"), "figures_dir": str(tmp_path / "figures")},
                 output_dir=tmp_path / "executed", cell_timeout_s=300)
    return tmp_path / "data" / "results"


def test_notebook_stores_correlations_and_draws_a_figure_per_metric(tmp_path) -> None:
    write_store(tmp_path / "data", with_ranking=8)
    results = run(tmp_path)

    statistics = pd.read_csv(results / "metric_agreement.csv").set_index("metric")
    assert list(statistics.index) == list(METRICS)
    assert statistics.loc["mrr@10", "spearman"] == pytest.approx(-1.0)
    assert statistics.loc["recall@100", "kendall"] == pytest.approx(-1.0)
    assert statistics.loc["ndcg@10", "spearman"] < -0.9
    assert np.isnan(statistics.loc["recall@1000", "spearman"])  # the same for every run: nothing to rank
    assert (statistics.runs == 8).all()
    summary = json.loads((results / "metric_agreement.json").read_text())
    assert summary["ready"] and summary["runs"] == 8
    assert summary["metrics"]["mrr@10"]["direction"] == "decreasing"
    assert len(pd.read_csv(results / "metric_agreement_runs.csv")) == 8
    for metric in METRICS:
        assert (tmp_path / "figures" / figure_name(metric)).stat().st_size > 10_000, metric


def test_notebook_with_too_few_ranked_runs_says_so_and_stops_cleanly(tmp_path) -> None:
    write_store(tmp_path / "data", with_ranking=2)
    results = run(tmp_path)

    summary = json.loads((results / "metric_agreement.json").read_text())
    assert summary == {"ready": False, "runs": 2, "metrics": {}, "reason": summary["reason"]}
    assert "Only 2 finished run(s) carry ranking metrics" in summary["reason"]
    executed = (tmp_path / "executed" / "08_metric_agreement.ipynb").read_text()
    assert "Only 2 finished run(s)" in executed
    assert not (tmp_path / "figures").exists()
