"""Sweeps: many training runs over model sizes and data sizes, each recorded once.

A run is fully described by a frozen `RunConfig`; its `run_id` (a hash of the config and the
data fingerprint) keys the results store, so re-running a sweep skips finished runs and a
crash loses at most the runs in progress. Runs that diverge or raise are recorded as failed,
with the error, and never enter a table of results; the other runs of the sweep go on.
Sweeps on one store claim runs (`drscale.sweep.claims`), so each run trains once.
"""

from __future__ import annotations

import traceback
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from drscale.common.device import pick_device
from drscale.common.progress import progress_bar
from drscale.data.corpus import RetrievalData
from drscale.model.encoder import MINILM_FAMILY, MODEL_SIZES
from drscale.sweep.checks import check_feasible, check_writable, warn_unread_pairs
from drscale.sweep.claims import RunClaims
from drscale.sweep.config import RunConfig
from drscale.sweep.executors import Backend, LocalBackend, RayBackend, refuse_in_a_starting_worker
from drscale.sweep.records import RecordHead, results_table
from drscale.sweep.run import run_recorded
from drscale.sweep.store import ResultsStore
from drscale.train.pretrain import pretrain


class RunsFailed(RuntimeError):
    """Runs of a sweep raised; each is recorded as failed in the store, with its traceback,
    and every other run is recorded."""


def run_sweep(
    configs: Sequence[RunConfig],
    data: RetrievalData,
    store: ResultsStore | str | Path,
    device: str | None = None,
    progress: bool = True,
    backend: Backend | None = None,
    checkpoint_dir: str | Path | None = None,
) -> pd.DataFrame:
    """Run every config not already finished in `store`; return the table of all of them.

    With `checkpoint_dir`, each trained model is also saved there as a sentence-transformers
    folder named by its run id (see `save_checkpoint`); runs the store already holds without
    a saved model are named in a warning (they are not trained again).

    Everything that could only fail later is refused before any training starts: bad
    configurations (a data size above the training set, a batch above the data size, more
    negatives than the pool, inputs longer than the model's positions), a device this
    machine lacks, a store or checkpoint folder that cannot be written. A data size the
    step budget cannot read whole is warned about, with the numbers.

    Each record is appended as soon as its run ends, so an interrupted sweep resumes where it
    stopped. A run that raises is recorded as failed, with its error, and the others go on;
    the sweep then raises, naming the failures. Sweeps started at once on one store claim
    runs (`drscale.sweep.claims`), so each run trains once and each sweep returns the whole table.
    The default backend is a local pool of single-thread workers, one per core. `progress`
    shows the runs done and each run's training steps (`drscale.common.progress` says how,
    for a notebook, a log or a terminal).
    """
    refuse_in_a_starting_worker()
    store = store if isinstance(store, ResultsStore) else ResultsStore(store)
    backend = backend or LocalBackend()
    if not isinstance(backend, RayBackend):
        pick_device(device)  # a Ray cluster's workers may have a device this machine lacks
    for config in configs:
        check_feasible(config, data)
    warn_unread_pairs(configs)
    fingerprint = data.fingerprint()
    run_ids = [c.run_id(fingerprint) for c in configs]
    by_id = dict(zip(run_ids, configs))
    pretrained = store.path.parent / "pretrained"
    for folder in (store.path.parent, pretrained, checkpoint_dir):
        if folder is not None:
            check_writable(Path(folder))
    checkpoints = str(checkpoint_dir) if checkpoint_dir is not None else None
    shared = (data, fingerprint, device, checkpoints, str(pretrained), progress)
    errors: list[dict[str, Any]] = []
    with RunClaims(store.path.with_name(store.path.name + ".claims")) as claims:
        before = len(store.records())
        while True:
            seen = store.records()
            # done: finished, or recorded by any sweep since this one started (a failed run is retried by the next sweep)
            done = {r["run_id"] for r in seen if r["status"] == "finished"} | {r["run_id"] for r in seen[before:]}
            pending = [i for i in by_id if i not in done]
            if not pending:
                break
            mine = [i for i in pending if claims.claim(i)]
            if not mine:  # another sweep is training all that is left: wait for it, then look again
                if progress:
                    tqdm.write(f"waiting for {len(pending)} run(s) that another sweep on {store.path} is training")
                claims.wait(pending)
                continue
            fresh = {r["run_id"] for r in store.records()[len(seen):]}  # another sweep's, between the look and the claim
            for run_id in [i for i in mine if i in fresh]:
                claims.release(run_id)
                mine.remove(run_id)
            _pretrain(backend, claims, [by_id[i] for i in mine], shared[:2], str(pretrained), device, progress)
            tasks = sorted((by_id[i] for i in mine), key=_expected_cost, reverse=True)  # longest first keeps workers busy
            for record in progress_bar(backend.execute(run_recorded, tasks, shared, device), total=len(tasks),
                                       desc="runs", enabled=progress, beside_workers=_pooled(backend, tasks, device)):
                _append(store, record)
                claims.release(record["run_id"])
                if record.get("traceback"):
                    errors.append(record)
    if checkpoint_dir is not None:
        _warn_unsaved(store, run_ids)
    if errors:
        described = "; ".join(f"{r['model']} D={r['data_size']}: {' '.join(str(r['error']).split())}" for r in errors)
        raise RunsFailed(f"{len(errors)} run(s) raised (recorded as failed in {store.path}, with tracebacks; "
                           f"every other run is recorded): {described}")
    return results_table(store, run_ids)


def _append(store: ResultsStore, record: dict[str, Any]) -> None:
    """Append a run's record; one the store refuses is recorded as a failed run saying why,
    so that the runs still training are not lost with it."""
    try:
        store.append(record)
    except ValueError as error:
        store.append({**RecordHead.of(record), "status": "failed", "error": f"record refused by the store: {error}",
                      "traceback": traceback.format_exc()})


def _pretrain(backend: Backend, claims: RunClaims, configs: Sequence[RunConfig], shared: tuple, folder: str,
              device: str | None, progress: bool) -> None:
    """Pre-train each size `configs` start from, before their runs; each is saved as it
    finishes. A pre-training another sweep holds is waited for, then found saved."""
    jobs = list(dict.fromkeys(job for job in (c.pretrain_job() for c in configs) if job is not None))
    keys = [job.key(shared[1]) for job in jobs]
    for key in keys:
        while not claims.claim(key):
            claims.wait([key])
    try:
        for _ in progress_bar(backend.execute(pretrain, jobs, (*shared, folder, device, progress), device),
                              total=len(jobs), desc="pre-training", enabled=progress and bool(jobs),
                              beside_workers=_pooled(backend, jobs, device)):
            pass
    finally:
        for key in keys:
            claims.release(key)


def _pooled(backend: Backend, tasks: Sequence[Any], device: str | None) -> bool:
    """Whether `backend` runs `tasks` in worker processes that write to this one's stderr
    (a local pool; Ray keeps its workers' output in its logs)."""
    return isinstance(backend, LocalBackend) and backend.worker_count(tasks, device) > 1


def _warn_unsaved(store: ResultsStore, run_ids: Sequence[str]) -> None:
    """Name the finished runs of a sweep that asked for saved models but have none: they
    finished before models were asked for, and a finished run is never trained again."""
    finished = store.finished()
    unsaved = [finished[i] for i in dict.fromkeys(run_ids) if i in finished and "checkpoint" not in finished[i]]
    if unsaved:
        described = ", ".join(f"{r.model} D={r.data_size} ({r.run_id})" for r in unsaved)
        warnings.warn(f"{len(unsaved)} run(s) finished before models were saved, so none is kept for them: "
                      f"{described}; to keep them, run the sweep into another store", stacklevel=3)


def _expected_cost(config: RunConfig) -> float:
    """Rough relative cost of a run (model size times steps), for scheduling only."""
    size = MODEL_SIZES.get(config.model)
    width = size.layers * size.hidden**2 if size else MINILM_FAMILY.get(config.model, 12) * 384**2
    return width * config.train.steps_for(config.data_size) * config.train.batch_size
