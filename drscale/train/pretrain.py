"""Contrastive pre-training on the Inverse Cloze Task: an offline pretrained start for every size.

The paper fine-tunes pretrained encoders; offline, no pretrained family of many sizes exists
(the shipped MiniLM is one width, and already trained for retrieval). Pre-training each size
on Inverse Cloze Task pairs of the corpus (a sentence of a passage as the query, the rest
of the passage as its positive; Lee et al. 2019) needs no labels and no download. Queries and
positives come from training passages alone, never a dev or test positive, so no labelled
pair of those splits is trained on (negatives, as in fine-tuning, are drawn from the whole
corpus). Each pretrained model is saved once under the study's folder, keyed by everything
that shapes it, and every fine-tuning run of that size starts from it.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch

from drscale.annotate.sources import InverseClozeTask, annotate
from drscale.model.checkpoint import checkpoint_problem, load_checkpoint, save_checkpoint
from drscale.data.corpus import RetrievalData
from drscale.model.encoder import OUTPUT_DIM, build_model
from drscale.common.files import config_hash
from drscale.model.tokens import TokenizedData
from drscale.train.loop import train
from drscale.train.config import TrainConfig
from drscale.common.values import plain_numbers
from drscale.common.device import fixed_threads

SOURCES = ("ict",)


@dataclass(frozen=True)
class Pretraining:
    """How a model is pre-trained before its run: `epochs` over the Inverse Cloze Task pairs
    of the training passages, at `learning_rate` (None: the run's own)."""

    source: str = "ict"
    epochs: float = 1.0
    learning_rate: float | None = None

    def __post_init__(self) -> None:
        plain_numbers(self)
        if self.source not in SOURCES:
            raise ValueError(f"Pretraining.source must be one of {SOURCES}; got {self.source!r}")
        if not (isinstance(self.epochs, (int, float)) and self.epochs > 0):
            raise ValueError(f"Pretraining.epochs must be positive; got {self.epochs!r}")
        if self.learning_rate is not None and not self.learning_rate > 0:
            raise ValueError(f"Pretraining.learning_rate must be positive or None; got {self.learning_rate!r}")

    def train_config(self, run: TrainConfig) -> TrainConfig:
        """The run's training settings with this pre-training's budget and rate, no dev selection
        (the labelled dev split must not shape the start of a run that it later selects)."""
        return replace(run, steps=run.warmup_steps + 1, epochs=float(self.epochs), eval_points=0, selection="last",
                       learning_rate=self.learning_rate or run.learning_rate)


@dataclass(frozen=True)
class PretrainJob:
    """One pre-training: which model, from which init, with what settings, on which data."""

    model: str
    init_seed: int
    pretraining: Pretraining
    train: TrainConfig
    threads: int = 1  # torch threads (results depend on it in the last digits)
    embedding_dim: int = OUTPUT_DIM  # the projection's output size

    def key(self, data_fingerprint: str) -> str:
        job = asdict(self)
        if self.threads == 1:
            del job["threads"]  # single-thread jobs keep the keys they always had
        if self.embedding_dim == OUTPUT_DIM:
            del job["embedding_dim"]  # and so do jobs at the default embedding dimension
        return config_hash({"pretrain": job, "data": data_fingerprint})


def pretrained_folder(folder: str | Path, job: PretrainJob, data_fingerprint: str) -> Path:
    return Path(folder) / job.key(data_fingerprint)


def pretrain(job: PretrainJob, data: RetrievalData, fingerprint: str, folder: str | Path,
             device: str | None = None, progress: bool = False) -> dict[str, Any]:
    """Pre-train `job`'s model and save it under `folder` (atomically); a complete save found
    there is kept, so an interrupted study resumes. Returns what was done, for the log.
    `progress` counts the steps in a bar named after the model."""
    target = pretrained_folder(folder, job, fingerprint)
    if checkpoint_problem(target) is None:
        return {"model": job.model, "folder": str(target), "trained": False}
    model = build_model(job.model, seed=job.init_seed, projection_scale=job.train.projection_scale,
                        embedding_dim=job.embedding_dim)
    ict = annotate(data, InverseClozeTask())
    tokens = TokenizedData.build(ict, model.tokenizer, job.train.query_max_length, job.train.passage_max_length)
    start = time.perf_counter()
    with fixed_threads(job.threads):
        result = train(model, tokens, ict.train_pair_rows(seed=0), job.train, device=device, progress=progress,
                       desc=f"pre-training {Path(job.model).name}")
    save_checkpoint(model, target)
    return {"model": job.model, "folder": str(target), "trained": True, "steps": len(result.losses),
            "train_time_s": time.perf_counter() - start, "final_loss": result.losses[-1]}


def load_pretrained(folder: str | Path, job: PretrainJob, fingerprint: str) -> torch.nn.Module:
    """The saved pre-trained model of `job`; an error when it was never (completely) saved."""
    return load_checkpoint(pretrained_folder(folder, job, fingerprint))
