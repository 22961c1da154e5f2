"""Same configuration and seed, same numbers: across processes, and for the whole demo.

A scaling law is fitted on a dozen CE values; if a rerun moved them, the law would move too.
These tests run the same work in separate, fresh processes and compare the stores value by
value (bitwise on CPU), and check that a record alone holds everything needed to redo it.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import papermill
import pytest

from drscale.data.prepare import prepare_data
from drscale.study import Study
from drscale.sweep.spec import SweepSpec
from drscale.sweep.store import ResultsStore
from drscale.suite import notebook_path
from drscale.sweep.runner import run_sweep
from drscale.sweep.config import RunConfig
from drscale.measure.config import EvalConfig
from drscale.train.config import CPU_PRESET, TrainConfig, with_overrides

VOLATILE = {"train_time_s", "eval_time_s", "dev_eval_s"}
"""Wall-clock times: the only fields of a record allowed to differ between two runs (with the
wall time of each dev measurement, see `comparable`)."""

TINY_TRAIN = {"eval_points": 0, "selection": "last", "steps": 8, "batch_size": 8, "negatives": 16, "warmup_steps": 1, "passage_max_length": 24, "query_max_length": 12}
TINY_EVAL = {"negatives": 32, "repeats": 2, "pool_size": 128}


def sweep_in_fresh_process(spec: Path) -> None:
    subprocess.run([sys.executable, "-m", "drscale", "sweep", str(spec), "--no-progress"], check=True, capture_output=True, timeout=900)


def comparable(records: list[dict]) -> dict[str, dict]:
    """Records by run id, without the wall-clock fields."""
    return {r["run_id"]: {k: (without_wall_times(v) if k == "dev_curve" else v) for k, v in r.items() if k not in VOLATILE}
            for r in records}


def without_wall_times(curve: list[dict] | None) -> list[dict] | None:
    return None if curve is None else [{k: v for k, v in point.items() if k != "wall_s"} for point in curve]


@pytest.mark.slow
def test_same_config_and_seed_give_identical_records_in_two_processes(tmp_path, small_data):
    small_data.save(tmp_path / "data" / "prepared" / "small")
    grid = {"models": ["L1_H16"], "data_sizes": [32, 64]}
    for store in ("first", "second"):
        spec = {"dataset": "small", "store": f"{store}.jsonl", "train": TINY_TRAIN, "evaluation": TINY_EVAL, "grid": grid, "workers": 1}
        (tmp_path / f"{store}.json").write_text(json.dumps(spec))
        sweep_in_fresh_process(tmp_path / f"{store}.json")
    first, second = (ResultsStore(tmp_path / f"{name}.jsonl").records() for name in ("first", "second"))
    assert len(first) == 2 and all(r["status"] == "finished" for r in first)
    assert comparable(first) == comparable(second)
    assert [r["ce"] for r in first] == [r["ce"] for r in second]  # exact float equality, not approx


def test_a_record_holds_everything_needed_to_reproduce_its_run(tmp_path, small_data):
    config = RunConfig("L1_H16", 32, with_overrides(CPU_PRESET, **TINY_TRAIN), EvalConfig(**TINY_EVAL), init_seed=3, subset_seed=4)
    run_sweep([config], small_data, tmp_path / "r.jsonl", progress=False)
    (record,) = ResultsStore(tmp_path / "r.jsonl").records()
    stored = record["config"]
    rebuilt = RunConfig(
        model=stored["model"], data_size=stored["data_size"], train=TrainConfig(**stored["train"]),
        evaluation=EvalConfig(**stored["evaluation"]), init_seed=stored["init_seed"], subset_seed=stored["subset_seed"],
    )
    assert rebuilt == config
    assert rebuilt.run_id(record["data"]["fingerprint"]) == record["run_id"]
    assert record["data"] == {"name": small_data.name, "fingerprint": small_data.fingerprint(),
                              "test_fingerprint": small_data.test_fingerprint()}
    seeds = (stored["train"]["seed"], stored["init_seed"], stored["subset_seed"], stored["evaluation"]["seed"])
    assert seeds == (521, 3, 4, 1)
    import datasets, numpy, scipy, tokenizers, torch

    expected = {"numpy": numpy, "scipy": scipy, "datasets": datasets, "tokenizers": tokenizers, "torch": torch}
    assert {name: record["versions"][name] for name in expected} == {name: m.__version__ for name, m in expected.items()}
    assert {"python", "drscale", "transformers", "sentence_transformers"} <= set(record["versions"])
    assert record["device"] == "cpu" and record["threads"] == config.threads == 1


# ------------------------------------------------------------------ the whole demo, twice

SWEEP_PARAMETERS = {"data_dir", "figures_dir", "dataset", "preset", "pretraining", "train", "evaluation", "device", "workers",
                    "progress", "save_models"}
"""The sweep notebooks' knobs beside their grid: the keys of a sweep spec (`SweepSpec.for_data`)."""


def notebook_defaults(name: str) -> dict:
    """The literal defaults of a notebook's `parameters` cell: what `make demo` runs with."""
    declared = papermill.inspect_notebook(str(notebook_path(name)))
    return {key: ast.literal_eval(entry["default"]) for key, entry in declared.items()}


def demo_spec(params: dict, data_dir: Path, store: Path, models: list[str], data_sizes: list[int]) -> dict:
    """A sweep spec file with exactly the notebook's settings."""
    return {
        "data_dir": str(data_dir), "dataset": params["dataset"], "store": str(store), "preset": params["preset"],
        "pretraining": params["pretraining"], "train": params["train"], "evaluation": params["evaluation"],
        "grid": {"models": models, "data_sizes": data_sizes, "replicates": params["replicates"]},
        "workers": params["workers"], "device": params["device"],
        "save_models": params["save_models"],
    }


def notebook_spec(params: dict, data, grid: dict) -> SweepSpec:
    """The spec the notebook's own cells build from `params` (see notebooks 02 and 03)."""
    knobs = {key: params[key] for key in ("dataset", "preset", "pretraining", "train", "evaluation", "workers", "device",
                                          "save_models")}
    return SweepSpec.for_data(Study(params["data_dir"]), data, **knobs, grid=grid)


@pytest.mark.slow
def test_the_demo_configuration_twice_gives_identical_stores(tmp_path):
    """Notebooks 02 and 03 write the demo's model- and data-size runs (01 prepares the data;
    05, 06 and 08 are functions of those tables). Their default settings, on data prepared with
    notebook 01's defaults, run twice in fresh processes, give identical stores. To keep the
    suite short the grids are the two smallest models and the two smallest data sizes of the
    demo: the very runs (same run ids) the demo makes, minus the larger sizes. Notebook 07
    adds its Inverse Cloze Task runs to the same store; tests/test_notebook_07.py covers them."""
    prep, model_nb, data_nb = (notebook_defaults(name) for name in ("01_prepare_data", "02_model_size_sweep", "03_data_size_sweep"))
    for params, grid_keys in ((model_nb, {"models", "data_size", "replicates"}),
                              (data_nb, {"model", "data_sizes", "replicates"})):
        assert set(params) == SWEEP_PARAMETERS | grid_keys, "a new notebook parameter: map it into demo_spec"
    assert prep["source"] == "docstrings" and prep["path"] is None and model_nb["dataset"] == data_nb["dataset"] == prep["name"]

    data_dir = tmp_path / "data"
    options = {"test_queries": prep["test_queries"], "seed": prep["split_seed"]}
    if prep["packages"] is not None:
        options["packages"] = tuple(prep["packages"])
    data = prepare_data("docstrings", data_dir=data_dir, name=prep["name"], dev_queries=prep["dev_queries"],
                        pool_queries=prep["pool_queries"], **options)

    models, data_sizes = model_nb["models"][:2], data_nb["data_sizes"][:2]
    model_grid = (models, [model_nb["data_size"] or data.n_train_pairs])
    data_grid = ([data_nb["model"]], data_sizes)
    model_nb["data_dir"] = data_nb["data_dir"] = str(data_dir)
    expected = (notebook_spec(model_nb, data, {"models": models, "data_sizes": [model_nb["data_size"]],
                                               "replicates": model_nb["replicates"]}).configs()
                + notebook_spec(data_nb, data, {"models": [data_nb["model"]], "data_sizes": data_sizes,
                                                "replicates": data_nb["replicates"]}).configs())
    stores = []
    for execution in ("first", "second"):
        store = tmp_path / f"{execution}.jsonl"
        specs = []
        for notebook, params, (models, sizes) in (("02", model_nb, model_grid), ("03", data_nb, data_grid)):
            path = tmp_path / f"{execution}-{notebook}.json"
            path.write_text(json.dumps(demo_spec(params, data_dir, store, models, sizes)))
            specs.append(path)
        assert [c for path in specs for c in SweepSpec.from_file(path).configs()] == expected
        for path in specs:
            sweep_in_fresh_process(path)
        stores.append(ResultsStore(store).records())

    first, second = stores
    fingerprint = data.fingerprint()
    assert sorted(r["run_id"] for r in first) == sorted(c.run_id(fingerprint) for c in expected)
    assert len(first) == len(expected) == 4 and all(r["status"] == "finished" for r in first)
    assert comparable(first) == comparable(second)
    by_id = {r["run_id"]: r for r in second}
    for record in first:  # the values a reader of the demo sees, spelt out
        other = by_id[record["run_id"]]
        assert (record["ce"], record["ranking"], record["train_loss_curve"], record["n_params"],
                without_wall_times(record["dev_curve"])) == (
            other["ce"], other["ranking"], other["train_loss_curve"], other["n_params"], without_wall_times(other["dev_curve"]))
