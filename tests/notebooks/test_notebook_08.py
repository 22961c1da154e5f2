"""Notebook 08 reads the study's results store, stores CE-vs-ranking statistics and draws one
figure per metric, over the runs of its data set and CE measurement only."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from drscale.studies.metric_agreement import figure_name
from drscale.data.prepare import prepared_folder
from drscale.suite import run_notebook
from drscale.sweep.store import study_store
from drscale.measure.config import EvalConfig
from samples import failed_record, finished_record

pytestmark = pytest.mark.notebook

METRICS = ("ndcg@10", "mrr@10", "recall@100", "recall@1000")
SWEEPS = EvalConfig(pool_size=4096)  # the sweep notebooks' CE measurement: the notebook's default `evaluation`


def write_store(data_dir, data, with_ranking: int, decoys: bool = False) -> None:
    """`with_ranking` finished runs on `data` whose metrics fall with CE (plus noise), one run
    without ranking and one failed run, as the sweep records them. With `decoys`, runs that
    must not join them: the same data measured on a pool of 128, and runs of another data set,
    each ranking the wrong way round."""
    store, fingerprint = study_store(data_dir), data.test_fingerprint()
    rng = np.random.default_rng(0)
    for i, ce in enumerate(np.linspace(2.0, 5.0, with_ranking)):
        quality = np.exp(-ce)
        ranking = {"ndcg@10": 2 * quality + rng.normal(0, 0.01), "mrr@10": 2 * quality, "recall@100": 4 * quality,
                   "recall@1000": 1.0}
        store.append(finished_record(f"run{i}", float(ce), model=("L1_H16", "L1_H32")[i % 2], n_params=1000 * (i + 1),
                                     fingerprint=fingerprint, data_name=data.name, evaluation=SWEEPS, ranking=ranking))
    store.append(finished_record("plain", 3.0, n_params=10, fingerprint=fingerprint, data_name=data.name,
                                 evaluation=SWEEPS))
    store.append(failed_record("broken", "training diverged", data_size=64))
    if decoys:
        rising = {name: 0.9 for name in METRICS}
        for i, ce in enumerate((2.5, 3.5, 4.5)):
            store.append(finished_record(f"pool128-{i}", ce, fingerprint=fingerprint, data_name=data.name, ranking=rising,
                                         evaluation=EvalConfig(negatives=64, pool_size=128)))
            store.append(finished_record(f"other-{i}", ce - 1.0, fingerprint="fedcba9876543210", evaluation=SWEEPS,
                                         ranking={name: 0.01 * i for name in METRICS}))


def prepare(tmp_path, data) -> None:
    data.save(prepared_folder(tmp_path / "data", "small"))


def run(tmp_path, **parameters):
    run_notebook("08_metric_agreement", {"data_dir": str(tmp_path / "data"), "figures_dir": str(tmp_path / "figures"),
                                         "dataset": "small", **parameters},
                 output_dir=tmp_path / "executed", cell_timeout_s=300)
    return tmp_path / "data" / "results"


def test_notebook_stores_correlations_and_draws_a_figure_per_metric(tmp_path, small_data) -> None:
    prepare(tmp_path, small_data)
    write_store(tmp_path / "data", small_data, with_ranking=8)
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
    assert (summary["test_fingerprint"], summary["evaluation"]) == (small_data.test_fingerprint(), "W256 R10 pool4096 seed1")
    assert len(pd.read_csv(results / "metric_agreement_runs.csv")) == 8
    for metric in METRICS:
        assert (tmp_path / "figures" / figure_name(metric)).stat().st_size > 10_000, metric


def test_notebook_compares_only_the_runs_of_its_data_set_and_measurement(tmp_path, small_data) -> None:
    """Runs of another data set and of another pool in the same store are left out: mixed in,
    they would turn the perfect agreement of the study's runs into noise."""
    prepare(tmp_path, small_data)
    write_store(tmp_path / "data", small_data, with_ranking=8, decoys=True)
    results = run(tmp_path)

    statistics = pd.read_csv(results / "metric_agreement.csv").set_index("metric")
    assert (statistics.runs == 8).all()
    assert statistics.loc["mrr@10", "spearman"] == pytest.approx(-1.0)
    runs = pd.read_csv(results / "metric_agreement_runs.csv")
    assert sorted(runs.run_id) == [f"run{i}" for i in range(8)]
    executed = (tmp_path / "executed" / "08_metric_agreement.ipynb").read_text()
    assert "W64 R10 pool128 seed1" in executed and "fedcba9876543210" in executed  # the groups left out are shown


@pytest.mark.bad_input
def test_notebook_without_a_measurement_refuses_a_store_that_mixes_them_naming_the_groups(tmp_path, small_data) -> None:
    from papermill.exceptions import PapermillExecutionError

    prepare(tmp_path, small_data)
    write_store(tmp_path / "data", small_data, with_ranking=8, decoys=True)
    with pytest.raises(PapermillExecutionError) as caught:
        run(tmp_path, evaluation=None)
    message = str(caught.value)
    fingerprint = small_data.test_fingerprint()
    assert f"data small (fingerprint {fingerprint}) measured W256 R10 pool4096 seed1: 8 run(s)" in message
    assert f"data small (fingerprint {fingerprint}) measured W64 R10 pool128 seed1: 3 run(s)" in message
    assert "evaluation=" in message
    assert "fedcba9876543210" not in message  # the other data set was already left out by `dataset`
    assert not (tmp_path / "data" / "results" / "metric_agreement.json").exists()


def test_notebook_with_too_few_ranked_runs_says_so_and_stops_cleanly(tmp_path, small_data) -> None:
    prepare(tmp_path, small_data)
    write_store(tmp_path / "data", small_data, with_ranking=2)
    results = run(tmp_path)

    summary = json.loads((results / "metric_agreement.json").read_text())
    assert summary == {"ready": False, "runs": 2, "metrics": {}, "reason": summary["reason"],
                       "test_fingerprint": small_data.test_fingerprint(), "evaluation": "W256 R10 pool4096 seed1"}
    assert "Only 2 finished run(s) carry ranking metrics" in summary["reason"]
    executed = (tmp_path / "executed" / "08_metric_agreement.ipynb").read_text()
    assert "Only 2 finished run(s)" in executed
    assert not (tmp_path / "figures").exists()
