"""What a sweep keeps when things go wrong, and what it refuses before anything trains.

Every finished run is recorded whatever happens to the others; a run that raises is recorded
as failed with its error; workers die with the sweep; an unwritable store is found before
training; a run's thread count is part of its configuration, so a resumed sweep reproduces
an uninterrupted one bit for bit; two sweeps at once on one store train each run once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import asdict, replace

import psutil
import pytest
import torch

from drscale.common.files import config_hash
from drscale.sweep import run as one_run
from drscale.sweep.executors import LocalBackend
from drscale.sweep.claims import RunClaims
from drscale.sweep.store import ResultsStore
from drscale.sweep.runner import run_sweep
from drscale.sweep.config import RunConfig, model_size_grid
from drscale.measure.config import EvalConfig
from drscale.train.config import CPU_PRESET

TINY = replace(CPU_PRESET, eval_points=0, selection="last", epochs=None, steps=4, batch_size=8, negatives=16,
               warmup_steps=1, passage_max_length=24, query_max_length=12)
QUICK_EVAL = EvalConfig(negatives=32, repeats=2, pool_size=128, ranking=False)


@pytest.mark.slow
def test_a_run_that_raises_in_a_pool_is_recorded_failed_and_the_others_finish(tmp_path, small_data):
    broken = tmp_path / "not-a-model"
    broken.mkdir()  # a folder passes as a model entry, but holds nothing to load
    grid = [*model_size_grid(["L1_H16", "L1_H32"], 64, TINY, evaluation=QUICK_EVAL),
            RunConfig(str(broken), 64, TINY, QUICK_EVAL)]
    store = ResultsStore(tmp_path / "results.jsonl")
    with pytest.raises(RuntimeError, match=r"1 run\(s\) raised .* not-a-model D=64: "):
        run_sweep(grid, small_data, store, progress=False, backend=LocalBackend(workers=2))
    status = {r["model"]: r["status"] for r in store.records()}
    assert status == {"L1_H16": "finished", "L1_H32": "finished", "not-a-model": "failed"}
    (failed,) = [r for r in store.records() if r["status"] == "failed"]
    assert failed["error"] and "Traceback" in failed["traceback"] and failed["data_size"] == 64


def test_a_store_that_cannot_be_written_is_refused_before_training(tmp_path, small_data, monkeypatch):
    monkeypatch.setattr(one_run, "run_one", lambda *a, **k: pytest.fail("a run started"))
    (tmp_path / "file").write_text("a file where the store's folder should be")
    with pytest.raises(PermissionError, match=r"file.* cannot be written.*nothing was trained"):
        run_sweep(model_size_grid(["L1_H16"], 64, TINY, evaluation=QUICK_EVAL), small_data,
                  tmp_path / "file" / "results.jsonl", progress=False, backend=LocalBackend(workers=1))


def test_a_data_size_the_budget_cannot_read_is_warned_about_with_the_numbers(tmp_path, small_data):
    with pytest.warns(UserWarning, match=r"D=64 reads 4 steps x 8 = 32 pairs.*epochs"):
        run_sweep(model_size_grid(["L1_H16"], 64, TINY, evaluation=QUICK_EVAL), small_data, tmp_path / "r.jsonl",
                  progress=False, backend=LocalBackend(workers=1))


@pytest.mark.slow
def test_the_runs_thread_count_not_the_callers_decides_its_numbers(tmp_path, small_data):
    """A resumed sweep with one run left trains it in this process: same numbers as a pool
    worker's, bit for bit, whatever this process's thread setting."""
    grid = model_size_grid(["L1_H16", "L1_H32"], 32, TINY, evaluation=QUICK_EVAL)
    pooled = run_sweep(grid, small_data, tmp_path / "pool.jsonl", progress=False, backend=LocalBackend(workers=2))
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        alone = run_sweep(grid, small_data, tmp_path / "alone.jsonl", progress=False, backend=LocalBackend(workers=1))
        assert torch.get_num_threads() == 2  # restored after the runs
    finally:
        torch.set_num_threads(previous)
    assert pooled.ce.tolist() == alone.ce.tolist()  # exact
    two = [replace(c, threads=2) for c in grid]
    assert {c.run_id(small_data.fingerprint()) for c in two}.isdisjoint(pooled.run_id)


def test_default_run_ids_are_unchanged_by_the_thread_field(small_data):
    config = RunConfig("L1_H16", 32, TINY, QUICK_EVAL)
    assert config.threads == 1
    assert config.run_id("f") == replace(config, threads=1).run_id("f") != replace(config, threads=2).run_id("f")


def test_runs_whose_training_changed_with_the_code_get_new_ids_and_others_keep_theirs(tmp_path):
    """A store written before keeps matching the runs that train as they did, and never hands
    back a run that would now train differently: one dev measurement (now the last step), and a
    folder model's projection under a replicate's init seed (now drawn with it)."""
    def id_before(config: RunConfig) -> str:  # the id as it was computed for these settings
        dropped = ("pretraining", "threads", "embedding_dim")
        return config_hash({"config": {k: v for k, v in asdict(config).items() if k not in dropped}, "data": "f"})

    (tmp_path / "bert").mkdir()
    one_dev_point = replace(TINY, eval_points=1, selection="best_dev")
    kept = [RunConfig("L1_H16", 32, TINY, QUICK_EVAL, init_seed=1), RunConfig(str(tmp_path / "bert"), 32, TINY, QUICK_EVAL),
            RunConfig("L1_H16", 32, replace(TINY, eval_points=2, selection="best_dev"), QUICK_EVAL)]
    moved = [RunConfig("L1_H16", 32, one_dev_point, QUICK_EVAL), RunConfig(str(tmp_path / "bert"), 32, TINY, QUICK_EVAL, init_seed=1)]
    assert [c.run_id("f") for c in kept] == [id_before(c) for c in kept]
    assert all(c.run_id("f") != id_before(c) for c in moved)


SWEEP = textwrap.dedent("""
    import sys
    from dataclasses import replace
    from drscale.sweep.executors import LocalBackend
    from drscale.data.corpus import RetrievalData
    from drscale.sweep.runner import run_sweep
    from drscale.sweep.config import model_size_grid
    from drscale.measure.config import EvalConfig
    from drscale.train.config import CPU_PRESET
    steps = int(sys.argv[3])
    train = replace(CPU_PRESET, eval_points=0, selection="last", epochs=None, steps=steps, batch_size=8, negatives=16,
                    warmup_steps=1, passage_max_length=24, query_max_length=12)
    grid = model_size_grid(["L1_H16", "L1_H32", "L1_H64"], 32, train,
                           evaluation=EvalConfig(negatives=32, repeats=2, pool_size=128, ranking=False))
    table = run_sweep(grid, RetrievalData.load(sys.argv[1]), sys.argv[2], progress=False,
                      backend=LocalBackend(workers=int(sys.argv[4])))
    print("ROWS", len(table))
""")


def start_sweep(tmp_path, store, steps: int, workers: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", SWEEP, str(tmp_path / "data"), str(store), str(steps), str(workers)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_two_sweeps_at_once_on_one_store_train_each_run_once(tmp_path, small_data):
    small_data.save(tmp_path / "data")
    store = tmp_path / "results.jsonl"
    sweeps = [start_sweep(tmp_path, store, 40, 1) for _ in range(2)]
    outputs = [s.communicate(timeout=600) for s in sweeps]
    for process, (out, err) in zip(sweeps, outputs):
        assert process.returncode == 0, err
        assert "ROWS 3" in out  # each sweep returns the whole table, runs of the other included
    records = ResultsStore(store).records()
    assert sorted(r["model"] for r in records) == ["L1_H16", "L1_H32", "L1_H64"]


def pool_workers(pid: int) -> list[psutil.Process]:
    """The spawned pool workers among the children of `pid` (not multiprocessing's resource tracker)."""
    workers = []
    for child in psutil.Process(pid).children():
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                workers.append(child)
        except psutil.Error:  # a child still starting or already gone
            pass
    return workers


@pytest.mark.slow
def test_pool_workers_die_with_a_killed_sweep(tmp_path, small_data):
    small_data.save(tmp_path / "data")
    process = start_sweep(tmp_path, tmp_path / "results.jsonl", 100_000, 2)
    try:
        deadline = time.monotonic() + 120
        while len(workers := pool_workers(process.pid)) < 2:
            assert time.monotonic() < deadline and process.poll() is None, process.communicate()
            time.sleep(0.5)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        gone, alive = psutil.wait_procs(workers, timeout=30)  # they look for their parent every second
        assert alive == [], [(w.pid, w.status()) for w in alive]
    finally:
        for child in psutil.Process().children(recursive=True):
            child.kill()


UNGUARDED = textwrap.dedent("""
    from dataclasses import replace
    from drscale.sweep.executors import LocalBackend
    from drscale.data.corpus import RetrievalData
    from drscale.sweep.runner import run_sweep
    from drscale.sweep.config import model_size_grid
    from drscale.measure.config import EvalConfig
    from drscale.train.config import CPU_PRESET
    train = replace(CPU_PRESET, eval_points=0, selection="last", epochs=None, steps=4, batch_size=8, negatives=16,
                    warmup_steps=1, passage_max_length=24, query_max_length=12)
    run_sweep(model_size_grid(["L1_H16", "L1_H32"], 32, train, evaluation=EvalConfig(negatives=32, repeats=2,
              pool_size=128, ranking=False)), RetrievalData.load(DATA), STORE, progress=False, backend=LocalBackend(2))
""")


@pytest.mark.slow
def test_a_script_without_a_main_guard_fails_with_a_hint_instead_of_hanging(tmp_path, small_data):
    """Spawned workers import the main script again; one that starts a sweep at top level
    kills them while they start. The sweep must end with a clear error, not block forever
    (it did: the data set was pushed through the workers' start-up pipe, which nobody read)."""
    small_data.save(tmp_path / "data")
    script = tmp_path / "unguarded.py"
    script.write_text(f"DATA, STORE = {str(tmp_path / 'data')!r}, {str(tmp_path / 'r.jsonl')!r}\n" + UNGUARDED)
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=240)
    assert result.returncode != 0
    assert 'if __name__ == "__main__":' in result.stderr.splitlines()[-1], result.stderr[-2000:]


CLAIM_AND_HOLD = textwrap.dedent("""
    import sys, time
    from drscale.sweep.claims import RunClaims
    claims = RunClaims(sys.argv[1])
    print(claims.claim(sys.argv[2]), flush=True)
    time.sleep(60)
""")


def test_a_claim_excludes_other_processes_until_its_holder_ends(tmp_path):
    path, run_id = tmp_path / "results.jsonl.claims", "00ff00ff00ff00ff"
    holder = subprocess.Popen([sys.executable, "-c", CLAIM_AND_HOLD, str(path), run_id], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "True"
        with RunClaims(path) as claims:
            assert not claims.claim(run_id)
            assert claims.claim("ffffffffffffffff")  # other runs stay free
            holder.kill()
            holder.wait()
            claims.wait([run_id])  # returns once the holder is gone
            assert claims.claim(run_id)
    finally:
        holder.kill()
    assert path.read_bytes() == b""  # the claims file holds no data: locks only


def test_numpy_numbers_give_the_run_ids_of_python_numbers():
    """Grids are often built with numpy (np.geomspace(...).astype(int)): the same values must
    name the same runs, and their records must pass the store's checks."""
    import numpy as np

    typed = RunConfig("L1_H16", np.int64(32), replace(TINY, steps=np.int64(4), learning_rate=np.float32(TINY.learning_rate)),
                      EvalConfig(negatives=np.int64(32), repeats=np.int64(2), pool_size=np.int64(128), ranking=False),
                      init_seed=np.int64(0))
    assert typed.run_id("f") == RunConfig("L1_H16", 32, replace(TINY, learning_rate=float(np.float32(TINY.learning_rate))),
                                          QUICK_EVAL).run_id("f")
    assert type(typed.evaluation.pool_size) is int and type(typed.train.steps) is int


def test_gradient_clipping_can_be_switched_off_but_not_inverted():
    assert replace(TINY, max_grad_norm=float("inf")).max_grad_norm == float("inf")
    with pytest.raises(ValueError, match=r"max_grad_norm must be a positive number \(inf: no clipping\); got -1"):
        replace(TINY, max_grad_norm=-1)
