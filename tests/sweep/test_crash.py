"""Long runs get killed: whatever the moment, finished work stays readable and nothing
half-written is ever read back as if it were whole.

(A sweep killed with SIGKILL from the command line and resumed is in test_sweep_cli.py.)
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import psutil
import pytest

from drscale.sweep import run as one_run
from drscale.sweep.executors import LocalBackend
from drscale.data.corpus import RetrievalData
from drscale.model.encoder import build_encoder
from drscale.data.prepare import load_prepared, prepare_data, prepared_folder
from drscale.sweep.store import ResultsStore
from drscale.suite import run_notebook
from drscale.model.checkpoint import CHECKPOINT_MANIFEST, load_checkpoint, save_checkpoint
from drscale.sweep.runner import run_sweep
from drscale.sweep.config import data_size_grid
from drscale.measure.config import EvalConfig
from drscale.train.config import CPU_PRESET
from samples import MSMARCO, write
from samples import finished_record

TINY = replace(CPU_PRESET, eval_points=0, selection="last", epochs=None, steps=6, batch_size=8, negatives=16, warmup_steps=1, passage_max_length=24, query_max_length=12)
QUICK_EVAL = EvalConfig(negatives=32, repeats=2, pool_size=128)
SEQUENTIAL = LocalBackend(workers=1)


# ------------------------------------------------------------------ the results store

def test_a_record_appended_after_a_torn_line_starts_a_line_of_its_own(tmp_path):
    """A crash mid-append leaves a fragment without its newline; the next append must not glue
    onto it, or the resumed sweep's first record and the fragment would both be unreadable."""
    store = ResultsStore(tmp_path / "runs.jsonl")
    store.append(finished_record("a", 1.0))
    with open(store.path, "a") as handle:
        handle.write('{"run_id": "b", "status": "fini')
    store.append(finished_record("c", 2.0))
    assert [(r["run_id"], r["ce"]) for r in store.records()] == [("a", 1.0), ("c", 2.0)]
    assert store.path.read_text().count("\n") == 2


def test_a_torn_first_line_is_dropped_whole(tmp_path):
    store = ResultsStore(tmp_path / "runs.jsonl")
    store.path.write_text('{"run_id": "b", "sta')
    assert store.records() == []
    store.append(finished_record("c"))
    assert store.records() == [finished_record("c")]


# ------------------------------------------------------------------ a sweep interrupted in-process

GRID = data_size_grid("L1_H16", [32, 64], TINY, evaluation=QUICK_EVAL)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, small_data):
    """The uninterrupted sweep's records by run id."""
    path = tmp_path_factory.mktemp("reference") / "r.jsonl"
    run_sweep(GRID, small_data, path, progress=False, backend=SEQUENTIAL)
    return {r["run_id"]: r for r in ResultsStore(path).records()}


@pytest.mark.slow
@pytest.mark.parametrize("where", ["train", "evaluate_contrastive_entropy", "save_checkpoint"])
def test_an_interrupt_at_any_stage_keeps_finished_runs_and_resume_completes(tmp_path, small_data, reference, monkeypatch, where):
    """Ctrl-C (or a notebook's Stop) in the second run, at each stage of it: the first run's
    record is whole, no checkpoint folder is half there, and a resume gives the reference."""
    real, calls = getattr(one_run, where), []

    def interrupt_second_run(*args, **kwargs):
        calls.append(where)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(one_run, where, interrupt_second_run)
    store, models = ResultsStore(tmp_path / "r.jsonl"), tmp_path / "models"
    with pytest.raises(KeyboardInterrupt):
        run_sweep(GRID, small_data, store, progress=False, backend=SEQUENTIAL, checkpoint_dir=models)
    (first,) = store.records()
    assert first["status"] == "finished" and first["ce"] == reference[first["run_id"]]["ce"]
    assert sorted(p.name for p in models.iterdir()) == [first["run_id"]]  # no staging folder, no partial save

    monkeypatch.setattr(one_run, where, real)
    run_sweep(GRID, small_data, store, progress=False, backend=SEQUENTIAL, checkpoint_dir=models)
    records = store.records()
    assert records[0] == first and len(records) == 2
    assert {r["run_id"]: r["ce"] for r in records} == {k: r["ce"] for k, r in reference.items()}
    assert sorted(p.name for p in models.iterdir()) == sorted(reference)


# ------------------------------------------------------------------ a notebook whose kernel is killed

@pytest.mark.slow
def test_a_notebook_whose_kernel_is_killed_mid_sweep_leaves_the_store_readable(tmp_path, small_data):
    data_dir = tmp_path / "data"
    small_data.save(prepared_folder(data_dir, "small"))
    params = {
        "data_dir": str(data_dir), "figures_dir": str(tmp_path / "figures"), "dataset": "small",
        "models": ["L1_H8", "L1_H16", "L1_H32"], "data_size": 64, "workers": 1,
        "train": {"steps": 30, "batch_size": 8, "negatives": 16, "warmup_steps": 1, "passage_max_length": 24,
                  "query_max_length": 12, "eval_points": 0, "selection": "last"},
        "evaluation": {"negatives": 32, "repeats": 2, "pool_size": 128},
    }
    script = ("import sys, json; from drscale.suite import run_notebook; "
              "run_notebook('02_model_size_sweep', json.loads(sys.argv[1]), output_dir=sys.argv[2])")
    runner = subprocess.Popen([sys.executable, "-c", script, json.dumps(params), str(tmp_path / "executed")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store = ResultsStore(data_dir / "runs" / "results.jsonl")
    deadline = time.monotonic() + 300
    while not store.records() and time.monotonic() < deadline and runner.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)  # into the next run
    kernels = [p for p in psutil.Process(runner.pid).children(recursive=True) if "ipykernel" in " ".join(p.cmdline())]
    assert len(kernels) == 1, "the notebook's kernel should be running"
    kernels[0].kill()
    assert runner.wait(timeout=120) != 0  # papermill reports the dead kernel

    interrupted = store.records()
    assert 1 <= len(interrupted) < 3, "the kill should land mid-sweep"
    assert all(r["status"] == "finished" for r in interrupted)
    assert store.path.read_text().endswith("\n")

    run_notebook("02_model_size_sweep", params, output_dir=tmp_path / "executed")
    records = store.records()
    assert records[: len(interrupted)] == interrupted and len(records) == 3
    assert len({r["run_id"] for r in records}) == 3


# ------------------------------------------------------------------ checkpoints

@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A complete checkpoint of a small encoder, and the encoder."""
    model = build_encoder("L1_H16", seed=0)
    folder = save_checkpoint(model, tmp_path_factory.mktemp("models") / "run-a")
    return folder, model


def copy_of(folder: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(folder, tmp_path / "models" / folder.name))


def test_a_complete_checkpoint_loads_by_run_id_and_encodes_as_the_saved_model(saved):
    folder, model = saved
    loaded = load_checkpoint(folder.parent, "run-a")
    texts = ["open a file for reading", "the capital of France"]
    assert (loaded.encode(texts) == model.encode(texts)).all()


def test_a_staging_folder_is_never_loaded(saved, tmp_path):
    staging = copy_of(saved[0], tmp_path).rename(tmp_path / "models" / ".tmp-run-a-k2j3")
    with pytest.raises(ValueError, match=r"\.tmp-run-a-k2j3: not a complete checkpoint: a staging folder"):
        load_checkpoint(staging)


def test_a_checkpoint_missing_a_file_is_never_loaded(saved, tmp_path):
    folder = copy_of(saved[0], tmp_path)
    weights = max((p for p in folder.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    weights.unlink()
    name = str(weights.relative_to(folder))
    with pytest.raises(ValueError, match=rf"run-a: not a complete checkpoint: missing {name}; expected a folder written whole"):
        load_checkpoint(tmp_path / "models", "run-a")


def test_a_checkpoint_with_a_truncated_file_is_never_loaded(saved, tmp_path):
    folder = copy_of(saved[0], tmp_path)
    weights = max((p for p in folder.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    size = weights.stat().st_size
    weights.write_bytes(weights.read_bytes()[: size // 2])
    with pytest.raises(ValueError, match=rf"{weights.name} has {size // 2} bytes of {size}"):
        load_checkpoint(tmp_path / "models", "run-a")


def test_a_folder_without_the_manifest_is_never_loaded_as_a_checkpoint(saved, tmp_path):
    folder = copy_of(saved[0], tmp_path)
    (folder / CHECKPOINT_MANIFEST).unlink()
    with pytest.raises(ValueError, match="no drscale_checkpoint.json"):
        load_checkpoint(folder)


# ------------------------------------------------------------------ prepared data

def test_a_crash_while_saving_prepared_data_keeps_the_previous_preparation(tmp_path, small_data, monkeypatch):
    import datasets

    folder = prepared_folder(tmp_path, "small")
    small_data.save(folder)

    def crash(self, path, *args, **kwargs):
        (Path(path) / "corpus").mkdir(parents=True)
        (Path(path) / "corpus" / "data-00000-of-00001.arrow").write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(datasets.DatasetDict, "save_to_disk", crash)
    with pytest.raises(OSError, match="disk full"):
        small_data.save(folder)
    assert [p.name for p in folder.parent.iterdir()] == ["small"]  # no staging folder left
    assert RetrievalData.load(folder).fingerprint() == small_data.fingerprint()


def test_rebuilding_from_bad_files_keeps_the_previous_preparation(tmp_path):
    good = prepare_data("msmarco", data_dir=tmp_path / "data", path=write(tmp_path / "good", MSMARCO), name="set", dev_queries=0)
    bad = write(tmp_path / "bad", {**MSMARCO, "collection.tsv": "0\ta\n0\tb\n"})
    with pytest.raises(ValueError, match="duplicate passage id '0'"):
        prepare_data("msmarco", data_dir=tmp_path / "data", path=bad, name="set", overwrite=True, dev_queries=0)
    assert load_prepared(tmp_path / "data", "set").fingerprint() == good.fingerprint()
