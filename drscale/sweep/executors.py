"""Where a sweep's runs execute: in this process, or in a pool of single-thread workers.

On a small CPU, two worker processes with one thread each finish more training steps per
second than one process with two threads (small models cannot keep two threads busy): a
sweep of the demo's 200-step runs finished 1.16x sooner (benchmarks/bench_sweep.py), so the
local pool is the default there. Each worker's start-up (spawn, import, tokenise) is paid
once per sweep; for runs of a few seconds it is not earned back (50-step runs: 0.85x). On a
GPU, one run at a time owns the device. Workers return records to the parent, which alone
writes the results store. A pool worker's progress bars are plain lines on its stderr, which
a terminal, a log and (through ipykernel) a notebook cell show; a Ray worker's go to Ray's logs.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Protocol

import torch

from drscale.common.files import scratch_folder
from drscale.common.progress import headless_here
from drscale.common.values import is_integer
from drscale.train import keep_freed_memory

RunFn = Callable[..., dict[str, Any]]


class Backend(Protocol):
    """Anything that can run a sweep's tasks and hand back their records as they finish."""

    def execute(self, run: RunFn, tasks: Sequence[Any], shared: tuple, device: str | None) -> Iterator[dict[str, Any]]: ...


def default_workers(device: str | None = None) -> int:
    """One worker per core on CPU; one on a GPU."""
    if (device or ("cuda" if torch.cuda.is_available() else "cpu")).startswith("cuda"):
        return 1
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


class LocalBackend:
    """Runs tasks sequentially (workers=1) or in a process pool of `workers` processes.

    The default is as many workers as the cores hold tasks of `threads` torch threads each
    (a task sets its own thread count: it is part of a run's configuration). Workers exit
    with the process that started them, even when it is killed outright.
    """

    def __init__(self, workers: int | None = None) -> None:
        if workers is not None and (not is_integer(workers) or workers < 1):
            raise ValueError(f"workers must be a positive integer or None; got {workers!r}")
        self.workers = workers

    def worker_count(self, tasks: Sequence[Any], device: str | None) -> int:
        """How many processes run `tasks` (1: this one)."""
        threads = max((getattr(task, "threads", 1) for task in tasks), default=1)
        return min(self.workers or max(1, default_workers(device) // threads), len(tasks))

    def execute(self, run: RunFn, tasks: Sequence[Any], shared: tuple, device: str | None) -> Iterator[dict[str, Any]]:
        """Yield `run(task, *shared)` for each task, in order of completion."""
        workers = self.worker_count(tasks, device)
        if workers <= 1:
            for task in tasks:
                yield run(task, *shared)
            return
        refuse_in_a_starting_worker()
        context = multiprocessing.get_context("spawn")  # fork after torch has started threads can deadlock
        with scratch_folder("drscale-pool") as folder:  # a killed sweep's is removed by the next
            inputs = folder / "shared.pickle"
            inputs.write_bytes(pickle.dumps((run, shared), protocol=pickle.HIGHEST_PROTOCOL))
            pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                                       initargs=(str(inputs), os.getpid()))
            yield from _completed(pool, tasks)


def refuse_in_a_starting_worker() -> None:
    """Refuse to start a sweep while a spawned worker is importing the user's script (one that
    starts a sweep at top level, without a main guard). Going on would deadlock: the worker
    would wait for runs its parent holds, or start a pool it cannot shut down, and the parent
    would wait for the worker forever. The flag is the one multiprocessing checks itself."""
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        raise RuntimeError('a worker process imported a script that starts a sweep when imported: put the sweep '
                           'under `if __name__ == "__main__":`')


def _completed(pool: ProcessPoolExecutor, tasks: Sequence[Any]) -> Iterator[dict[str, Any]]:
    """Submit `tasks` to `pool` and yield their results as they finish; a dead worker is
    reported with the tasks left unfinished."""
    try:
        futures = {pool.submit(_run_task, task): task for task in tasks}
        for future in as_completed(futures):
            try:
                result = future.result()
            except BrokenProcessPool:
                unfinished = [_describe(task) for task in futures.values()]
                raise RuntimeError(
                    f"a worker process died (killed, out of memory, or a script that starts a sweep without "
                    f"`if __name__ == \"__main__\":`) with {len(unfinished)} task(s) unfinished: {', '.join(unfinished)}; "
                    f"the finished ones are recorded, and running the sweep again resumes"
                ) from None
            futures.pop(future)
            yield result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # a caller that stops early does not wait for queued tasks


_WORKER: dict[str, Any] = {}


def _init_worker(inputs: str, parent: int) -> None:
    """Load the run function and shared inputs from the file the parent wrote. They travel by
    file, not through the start-up pipe: a worker that dies while starting (a script without a
    main guard) would leave the parent blocked forever writing a large payload into that pipe."""
    keep_freed_memory()  # a worker only trains: freed activation memory is reused instead of faulted in every step
    headless_here()
    run, shared = pickle.loads(Path(inputs).read_bytes())
    _WORKER.update(run=run, shared=shared)
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True, name="exit-with-parent").start()


def _exit_with_parent(parent: int, every_s: float = 1.0) -> None:
    """End this worker within a second of its parent's death: a killed sweep must not leave
    workers training into nothing while holding gigabytes."""
    while os.getppid() == parent:
        time.sleep(every_s)
    os._exit(1)


def _describe(task: Any) -> str:
    """A task in a few words: a run's model and data size, else its repr."""
    if hasattr(task, "model") and hasattr(task, "data_size"):
        return f"{task.model} D={task.data_size}"
    return getattr(task, "model", None) or repr(task)


def _run_task(task: Any) -> dict[str, Any]:
    return _WORKER["run"](task, *_WORKER["shared"])


class RayBackend:
    """Runs tasks as Ray tasks: on this machine (`address=None` starts a local Ray) or on an
    existing cluster (`address="ray://head:10001"` or "auto").

    Each task reserves `cpus_per_run` CPUs (default: the torch threads its configuration
    asks for, `RunConfig.threads`) and sets its own thread count. The shared inputs (the data
    set) are put in Ray's object store once. Install with `pip install "drscale[ray]"`.
    """

    def __init__(self, address: str | None = None, cpus_per_run: int | None = None, gpus_per_run: float = 0) -> None:
        if cpus_per_run is not None and (not isinstance(cpus_per_run, int) or cpus_per_run < 1):
            raise ValueError(f"cpus_per_run must be a positive integer or None; got {cpus_per_run!r}")
        if gpus_per_run < 0:
            raise ValueError(f"gpus_per_run must be non-negative; got {gpus_per_run!r}")
        self.address = address
        self.cpus_per_run = cpus_per_run
        self.gpus_per_run = gpus_per_run

    def execute(self, run: RunFn, tasks: Sequence[Any], shared: tuple, device: str | None) -> Iterator[dict[str, Any]]:
        """Yield `run(task, *shared)` for each task, in order of completion."""
        try:
            import ray
        except ImportError:
            raise ImportError('the Ray backend needs Ray: pip install "drscale[ray]"') from None
        if not tasks:
            return
        if not ray.is_initialized():
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False, configure_logging=False)
        cpus = self.cpus_per_run or max(getattr(task, "threads", 1) for task in tasks)
        remote = ray.remote(num_cpus=cpus, num_gpus=self.gpus_per_run)(_ray_task)
        shared_ref = ray.put(shared)
        pending = [remote.remote(run, task, shared_ref) for task in tasks]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])


def _ray_task(run: RunFn, task: Any, shared: tuple) -> dict[str, Any]:
    keep_freed_memory()  # a Ray worker process is drscale's own, as a pool worker is
    headless_here()
    return run(task, *shared)
