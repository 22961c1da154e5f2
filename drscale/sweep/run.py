"""One run: train a model of a size on D pairs, measure its contrastive entropy (and ranking), return its record.

This is what a sweep worker executes; everything it needs travels in its arguments, so a run
in a pool worker, on a Ray node or in the calling process gives the same record to the bit.
"""

from __future__ import annotations

import platform
import time
import traceback
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

import drscale
from drscale.common.device import fixed_threads, pick_device
from drscale.data.corpus import RetrievalData
from drscale.measure.dev import DevSet
from drscale.measure.entropy import encode, evaluate_contrastive_entropy, evaluation_rows
from drscale.measure.ranking import evaluate_ranking
from drscale.model.checkpoint import save_checkpoint
from drscale.model.encoder import build_model, encoder_params, n_params
from drscale.model.tokens import TokenizedData
from drscale.sweep.config import RunConfig
from drscale.sweep.records import RecordHead
from drscale.train.config import TrainConfig
from drscale.train.loop import TrainingDiverged, train
from drscale.train.pretrain import load_pretrained


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
    (`run_sweep` pre-trains every size a sweep needs before its runs start). `progress`
    counts its training steps in a bar named after the run (model and D)."""
    with fixed_threads(config.threads):
        return _train_and_measure(config, data, fingerprint, pick_device(device), checkpoint_dir, pretrained_dir, progress)


def run_recorded(config: RunConfig, data: RetrievalData, fingerprint: str, device: str | None = None,
                 checkpoint_dir: str | None = None, pretrained_dir: str | None = None,
                 progress: bool = False) -> dict[str, Any]:
    """`run_one`, with any error turned into a failed record (error and traceback), so that a
    sweep records every run whatever happens to the others."""
    try:
        return run_one(config, data, fingerprint, device, checkpoint_dir, pretrained_dir, progress)
    except Exception as error:
        return {**_record_head(config, data, fingerprint), "status": "failed", "error": f"{type(error).__name__}: {error}",
                "traceback": traceback.format_exc()}


def _record_head(config: RunConfig, data: RetrievalData, fingerprint: str) -> dict[str, Any]:
    """What ran, on which data, with what: the fields of `RecordHead`, which every record carries."""
    return asdict(RecordHead(
        run_id=config.run_id(fingerprint),
        config=asdict(config),
        model=Path(config.model).name,
        data_size=config.data_size,
        seed=config.train.seed,
        threads=config.threads,
        data={"name": data.name, "fingerprint": fingerprint, "test_fingerprint": _test_fingerprint(data, fingerprint)},
        versions=package_versions(),
    ))


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
        model = build_model(config.model, seed=config.init_seed, projection_scale=config.train.projection_scale,
                            embedding_dim=config.embedding_dim)
    tokens = _tokenized(data, fingerprint, model.tokenizer, config.train)
    dev = dev_set(data, config.train) if config.train.eval_points else None
    record: dict[str, Any] = {
        **_record_head(config, data, fingerprint),
        "n_params": n_params(model),
        "encoder_params": encoder_params(model),
        "embedding_dim": config.embedding_dim,
        "steps": config.train.steps_for(config.data_size),
        "pretrained_from": job.key(fingerprint) if job is not None else None,
        "device": str(device),
    }
    try:
        pairs = data.train_pair_rows(config.data_size, seed=config.subset_seed)
        result = train(model, tokens, pairs, config.train, device, progress, dev=dev,
                       desc=f"{record['model']} D={config.data_size}")
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
        # a kept model encodes as the run measured it: passages cut at passage_max_length tokens
        # (queries were cut at query_max_length, which few reach)
        model.max_seq_length = config.train.passage_max_length
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


def package_versions() -> dict[str, str]:
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
