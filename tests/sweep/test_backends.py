from dataclasses import replace

import pytest

from drscale.sweep.executors import LocalBackend, RayBackend
from drscale.sweep.store import ResultsStore
from drscale.sweep.runner import run_sweep
from drscale.sweep.config import model_size_grid
from drscale.measure.config import EvalConfig
from drscale.train.config import CPU_PRESET

TINY = replace(CPU_PRESET, eval_points=0, selection="last", epochs=None, steps=6, batch_size=8, negatives=16, warmup_steps=1, passage_max_length=24, query_max_length=12)


@pytest.mark.slow
def test_ray_backend_writes_the_same_records_as_the_local_one(tmp_path, small_data):
    ray = pytest.importorskip("ray")
    grid = model_size_grid(["L1_H16", "L1_H32"], 64, TINY, evaluation=EvalConfig(negatives=32, repeats=2, pool_size=128))
    local = run_sweep(grid, small_data, tmp_path / "local.jsonl", progress=False, backend=LocalBackend(workers=2))
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        remote = run_sweep(grid, small_data, tmp_path / "ray.jsonl", progress=False, backend=RayBackend(cpus_per_run=1))
    finally:
        ray.shutdown()
    assert remote.run_id.tolist() == local.run_id.tolist()
    assert remote.ce.to_numpy() == pytest.approx(local.ce.to_numpy(), rel=1e-4)
    records = {r["run_id"]: r for r in ResultsStore(tmp_path / "ray.jsonl").records()}
    assert {r["threads"] for r in records.values()} == {1}
    assert all(r["status"] == "finished" for r in records.values())


@pytest.mark.parametrize(
    "kwargs, message",
    [({"cpus_per_run": 0}, "cpus_per_run must be a positive integer"), ({"gpus_per_run": -1}, "gpus_per_run must be non-negative")],
)
def test_bad_ray_settings_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RayBackend(**kwargs)
