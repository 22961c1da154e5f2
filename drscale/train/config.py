"""How a model is trained: TrainConfig, the paper's preset and the CPU preset chosen on dev.

A config is frozen and validated when made, so a bad value is refused with its name before
any run starts; its fields (bar the device-free ones) enter the run id of every run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np
import torch

from drscale.common.values import is_finite_number, is_integer, plain_numbers
from drscale.measure.dev import SELECTIONS


PRECISIONS = {"float32": None, "bfloat16": torch.bfloat16}
"""Encoder precision: float32, or bfloat16 autocast (weights, optimiser and loss stay float32).
bfloat16 needs no loss scaling; it pays off on GPUs and on CPUs with AVX-512 BF16 or AMX,
and is slower than float32 on other CPUs (see benchmarks/bench_train_options.py)."""


@dataclass(frozen=True)
class TrainConfig:
    """Every knob of one training run; frozen because it is part of a run's identity."""

    steps: int
    batch_size: int
    negatives: int
    learning_rate: float
    weight_decay: float = 1e-3
    warmup_steps: int = 0
    max_grad_norm: float = 1.0
    query_max_length: int = 32
    passage_max_length: int = 180
    seed: int = 521
    precision: str = "float32"  # or "bfloat16": autocast of the encoder, a speed option
    compile: bool = False  # torch.compile the encoder (dynamic shapes), a speed option
    fast_dropout: bool = True  # CPU dropout masks from a seeded numpy generator (drscale.train._cpu.dropout)
    epochs: float | None = None  # if set, train max(steps, ceil(epochs * D / batch_size)) steps: read every pair
    eval_points: int = 0  # dev CE measurements after the start, log-spaced over the run (0: none)
    selection: str = "last"  # "best_dev": keep the checkpoint with the lowest dev CE; "last": the final one
    dev_pairs: int = 256  # dev pairs of each dev measurement: at most this many (a smaller dev split is used whole)
    dev_pool_size: int = 512  # unlabelled passages the dev negatives are drawn from
    projection_scale: float = 1.0  # scales the random projection at initialisation (a small one starts at chance)

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "negatives", "query_max_length", "passage_max_length", "dev_pairs", "dev_pool_size"):
            value = getattr(self, name)
            if not is_integer(value) or value < 1:
                raise ValueError(f"TrainConfig.{name} must be a positive integer; got {value!r}")
        for name in ("warmup_steps", "eval_points", "seed"):
            value = getattr(self, name)
            if not is_integer(value) or value < 0:
                raise ValueError(f"TrainConfig.{name} must be a non-negative integer; got {value!r}")
        plain_numbers(self)
        for name, low in (("learning_rate", "positive"), ("projection_scale", "positive"), ("weight_decay", "non-negative")):
            value = getattr(self, name)
            if not is_finite_number(value) or not (value > 0 if low == "positive" else value >= 0):
                raise ValueError(f"TrainConfig.{name} must be a {low} finite number; got {value!r}")
        if not (is_finite_number(self.max_grad_norm) or self.max_grad_norm == float("inf")) or not self.max_grad_norm > 0:
            # a norm <= 0 would not clip: torch scales the gradient by a negative factor (gradient ascent)
            raise ValueError(f"TrainConfig.max_grad_norm must be a positive number (inf: no clipping); got {self.max_grad_norm!r}")
        if self.warmup_steps >= self.steps:
            raise ValueError(f"TrainConfig.warmup_steps must be in [0, steps={self.steps}); got {self.warmup_steps}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"TrainConfig.precision must be one of {sorted(PRECISIONS)}; got {self.precision!r}")
        for name in ("compile", "fast_dropout"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"TrainConfig.{name} must be True or False; got {getattr(self, name)!r}")
        if self.epochs is not None and not (is_finite_number(self.epochs) and self.epochs > 0):
            raise ValueError(f"TrainConfig.epochs must be a positive number or None; got {self.epochs!r}")
        if self.selection not in SELECTIONS:
            raise ValueError(f"TrainConfig.selection must be one of {SELECTIONS}; got {self.selection!r}")
        if self.selection == "best_dev" and self.eval_points == 0:
            raise ValueError("TrainConfig.selection='best_dev' needs eval_points > 0 (dev measurements to select by)")

    def steps_for(self, data_size: int) -> int:
        """Steps of a run on `data_size` pairs: `steps`, or more when `epochs` asks to read the data."""
        if self.epochs is None:
            return self.steps
        return max(self.steps, -(-int(np.ceil(self.epochs * data_size)) // self.batch_size))

    def for_data_size(self, data_size: int) -> TrainConfig:
        """This config with the step budget of `data_size` pairs written out (warm-up kept)."""
        return replace(self, steps=self.steps_for(data_size), epochs=None)

    def to_dict(self) -> dict:
        return asdict(self)


PAPER_PRESET = TrainConfig(
    steps=10_000, batch_size=128, negatives=256, query_max_length=32, passage_max_length=180,
    learning_rate=5e-6, weight_decay=1e-3, warmup_steps=0, max_grad_norm=1.0, seed=521,
    eval_points=20, selection="best_dev", dev_pairs=1000, dev_pool_size=10_000,
)
"""The released defaults with the paper's 10,000 steps, for BERT miniatures on a GPU, and the
paper's checkpoint selection by contrastive entropy measured during training, on dev
(1,000 dev pairs, a 10,000-passage pool, 20 measurements) rather than on the test set."""


CPU_PRESET = TrainConfig(
    steps=256, epochs=1.0, batch_size=32, negatives=64, query_max_length=32, passage_max_length=64,
    learning_rate=2e-3, weight_decay=1e-3, warmup_steps=20, max_grad_norm=1.0, seed=521,
    eval_points=12, selection="best_dev",
)
"""Small BERTs on a 2-core CPU: at least 256 steps and at least one epoch of the run's pairs,
best-on-dev over 12 log-spaced dev measurements (256 dev pairs, 256 negatives from a
512-passage pool), 32 pairs and 64 shared negatives a step, 64-token passages (docstrings say
what a function does up front). A 20-step warm-up: without it L4_H128 collapsed to chance
(dev CE 5.55 from step 13 on) at both 1e-3 and 2e-3. The learning rate, 2e-3, is the rate of
a size the study has no rate for: the `cpu` regime (`drscale.sweep.regime`, chosen on dev)
gives each of its sizes the rate that size chose on dev."""


def with_overrides(config: TrainConfig, **overrides: int | float | str | None) -> TrainConfig:
    """`config` with the fields named in `overrides` replaced, None included (a spec's
    `"epochs": null` turns the epoch floor off; a field that takes no None refuses it by name);
    a misspelt field is an error."""
    fields = set(config.to_dict())
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(f"unknown training setting(s) {unknown}; known: {sorted(fields)}")
    return replace(config, **overrides)
