"""Notebook 01 run headless through papermill on a data set in BEIR's shape, not the embedded
default: far fewer queries than passages, and passages past 512 tokens."""

from __future__ import annotations

import json

import pytest

from drscale.data.prepare import PROVENANCE, load_prepared
from drscale.suite import run_notebook
from real_shapes import write_beir

pytestmark = pytest.mark.notebook


def test_prepare_notebook_on_beir_shaped_data_samples_test_queries_and_measures_lengths_quietly(tmp_path):
    folder, task = write_beir(tmp_path / "wordnet-beir")
    dirs = {"data_dir": str(tmp_path / "data"), "figures_dir": str(tmp_path / "figures")}
    params = {**dirs, "source": "beir", "path": str(folder), "name": "wordnet", "test_queries": 10, "dev_queries": 8}
    executed = run_notebook("01_prepare_data", params, output_dir=tmp_path / "executed", cell_timeout_s=120)

    data = load_prepared(dirs["data_dir"], "wordnet")
    prepared = tmp_path / "data" / "prepared" / "wordnet"
    summary = json.loads((prepared / "summary.json").read_text())
    assert summary["name"] == data.name == "wordnet"  # the name given, not the folder's
    assert summary["passages"] == len(task.passages) and summary["dev_pairs"] == len(data.dev_qrels)
    assert len(set(data.test_qrels["query_id"])) == 10 and set(data.test_qrels["query_id"]) <= set(task.test_queries)
    assert json.loads((prepared / PROVENANCE).read_text())["path"] == str(folder.resolve())
    assert (tmp_path / "figures" / "data_token_lengths.png").stat().st_size > 10_000

    outputs = "".join(
        json.dumps(cell.get("outputs", [])) for cell in json.loads(executed.read_text())["cells"] if cell["cell_type"] == "code"
    )
    assert "longer than the specified maximum" not in outputs
    assert f"passages past 512 tokens: {len(task.long_passages) / len(task.passages):.1%} of the sample" in outputs
