"""Where a sweep's runs execute: in this process, or in a pool of single-thread workers.

On a small CPU, two worker processes with one thread each finish more training steps per
second than one process with two threads (small models cannot keep two threads busy), so
the local pool is the default there; on a GPU, one run at a time owns the device. Workers
return records to the parent, which alone writes the results store.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

import torch

RunFn = Callable[..., dict[str, Any]]


def default_workers(device: str | None = None) -> int:
    """One worker per core on CPU; one on a GPU."""
    if (device or ("cuda" if torch.cuda.is_available() else "cpu")).startswith("cuda"):
        return 1
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


class LocalBackend:
    """Runs tasks sequentially (workers=1) or in a process pool of `workers` processes.

    `threads_per_worker` (default: cores // workers) is set with torch.set_num_threads in
    each worker; with workers=1 the current process's setting is left alone.
    """

    def __init__(self, workers: int | None = None, threads_per_worker: int | None = None) -> None:
        if workers is not None and (not isinstance(workers, int) or workers < 1):
            raise ValueError(f"workers must be a positive integer or None; got {workers!r}")
        if threads_per_worker is not None and (not isinstance(threads_per_worker, int) or threads_per_worker < 1):
            raise ValueError(f"threads_per_worker must be a positive integer or None; got {threads_per_worker!r}")
        self.workers = workers
        self.threads_per_worker = threads_per_worker

    def execute(self, run: RunFn, tasks: Sequence[Any], shared: tuple, device: str | None) -> Iterator[dict[str, Any]]:
        """Yield `run(task, *shared)` for each task, in order of completion."""
        workers = min(self.workers or default_workers(device), len(tasks))
        if workers <= 1:
            for task in tasks:
                yield run(task, *shared)
            return
        threads = self.threads_per_worker or max(1, default_workers("cpu") // workers)
        context = multiprocessing.get_context("spawn")  # fork after torch has started threads can deadlock
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(run, shared, threads)) as pool:
            futures = [pool.submit(_run_task, task) for task in tasks]
            for future in as_completed(futures):
                yield future.result()


_WORKER: dict[str, Any] = {}


def _init_worker(run: RunFn, shared: tuple, threads: int) -> None:
    torch.set_num_threads(threads)
    _WORKER.update(run=run, shared=shared)


def _run_task(task: Any) -> dict[str, Any]:
    return _WORKER["run"](task, *_WORKER["shared"])
