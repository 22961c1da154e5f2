"""Notebook 07 headless on tiny parameters: one fitted L(D) per source, the human runs of
notebook 03 reused, generated pairs cached, and a re-run that trains nothing.

Training dominates the cost, so every run takes one step of a few pairs, and the grid holds
the fewest data sizes a data-size law can be fitted to (four, for its three parameters).
Notebook 03 and the first run of 07 execute once for the whole module."""

import json

import pandas as pd
import pytest

from drscale.fit.estimate import load_fits
from drscale.data.prepare import prepared_folder
from drscale.suite import run_notebook
from drscale.sweep.store import study_store

pytestmark = pytest.mark.notebook

DATA_SIZES = [8, 16, 32, 64]
TINY = {
    "train": {"eval_points": 0,  # the regime's dev selection is tested with notebooks 02 and 03
              "selection": "last", "steps": 1, "batch_size": 4, "negatives": 4, "warmup_steps": 0,
              "passage_max_length": 24, "query_max_length": 12},
    "evaluation": {"negatives": 16, "repeats": 1, "pool_size": 128, "seed": 1, "ranking": False},
    "model": "L1_H16",
    "data_sizes": DATA_SIZES,
    "workers": 1,
}
"""The sweep knobs of notebooks 03 and 07 alike, so 07's human runs are 03's."""
SOURCES = ("doct5query", "human", "ict")


@pytest.fixture(scope="module", autouse=True)
def one_thread_kernels():
    """Notebook kernels start with one torch thread: with torch's default of one per core, each
    backward pass of these tiny models is many times slower on a small CPU, and costs more
    than the whole run does with one thread."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OMP_NUM_THREADS", "1")
        yield


@pytest.fixture(scope="module")
def study(small_data, tiny_seq2seq, tmp_path_factory):
    """Notebook 03 run once, then notebook 07 once; the run ids 03 stored, and 07's parameters."""
    root = tmp_path_factory.mktemp("annotation")
    dirs = {"data_dir": str(root / "data"), "figures_dir": str(root / "figures")}
    small_data.save(prepared_folder(dirs["data_dir"], "docstrings"))
    run_notebook("03_data_size_sweep", {**dirs, **TINY}, output_dir=root / "executed")
    human_runs = set(study_store(dirs["data_dir"]).finished())
    # a few passages beyond the largest data size, in case the generator writes some empty queries
    params = {**dirs, **TINY, "generator": str(tiny_seq2seq), "generator_max_new_tokens": 6,
              "generator_max_passages": max(DATA_SIZES) + 16, "n_bootstrap": 200}
    run_notebook("07_annotation_quality", params, output_dir=root / "executed")
    return root, params, human_runs


def test_annotation_notebook_fits_one_data_size_law_per_source(study):
    root, _, _ = study
    table = pd.read_csv(root / "data" / "results" / "annotation_quality.csv")
    assert table.groupby("source").data_size.apply(list).to_dict() == {name: DATA_SIZES for name in SOURCES}
    fits = load_fits(root / "data" / "results" / "annotation_fits.json")
    assert set(fits) == set(SOURCES)
    for name, result in fits.items():
        assert result.law == "data_size" and result.ce.tolist() == table[table.source == name].ce.tolist()
        low, high = result.intervals()["beta"]
        assert low <= result.params["beta"] <= high
    assert (root / "figures" / "fit_annotation_quality.png").stat().st_size > 10_000
    outputs = json.dumps(json.loads((root / "executed" / "07_annotation_quality.ipynb").read_text())["cells"])
    assert "The paper's order for these sources" in outputs


def test_human_runs_are_notebook_03s_not_retrained(study):
    root, _, human_runs = study
    assert len(human_runs) == len(DATA_SIZES)
    table = pd.read_csv(root / "data" / "results" / "annotation_quality.csv")
    assert set(table[table.source == "human"].run_id) == human_runs
    assert len(study_store(root / "data").records()) == 3 * len(DATA_SIZES)  # human (reused), ICT, generated


def test_a_rerun_trains_nothing_and_reuses_the_cached_pairs(study):
    root, params, _ = study
    store = study_store(root / "data")
    records = len(store.records())
    table = pd.read_csv(root / "data" / "results" / "annotation_quality.csv")
    cached = sorted((root / "data" / "annotations").rglob("batch-*.json"))
    assert cached
    stamps = [p.stat().st_mtime_ns for p in cached]

    run_notebook("07_annotation_quality", params, output_dir=root / "executed")
    assert len(store.records()) == records
    assert [p.stat().st_mtime_ns for p in cached] == stamps
    assert pd.read_csv(root / "data" / "results" / "annotation_quality.csv").ce.tolist() == table.ce.tolist()
