"""The command-line sweep: spec validation, resume after SIGKILL, growing a finished grid."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from drscale.sweep.spec import SweepSpec
from drscale.sweep.store import ResultsStore

TRAIN = {"eval_points": 0, "selection": "last", "steps": 40, "batch_size": 8, "negatives": 16, "warmup_steps": 2, "passage_max_length": 24, "query_max_length": 12}
EVALUATION = {"negatives": 32, "repeats": 2, "pool_size": 128}


def write_spec(folder: Path, store: str, models: list[str], data_sizes: list[int]) -> Path:
    spec = {
        "data_dir": "data",
        "dataset": "small",
        "store": store,
        "train": TRAIN,
        "evaluation": EVALUATION,
        "grid": {"models": models, "data_sizes": data_sizes},
        "workers": 1,
    }
    path = folder / f"{Path(store).stem}.json"
    path.write_text(json.dumps(spec))
    return path


def sweep_command(spec: Path) -> list[str]:
    return [sys.executable, "-m", "drscale", "sweep", str(spec), "--no-progress"]


@pytest.fixture(scope="module")
def study(tmp_path_factory, small_data):
    root = tmp_path_factory.mktemp("cli")
    small_data.save(root / "data" / "prepared" / "small")
    return root


@pytest.mark.slow
def test_resume_after_kill_keeps_every_run_once_with_identical_values(study):
    models, sizes = ["L1_H16", "L1_H32"], [64, 128, 256]
    reference = write_spec(study, "reference.jsonl", models, sizes)
    subprocess.run(sweep_command(reference), check=True, capture_output=True, timeout=600)

    killed = write_spec(study, "killed.jsonl", models, sizes)
    store = ResultsStore(study / "killed.jsonl")
    process = subprocess.Popen(sweep_command(killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while len(store.records()) < 2 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    time.sleep(0.5)  # into the next run's training
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    interrupted = store.records()
    assert 2 <= len(interrupted) < len(models) * len(sizes), "the kill should land mid-sweep"
    assert all(line.endswith("\n") for line in store.path.read_text().splitlines(keepends=True))

    subprocess.run(sweep_command(killed), check=True, capture_output=True, timeout=600)
    resumed, expected = store.records(), ResultsStore(study / "reference.jsonl").records()
    assert sorted(r["run_id"] for r in resumed) == sorted(r["run_id"] for r in expected)
    assert len({r["run_id"] for r in resumed}) == len(resumed) == 6
    assert {r["run_id"]: r["ce"] for r in resumed} == {r["run_id"]: r["ce"] for r in expected}
    assert [r["run_id"] for r in resumed[: len(interrupted)]] == [r["run_id"] for r in interrupted]


@pytest.mark.slow
def test_growing_a_finished_grid_runs_only_the_new_points(study):
    store = ResultsStore(study / "grow.jsonl")
    subprocess.run(sweep_command(write_spec(study, "grow.jsonl", ["L1_H16"], [64])), check=True, capture_output=True, timeout=600)
    first = store.records()
    result = subprocess.run(
        sweep_command(write_spec(study, "grow.jsonl", ["L1_H16"], [64, 128])), check=True, capture_output=True, text=True, timeout=600
    )
    records = store.records()
    assert records[:1] == first and len(records) == 2
    assert records[1]["data_size"] == 128
    assert "64" in result.stdout and "128" in result.stdout


@pytest.mark.slow
def test_save_models_keeps_each_new_model_and_names_the_runs_that_finished_without_one(study):
    """`--save-models` keeps every model a sweep trains, under the study's checkpoints folder,
    loadable by sentence-transformers; runs the store already held are named, not retrained."""
    from sentence_transformers import SentenceTransformer

    store = ResultsStore(study / "models.jsonl")
    subprocess.run(sweep_command(write_spec(study, "models.jsonl", ["L1_H16"], [64])), check=True, capture_output=True, timeout=600)
    result = subprocess.run(sweep_command(write_spec(study, "models.jsonl", ["L1_H16"], [64, 128])) + ["--save-models"],
                            check=True, capture_output=True, text=True, timeout=600)
    first, second = store.records()
    assert "checkpoint" not in first and "1 run(s) finished before models were saved" in result.stderr
    assert first["run_id"] in result.stderr
    folder = Path(second["checkpoint"])
    assert folder == study / "data" / "checkpoints" / second["run_id"]
    kept = SentenceTransformer(str(folder), device="cpu")
    assert kept.encode(["how to open a file", "sort a list"]).shape == (2, 768)
    assert kept.max_seq_length == TRAIN["passage_max_length"]  # encodes passages as the run measured them


@pytest.mark.bad_input
@pytest.mark.parametrize(
    "change, message",
    [
        ({"grid": {"models": ["L1_H16"]}}, r"grid.data_sizes must be a non-empty list"),
        ({"grid": {"models": [], "data_sizes": [8]}}, r"grid.models must be a non-empty list"),
        ({"grid": {"models": ["L1_H16"], "data_sizes": [8], "sizes": [1]}}, r"unknown grid key\(s\) \['sizes'\]"),
        ({"trian": {}}, r"unknown key\(s\) \['trian'\]"),
        ({"train": {"stepz": 3}}, r"unknown training setting\(s\) \['stepz'\]"),
        ({"train": {"steps": 0}}, "steps must be a positive integer"),
        ({"evaluation": {"negativez": 3}}, r"unknown evaluation key\(s\) \['negativez'\]"),
        ({"grid": {"models": ["L9_H9"], "data_sizes": [8]}}, "'L9_H9' is neither a size name"),
        ({"preset": "fast"}, "unknown training preset 'fast'"),
        ({"save_models": "yes"}, "save_models must be true or false; got 'yes'"),
        ({"grid": {"models": ["L1_H16"], "data_sizes": [8], "replicates": 0}}, "grid.replicates must be a positive integer; got 0"),
        ({"grid": {"models": ["L1_H16"], "data_sizes": [8], "embedding_dims": []}}, "grid.embedding_dims must be a non-empty list"),
        ({"grid": {"models": ["L1_H16"], "data_sizes": [8], "embedding_dims": [0]}}, "embedding_dim must be a positive integer; got 0"),
        ({"grid": {"models": ["L1_H16"], "data_sizes": [8], "seeds": [1, 2], "init_seeds": [0, 1], "replicates": 2}},
         r"the grid makes the same run more than once \(L1_H16 D=8 d=768 seed 2 init 1\)"),
        ({"grid": {"models": ["L1_H16", "L1_H16"], "data_sizes": [8]}}, r"grid.models lists L1_H16 more than once"),
        ({"grid": {"models": ["L1_H16"], "data_sizes": [8, 16, 8]}}, r"grid.data_sizes lists 8 more than once"),
        ({"grid": {"models": ["L1_H16"], "data_sizes": [64], "seeds": ["521"]}}, "grid.seeds must list integers; got '521'"),
        ({"grid": {"models": ["L1_H16"], "data_sizes": [64.5]}}, "grid.data_sizes must list integers; got 64.5"),
        ({"grid": {"models": [{"name": "L1_H16"}], "data_sizes": [64]}}, "grid.models must list model names; got {'name'"),
        ({"grid": [{"models": ["L1_H16"], "data_sizes": [64]}]}, "grid must be an object of settings; got \\[{"),
        ({"evaluation": None}, "evaluation must be an object of settings; got None"),
        ({"train": [200]}, "train must be an object of settings; got \\[200\\]"),
        ({"store": 5}, "store must be text; got 5"),
        ({"data_dir": None}, "data_dir must be text; got None"),
        ({"device": 0}, "device must be text or null; got 0"),
    ],
)
def test_bad_specs_name_the_key(change, message):
    raw = {"grid": {"models": ["L1_H16"], "data_sizes": [64]}, **change}
    with pytest.raises(ValueError, match=message):
        SweepSpec.from_dict(raw, source="spec.json")


def test_replicates_move_the_training_and_init_seed_together_and_replicate_zero_is_the_plain_run():
    plain = SweepSpec.from_dict({"grid": {"models": ["L1_H16"], "data_sizes": [64]}, "train": TRAIN})
    repeated = SweepSpec.from_dict({"grid": {"models": ["L1_H16"], "data_sizes": [64], "replicates": 3}, "train": TRAIN})
    configs = repeated.configs()
    base = plain.configs()[0]
    assert configs[0] == base
    assert [(c.train.seed - base.train.seed, c.init_seed) for c in configs] == [(0, 0), (1, 1), (2, 2)]
    assert len({c.run_id("fingerprint") for c in configs}) == 3


def test_embedding_dims_are_an_axis_of_the_grid_and_768_keeps_the_plain_run_id():
    grid = {"models": ["L1_H16", "L1_H32"], "data_sizes": [64], "embedding_dims": [16, 768]}
    configs = SweepSpec.from_dict({"grid": grid, "train": TRAIN}).configs()
    assert [(c.model, c.embedding_dim) for c in configs] == [("L1_H16", 16), ("L1_H16", 768), ("L1_H32", 16), ("L1_H32", 768)]
    plain = SweepSpec.from_dict({"grid": {"models": ["L1_H16"], "data_sizes": [64]}, "train": TRAIN}).configs()[0]
    assert configs[1].run_id("fp") == plain.run_id("fp") != configs[0].run_id("fp")


@pytest.mark.bad_input
def test_spec_files_report_the_json_line(tmp_path):
    path = tmp_path / "spec.json"
    path.write_text('{\n "grid": {\n "models": ["L1_H16"],,\n }\n}')
    with pytest.raises(ValueError, match=r"spec.json line 3: not valid JSON"):
        SweepSpec.from_file(path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        SweepSpec.from_file(tmp_path / "missing.json")
    path.write_text('[{"grid": {"models": ["L1_H16"], "data_sizes": [64]}}]')
    with pytest.raises(ValueError, match=r"spec.json: a spec is an object of keys \(data_dir, .*\); got list"):
        SweepSpec.from_file(path)
    path.write_bytes('{"dataset": "caf\u00e9"}'.encode("latin-1"))
    with pytest.raises(ValueError, match=r"spec.json is not UTF-8 text \(byte 16\); save it as UTF-8"):
        SweepSpec.from_file(path)



def test_a_null_training_setting_in_a_spec_sets_it_to_none():
    """The cpu preset reads every pair at least once (`epochs` 1); a spec's null turns that
    off, so a run can train fewer steps than one epoch of its pairs."""
    grid = {"models": ["L1_H16"], "data_sizes": [240]}
    floor = SweepSpec.from_dict({"grid": grid, "train": {"steps": 3, "warmup_steps": 0}}).configs()[0]
    fixed = SweepSpec.from_dict({"grid": grid, "train": {"steps": 3, "warmup_steps": 0, "epochs": None}}).configs()[0]
    assert floor.train.steps_for(240) == 8 and fixed.train.epochs is None and fixed.train.steps_for(240) == 3
    with pytest.raises(ValueError, match="TrainConfig.steps must be a positive integer; got None"):
        SweepSpec.from_dict({"grid": grid, "train": {"steps": None}})
