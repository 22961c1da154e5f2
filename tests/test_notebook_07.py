"""Notebook 07 headless on tiny parameters: one fitted L(D) per source, the human runs of
notebook 03 reused, generated pairs cached, and a re-run that trains nothing."""

import json

import pandas as pd
import pytest

from drscale.fit import load_fits
from drscale.prepare import prepared_folder
from drscale.suite import run_notebook
from drscale.sweep import study_store

pytestmark = pytest.mark.notebook

TINY = {
    "steps": 6,
    "batch_size": 8,
    "negatives": 16,
    "warmup_steps": 1,
    "passage_max_length": 24,
    "query_max_length": 12,
    "ce_negatives": 32,
    "ce_repeats": 2,
    "ce_pool_size": 256,
    "ranking": False,
    "model": "L1_H16",
    "data_sizes": [16, 32, 64, 128],
    "workers": 1,
}


def test_annotation_notebook_fits_each_source_and_reuses_runs_and_pairs(small_data, tiny_seq2seq, tmp_path):
    dirs = {"data_dir": str(tmp_path / "data"), "figures_dir": str(tmp_path / "figures")}
    small_data.save(prepared_folder(dirs["data_dir"], "docstrings"))
    executed = tmp_path / "executed"
    run_notebook("03_data_size_sweep", {**dirs, **TINY}, output_dir=executed)
    store = study_store(dirs["data_dir"])
    human_runs = set(store.finished())
    assert len(human_runs) == 4

    params = {**dirs, **TINY, "generator": str(tiny_seq2seq), "generator_max_new_tokens": 6,
              "generator_max_passages": 140, "n_bootstrap": 200}
    run_notebook("07_annotation_quality", params, output_dir=executed)
    table = pd.read_csv(tmp_path / "data" / "results" / "annotation_quality.csv")
    assert table.groupby("source").data_size.apply(list).to_dict() == {
        name: [16, 32, 64, 128] for name in ("doct5query", "human", "ict")}
    assert set(table[table.source == "human"].run_id) == human_runs  # notebook 03's runs, not retrained
    assert len(store.records()) == 12  # 4 human (reused) + 4 ICT + 4 generated
    fits = load_fits(tmp_path / "data" / "results" / "annotation_fits.json")
    assert set(fits) == {"human", "ict", "doct5query"}
    for name, result in fits.items():
        assert result.law == "data_size" and result.ce.tolist() == table[table.source == name].ce.tolist()
        low, high = result.intervals()["beta"]
        assert low <= result.params["beta"] <= high
    assert (tmp_path / "figures" / "fit_annotation_quality.png").stat().st_size > 10_000
    outputs = json.dumps(json.loads((executed / "07_annotation_quality.ipynb").read_text())["cells"])
    assert "The paper's order for these sources" in outputs
    cached = sorted((tmp_path / "data" / "annotations").rglob("batch-*.json"))
    assert cached
    stamps = [p.stat().st_mtime_ns for p in cached]

    run_notebook("07_annotation_quality", params, output_dir=executed)  # everything is reused
    assert len(store.records()) == 12
    assert [p.stat().st_mtime_ns for p in cached] == stamps
    again = pd.read_csv(tmp_path / "data" / "results" / "annotation_quality.csv")
    assert again.ce.tolist() == table.ce.tolist()

