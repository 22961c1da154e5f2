"""Several runs of a small model training at once on one GPU: how much of the idle time a
host-bound model leaves (the host launching kernels) the others fill."""

from __future__ import annotations

import time
from dataclasses import replace

import torch

from _gpu.device import free_memory
from _gpu.training import synthetic_tokens
from drscale.model.encoder import build_encoder
from drscale.train.config import TrainConfig
from drscale.train.loop import LOSS_READ_EVERY, train


def concurrent_worker(size: str, config: TrainConfig, steps: int, device: str, barrier,
                      cpu_threads: int) -> tuple[float, float]:
    """One process of `concurrent_runs`: set up and warm up, wait for the others, train
    `steps` steps; the (start, end) of the timed run on the system-wide monotonic clock. A
    process that fails before the barrier breaks it, so the others stop waiting too. On the
    CPU (`--tiny`) it computes with `cpu_threads` threads: n processes each taking every core
    fight over them (2 on 2 cores ran 11 times slower than 1)."""
    try:
        if device == "cpu":
            torch.set_num_threads(cpu_threads)
        tokens, pairs = synthetic_tokens(4096, config.query_max_length, config.passage_max_length)
        model = build_encoder(size, seed=0)
        train(model, tokens, pairs, replace(config, steps=LOSS_READ_EVERY), device=device, progress=False)
    except BaseException:
        barrier.abort()
        raise
    barrier.wait()
    start = time.perf_counter()
    train(model, tokens, pairs, replace(config, steps=steps), device=device, progress=False)
    return start, time.perf_counter()


def concurrent_runs(size: str, config: TrainConfig, device: torch.device, processes: tuple[int, ...] = (1, 2, 4),
                    steps: int = 3 * LOSS_READ_EVERY) -> dict:
    """Steps per second that `n` processes training `size` at once finish together, for each
    `n` in `processes`; from the first start to the last end."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")
    out: dict = {"size": size, "steps": steps, "processes": {}}
    free_memory(device)  # this process's cached blocks from the large sizes, for the workers
    for n in processes:
        with context.Manager() as manager, ProcessPoolExecutor(n, mp_context=context) as pool:
            barrier = manager.Barrier(n, timeout=300)  # a backstop: a failing process aborts it
            threads = max(1, torch.get_num_threads() // n)
            spans = list(pool.map(concurrent_worker, *zip(*[(size, config, steps, str(device), barrier, threads)] * n)))
        wall = max(end for _, end in spans) - min(start for start, _ in spans)
        out["processes"][str(n)] = {"wall_s": wall, "steps_per_s": n * steps / wall}
    return out


def print_concurrent(runs: list[dict]) -> None:
    for r in runs:
        one = r["processes"]["1"]["steps_per_s"]
        cells = ", ".join(f"{n} at once {p['steps_per_s']:.1f} ({p['steps_per_s'] / one:.2f}x)"
                          for n, p in r["processes"].items())
        print(f"runs at once, {r['size']} bf16, {r['steps']} steps each: steps/s of all processes together: {cells}")
