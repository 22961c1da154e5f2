"""Sweeps: many training runs over model sizes and data sizes, each recorded once.

A run is fully described by a frozen `RunConfig`; its `run_id` (a hash of the config and the
data fingerprint) keys the results store, so re-running a sweep skips finished runs and a
crash loses at most the runs in progress. Runs that diverge or raise are recorded as failed,
with the error, and never enter a table of results; the other runs of the sweep go on.
Sweeps on one store claim runs (`drscale.sweep.claims`), so each run trains once.
"""

from __future__ import annotations

import platform
import tempfile
import time
import traceback
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

import drscale
from drscale.sweep.executors import Backend, LocalBackend, RayBackend, refuse_in_a_starting_worker
from drscale.model.checkpoint import CHECKPOINT_MANIFEST, checkpoint_problem, save_checkpoint
from drscale.sweep.claims import RunClaims
from drscale.data.corpus import RetrievalData
from drscale.measure.dev import DevSet
from drscale.common.files import write_text_atomic
from drscale.measure.entropy import encode, evaluate_contrastive_entropy, evaluation_rows
from drscale.model.encoder import (
    MINILM_FAMILY,
    MODEL_SIZES,
    build_model,
    expand_models,
    fetch_hub_model,
    is_hub_id,
    max_positions,
    model_entry_problem,
    n_params,
)
from drscale.train.pretrain import Pretraining, PretrainJob, load_pretrained, pretrain
from drscale.measure.ranking import evaluate_ranking
from drscale.sweep.store import ResultsStore
from drscale.common.files import config_hash
from drscale.model.tokens import TokenizedData
from drscale.train.loop import TrainingDiverged, train
from drscale.train.config import TrainConfig
from drscale.common.values import is_integer, plain_numbers
from drscale.common.device import fixed_threads, pick_device


@dataclass(frozen=True)
class EvalConfig:
    """How contrastive entropy is measured: W negatives, R repeats, pool sample, seed."""

    negatives: int = 256
    repeats: int = 10
    pool_size: int | None = None
    seed: int = 1
    ranking: bool = True  # also rank the test positives + pool and record NDCG@10, MRR@10, recall

    def __post_init__(self) -> None:
        plain_numbers(self)  # a numpy integer hashes like the same Python one
        for name in ("negatives", "repeats"):
            if not is_integer(getattr(self, name)) or getattr(self, name) < 1:
                raise ValueError(f"EvalConfig.{name} must be a positive integer; got {getattr(self, name)!r}")
        if self.pool_size is not None and (not is_integer(self.pool_size) or self.pool_size < 1):
            raise ValueError(f"EvalConfig.pool_size must be a positive integer or None (every non-test passage); "
                             f"got {self.pool_size!r}")
        if not is_integer(self.seed) or self.seed < 0:
            raise ValueError(f"EvalConfig.seed must be a non-negative integer; got {self.seed!r}")
        if not isinstance(self.ranking, bool):
            raise ValueError(f"EvalConfig.ranking must be True or False; got {self.ranking!r}")


@dataclass(frozen=True)
class RunConfig:
    """One training run: which model (a size name, MiniLM_L<k>, a local folder or a hub id), how many pairs, how."""

    model: str
    data_size: int
    train: TrainConfig
    evaluation: EvalConfig = field(default_factory=EvalConfig)
    init_seed: int = 0
    subset_seed: int = 0
    pretraining: Pretraining | None = None  # start from this size pre-trained on the Inverse Cloze Task
    threads: int = 1  # torch threads: results depend on it in the last digits, so it is part of the run

    def __post_init__(self) -> None:
        problem = model_entry_problem(self.model)
        if problem is not None:
            raise ValueError(f"model: {problem}")
        plain_numbers(self)  # a numpy integer hashes like the same Python one
        for name, low in (("data_size", 1), ("threads", 1), ("init_seed", 0), ("subset_seed", 0)):
            value = getattr(self, name)
            if not is_integer(value) or value < low:
                kind = "a positive" if low else "a non-negative"
                raise ValueError(f"RunConfig.{name} must be {kind} integer; got {value!r}")
        for name, kind in (("train", TrainConfig), ("evaluation", EvalConfig)):
            if not isinstance(getattr(self, name), kind):
                raise ValueError(f"RunConfig.{name} must be a {kind.__name__}; got {getattr(self, name)!r}")

    def run_id(self, data_fingerprint: str) -> str:
        config = asdict(self)
        if self.pretraining is None:
            del config["pretraining"]  # runs from a plain start keep the ids they always had
        if self.threads == 1:
            del config["threads"]  # and so do single-thread runs, the default everywhere
        return config_hash({"config": config, "data": data_fingerprint})

    def pretrain_job(self) -> PretrainJob | None:
        """The pre-training this run starts from (shared by every run of the same size and settings)."""
        if self.pretraining is None:
            return None
        return PretrainJob(self.model, self.init_seed, self.pretraining, self.pretraining.train_config(self.train),
                           self.threads)


def model_size_grid(models: Sequence[str], data_size: int, train_config: TrainConfig, **kwargs: Any) -> list[RunConfig]:
    """Runs for the model-size law: each model (family names expanded) on the same `data_size` pairs."""
    return [RunConfig(model=m, data_size=data_size, train=train_config, **kwargs) for m in expand_models(models)]


def data_size_grid(model: str, data_sizes: Sequence[int], train_config: TrainConfig, **kwargs: Any) -> list[RunConfig]:
    """Runs for the data-size law: one model on nested subsets of `data_sizes` pairs."""
    return [RunConfig(model=model, data_size=int(d), train=train_config, **kwargs) for d in data_sizes]


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
    folder named by its run id (see `save_checkpoint`).

    Everything that could only fail later is refused before any training starts: bad
    configurations (a data size above the training set, a batch above the data size, more
    negatives than the pool, inputs longer than the model's positions), a device this
    machine lacks, a store or checkpoint folder that cannot be written. A data size the
    step budget cannot read whole is warned about, with the numbers.

    Each record is appended as soon as its run ends, so an interrupted sweep resumes where it
    stopped. A run that raises is recorded as failed, with its error, and the others go on;
    the sweep then raises, naming the failures. Sweeps started at once on one store claim
    runs (`drscale.sweep.claims`), so each run trains once and each sweep returns the whole table.
    The default backend is a local pool of single-thread workers, one per core.
    """
    refuse_in_a_starting_worker()
    store = store if isinstance(store, ResultsStore) else ResultsStore(store)
    backend = backend or LocalBackend()
    if not isinstance(backend, RayBackend):
        pick_device(device)  # a Ray cluster's workers may have a device this machine lacks
    for config in configs:
        _check_feasible(config, data)
    _warn_unread_pairs(configs)
    fingerprint = data.fingerprint()
    run_ids = [c.run_id(fingerprint) for c in configs]
    by_id = dict(zip(run_ids, configs))
    pretrained = store.path.parent / "pretrained"
    for folder in (store.path.parent, pretrained, checkpoint_dir):
        if folder is not None:
            _check_writable(Path(folder))
    checkpoints = str(checkpoint_dir) if checkpoint_dir is not None else None
    shared = (data, fingerprint, device, checkpoints, str(pretrained))
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
            for record in tqdm(backend.execute(run_recorded, tasks, shared, device), total=len(tasks), desc="runs",
                               disable=not progress):
                _append(store, record)
                claims.release(record["run_id"])
                if record.get("traceback"):
                    errors.append(record)
    if errors:
        described = "; ".join(f"{r['model']} D={r['data_size']}: {r['error']}" for r in errors)
        raise RuntimeError(f"{len(errors)} run(s) raised (recorded as failed in {store.path}, with tracebacks; "
                           f"every other run is recorded): {described}")
    return results_table(store, run_ids)


def _append(store: ResultsStore, record: dict[str, Any]) -> None:
    """Append a run's record; one the store refuses is recorded as a failed run saying why,
    so that the runs still training are not lost with it."""
    try:
        store.append(record)
    except ValueError as error:
        head = {key: record[key] for key in _FAILED_HEAD if key in record}
        store.append({**head, "status": "failed", "error": f"record refused by the store: {error}",
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
        for _ in tqdm(backend.execute(pretrain, jobs, (*shared, folder, device), device), total=len(jobs),
                      desc="pre-training", disable=not progress or not jobs):
            pass
    finally:
        for key in keys:
            claims.release(key)


TABLE_COLUMNS = ("run_id", "model", "n_params", "data_size", "seed", "steps", "best_step", "dev_ce", "ce", "train_time_s",
                 "data_fingerprint", "evaluation")
"""A sweep table's columns; the last two say what a CE was measured on and how, so runs of
other data or other measurement settings are never compared unawares."""


def evaluation_label(evaluation: dict[str, Any]) -> str:
    """The measurement settings of a record in one short string, e.g. "W256 R10 pool4096 seed1"."""
    pool = evaluation.get("pool_size") or "all"
    return f"W{evaluation['negatives']} R{evaluation['repeats']} pool{pool} seed{evaluation['seed']}"


def _table_row(record: dict[str, Any]) -> dict[str, Any]:
    row = {column: record.get(column) for column in TABLE_COLUMNS}
    row["data_fingerprint"] = record["data"]["fingerprint"]
    row["evaluation"] = evaluation_label(record["config"]["evaluation"])
    return row


def results_table(store: ResultsStore, run_ids: Sequence[str]) -> pd.DataFrame:
    """Finished runs among `run_ids`, one row each, with the columns of `TABLE_COLUMNS`.

    Runs that failed and never finished are left out, with a warning that names them, so no
    fit is ever given a diverged run without the reader knowing.
    """
    records = store.records()
    finished = {r["run_id"]: r for r in records if r["status"] == "finished"}
    failed = {r["run_id"]: r for r in records if r["status"] == "failed" and r["run_id"] not in finished}
    wanted = list(dict.fromkeys(run_ids))
    left_out = [failed[run_id] for run_id in wanted if run_id in failed]
    if left_out:
        described = "; ".join(f"{r['model']} D={r['data_size']}: {r.get('error', 'failed')}" for r in left_out)
        warnings.warn(f"{len(left_out)} failed run(s) left out of the table: {described}", stacklevel=2)
    rows = [_table_row(finished[run_id]) for run_id in wanted if run_id in finished]
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


CURVE_COLUMNS = ("run_id", "model", "n_params", "data_size", "step", "dev_ce", "train_loss", "wall_s", "selected")


def learning_curves(store: ResultsStore, run_ids: Sequence[str]) -> pd.DataFrame:
    """Dev learning curves of the finished runs among `run_ids`, one row per dev measurement;
    `selected` marks the measurement whose checkpoint the run reports."""
    finished = {r["run_id"]: r for r in store.records() if r["status"] == "finished"}
    rows = [
        {"run_id": run_id, "model": record["model"], "n_params": record["n_params"], "data_size": record["data_size"],
         **point, "selected": point["step"] == record.get("best_step")}
        for run_id in dict.fromkeys(run_ids) if run_id in finished
        for record in (finished[run_id],)
        for point in record.get("dev_curve") or []
    ]
    return pd.DataFrame(rows, columns=list(CURVE_COLUMNS))


def study_store(data_dir: str | Path) -> ResultsStore:
    """The results store every notebook of a study shares: `data_dir/runs/results.jsonl`."""
    return ResultsStore(Path(data_dir) / "runs" / "results.jsonl")


def save_table(table: pd.DataFrame, data_dir: str | Path, name: str) -> Path:
    """Write a sweep table to `data_dir/results/<name>.csv`, where the fitting notebook reads it
    (atomically: a crash leaves the previous table, not half of the new one)."""
    return write_text_atomic(Path(data_dir) / "results" / f"{name}.csv", table.to_csv(index=False))


def run_one(
    config: RunConfig,
    data: RetrievalData,
    fingerprint: str,
    device: str | None = None,
    checkpoint_dir: str | None = None,
    pretrained_dir: str | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Train and evaluate one run at its thread count; return its record (status "finished",
    or "failed" when training diverged or CE is not finite).

    A run with `pretraining` starts from its pretrained model under `pretrained_dir`
    (`run_sweep` pre-trains every size a sweep needs before its runs start)."""
    with fixed_threads(config.threads):
        return _train_and_measure(config, data, fingerprint, pick_device(device), checkpoint_dir, pretrained_dir, progress)


def run_recorded(config: RunConfig, data: RetrievalData, fingerprint: str, device: str | None = None,
                 checkpoint_dir: str | None = None, pretrained_dir: str | None = None) -> dict[str, Any]:
    """`run_one`, with any error turned into a failed record (error and traceback), so that a
    sweep records every run whatever happens to the others."""
    try:
        return run_one(config, data, fingerprint, device, checkpoint_dir, pretrained_dir)
    except Exception as error:
        return {**_record_head(config, data, fingerprint), "status": "failed", "error": f"{type(error).__name__}: {error}",
                "traceback": traceback.format_exc()}


def _record_head(config: RunConfig, data: RetrievalData, fingerprint: str) -> dict[str, Any]:
    """The fields every record of a run carries, finished or failed: what ran, on which data, with what."""
    return {
        "run_id": config.run_id(fingerprint),
        "config": asdict(config),
        "model": Path(config.model).name,
        "data_size": config.data_size,
        "seed": config.train.seed,
        "threads": config.threads,
        "data": {"name": data.name, "fingerprint": fingerprint, "test_fingerprint": _test_fingerprint(data, fingerprint)},
        "versions": _versions(),
    }


_FAILED_HEAD = ("run_id", "config", "model", "data_size", "seed", "threads", "data", "versions")
"""The fields of `_record_head`: a failed record keeps them."""

_TEST_FINGERPRINTS: dict[str, str] = {}


def _test_fingerprint(data: RetrievalData, fingerprint: str) -> str:
    """`data.test_fingerprint()`, hashed once per process and data set (it reads the whole corpus)."""
    if fingerprint not in _TEST_FINGERPRINTS:
        _TEST_FINGERPRINTS[fingerprint] = data.test_fingerprint()
    return _TEST_FINGERPRINTS[fingerprint]


def _train_and_measure(config: RunConfig, data: RetrievalData, fingerprint: str, device: torch.device,
                       checkpoint_dir: str | None, pretrained_dir: str | None, progress: bool) -> dict[str, Any]:
    job = config.pretrain_job()
    if job is not None:
        model = load_pretrained(pretrained_dir or ".", job, fingerprint)
    else:
        model = build_model(config.model, seed=config.init_seed, projection_scale=config.train.projection_scale)
    tokens = _tokenized(data, fingerprint, model.tokenizer, config.train)
    dev = dev_set(data, config.train) if config.train.eval_points else None
    record: dict[str, Any] = {
        **_record_head(config, data, fingerprint),
        "n_params": n_params(model),
        "steps": config.train.steps_for(config.data_size),
        "pretrained_from": job.key(fingerprint) if job is not None else None,
        "device": str(device),
    }
    try:
        pairs = data.train_pair_rows(config.data_size, seed=config.subset_seed)
        result = train(model, tokens, pairs, config.train, device, progress, dev=dev)
    except TrainingDiverged as error:
        return {**record, "status": "failed", "error": str(error), "failed_step": error.step}
    start = time.perf_counter()
    evaluation = asdict(config.evaluation)
    with_ranking = evaluation.pop("ranking")
    rows = evaluation_rows(data, config.evaluation.pool_size, config.evaluation.seed)
    passages = encode(model, [tokens.passages[r] for r in rows], pad_id=tokens.pad_id, device=device)
    ce = evaluate_contrastive_entropy(
        model, data, tokens, **evaluation, device=device, passage_embeddings=passages, passage_rows=rows
    )
    if not np.isfinite(ce):
        return {**record, "status": "failed", "error": f"contrastive entropy is {ce}"}
    if with_ranking:
        ranking = evaluate_ranking(model, data, tokens, device=device, passage_embeddings=passages, corpus_rows=rows)
        record["ranking"] = ranking
        record["ranking_corpus_passages"] = len(rows)
    if checkpoint_dir is not None:
        record["checkpoint"] = str(save_checkpoint(model, Path(checkpoint_dir) / record["run_id"]))
    return {
        **record,
        "status": "finished",
        "ce": ce,
        "train_loss_curve": result.curve_summary(),
        "dev_curve": result.curve,
        "best_step": result.best_step,
        "dev_ce": result.best_dev_ce,
        "dev_eval_s": result.dev_eval_s,
        "train_time_s": result.wall_time_s,
        "eval_time_s": time.perf_counter() - start,
    }


DEV_NEGATIVES = 256
"""Negatives per dev pair, as the test measurement's W (fewer when the dev pool is smaller)."""


def dev_set(data: RetrievalData, config: TrainConfig) -> DevSet:
    """The dev measurement a run's config asks for (the same for every run on `data`)."""
    return DevSet.from_data(data, pairs=config.dev_pairs, pool_size=config.dev_pool_size,
                            negatives=min(DEV_NEGATIVES, config.dev_pool_size))


_TOKENIZED: dict[tuple, TokenizedData] = {}


def _tokenized(data: RetrievalData, fingerprint: str, tokenizer, config: TrainConfig) -> TokenizedData:
    """Tokenise a data set once per process, tokenizer and length limits, not once per run."""
    key = (fingerprint, tokenizer.name_or_path, len(tokenizer), config.query_max_length, config.passage_max_length)
    if key not in _TOKENIZED:
        _TOKENIZED.clear()  # one data set at a time: keep memory flat across a long session
        _TOKENIZED[key] = TokenizedData.build(data, tokenizer, config.query_max_length, config.passage_max_length)
    return _TOKENIZED[key]


def _expected_cost(config: RunConfig) -> float:
    """Rough relative cost of a run (model size times steps), for scheduling only."""
    size = MODEL_SIZES.get(config.model)
    width = size.layers * size.hidden**2 if size else MINILM_FAMILY.get(config.model, 12) * 384**2
    return width * config.train.steps_for(config.data_size) * config.train.batch_size


def _check_feasible(config: RunConfig, data: RetrievalData) -> None:
    """Refuse, before any run of a sweep trains, a configuration that could only fail later."""
    if config.data_size > data.n_train_pairs:
        raise ValueError(f"data_size {config.data_size} exceeds the {data.n_train_pairs} training pairs of {data.name}")
    if config.train.batch_size > config.data_size:
        raise ValueError(f"batch_size {config.train.batch_size} exceeds data_size {config.data_size}")
    if config.train.eval_points:
        if data.dev_qrels is None:
            raise ValueError(
                f"training with dev evaluation (eval_points={config.train.eval_points}) needs a dev split; "
                f"{data.name} has none: prepare it with dev_queries > 0"
            )
        if config.train.dev_pool_size > len(data.unlabelled_rows()):
            raise ValueError(
                f"dev_pool_size {config.train.dev_pool_size} exceeds the {len(data.unlabelled_rows())} unlabelled "
                f"passages of {data.name}"
            )
    if config.train.negatives + config.train.batch_size > len(data.corpus):
        raise ValueError(
            f"training negatives ({config.train.negatives}) plus batch_size ({config.train.batch_size}) exceed the "
            f"{len(data.corpus)} passages of {data.name}"
        )
    non_test = len(data.unlabelled_rows())
    pool = config.evaluation.pool_size or non_test
    if pool > non_test:
        raise ValueError(f"evaluation pool_size {pool} exceeds the {non_test} non-test passages of {data.name}")
    if config.evaluation.negatives > pool:
        raise ValueError(f"evaluation negatives ({config.evaluation.negatives}) exceed the pool of {pool} passages")
    if is_hub_id(config.model):
        fetch_hub_model(config.model)  # cached or downloaded now; offline, refused before any run trains
    folder = Path(config.model)
    if config.model not in MODEL_SIZES and (folder.name.startswith(".tmp-") or (folder / CHECKPOINT_MANIFEST).exists()):
        problem = checkpoint_problem(folder)
        if problem is not None:
            raise ValueError(f"model {config.model}: not a complete checkpoint: {problem}")
    positions = max_positions(config.model)
    for name in ("query_max_length", "passage_max_length"):
        if positions is not None and getattr(config.train, name) > positions:
            raise ValueError(f"TrainConfig.{name} {getattr(config.train, name)} exceeds the {positions} token positions "
                             f"of model {config.model}")


def _warn_unread_pairs(configs: Sequence[RunConfig]) -> None:
    """Warn, with the numbers, about runs whose step budget reads fewer pairs than their data
    size: past that size a data-size law only measures the budget."""
    short = [(c.data_size, c.train.steps_for(c.data_size), c.train.batch_size) for c in configs
             if c.train.steps_for(c.data_size) * c.train.batch_size < c.data_size]
    if short:
        described = ", ".join(f"D={d} reads {steps} steps x {batch} = {steps * batch} pairs"
                              for d, steps, batch in sorted(set(short)))
        warnings.warn(f"{len(short)} run(s) cannot read all their training pairs ({described}); set "
                      f"TrainConfig.epochs (e.g. 1) to make the budget read every pair", stacklevel=3)


def _check_writable(folder: Path) -> None:
    """Refuse a folder the sweep will write into (store, pretrained models, checkpoints) that
    cannot be created or written, before any run trains rather than after the first."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise PermissionError(f"{folder} cannot be written ({error.strerror or error}); nothing was trained: "
                              f"pick a writable folder") from None


def _versions() -> dict[str, str]:
    """Versions of everything that shapes a run's numbers: the model code (torch,
    transformers, sentence-transformers), tokenisation (tokenizers), data tables (datasets),
    sampling and evaluation (numpy, scipy)."""
    import datasets
    import scipy
    import sentence_transformers
    import tokenizers
    import transformers

    return {
        "drscale": drscale.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "sentence_transformers": sentence_transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "datasets": datasets.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m drscale.sweep.runner SPEC`: run a sweep spec without Jupyter (e.g. on a cluster)."""
    import argparse

    from drscale.data.prepare import load_prepared
    from drscale.sweep.spec import GRID_KEYS, TOP_KEYS, SweepSpec

    parser = argparse.ArgumentParser(
        prog="python -m drscale.sweep.runner", description=main.__doc__,
        epilog=f"spec keys: {', '.join(sorted(TOP_KEYS))}; grid keys: {', '.join(sorted(GRID_KEYS))}; "
               f"train: any TrainConfig field; evaluation: {', '.join(f.name for f in fields(EvalConfig))}. "
               f"See drscale/spec.py for an example.",
    )
    parser.add_argument("spec", help="sweep spec (.json, or .toml on Python 3.11+)")
    parser.add_argument("--workers", type=int, default=None, help="parallel runs (default: the spec's, else one per core)")
    parser.add_argument("--ray", metavar="ADDRESS", nargs="?", const="local", help="run on Ray: 'local', 'auto' or a cluster address")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (for logs)")
    args = parser.parse_args(argv)
    spec = SweepSpec.from_file(args.spec)
    data = load_prepared(spec.data_dir, spec.dataset)
    if args.ray:
        backend: Backend = RayBackend(address=None if args.ray == "local" else args.ray)
    else:
        backend = LocalBackend(workers=args.workers or spec.workers)
    table = run_sweep(spec.configs(), data, spec.store, device=spec.device, progress=not args.no_progress, backend=backend)
    print(table.to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
