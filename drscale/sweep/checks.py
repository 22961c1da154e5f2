"""Checks a sweep makes before any run trains, so that what could only fail later fails now, naming the setting."""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

from drscale.data.corpus import RetrievalData
from drscale.model.checkpoint import CHECKPOINT_MANIFEST, checkpoint_problem
from drscale.model.encoder import MODEL_SIZES, fetch_hub_model, is_hub_id, max_positions
from drscale.sweep.config import RunConfig


def check_feasible(config: RunConfig, data: RetrievalData) -> None:
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
                f"dev_pool_size {config.train.dev_pool_size} exceeds the {len(data.unlabelled_rows())} pool "
                f"passages of {data.name}: set train's dev_pool_size, or prepare the data with a larger pool split "
                f"(pool_queries)"
            )
    if config.train.negatives + config.train.batch_size > len(data.corpus):
        raise ValueError(
            f"training negatives ({config.train.negatives}) plus batch_size ({config.train.batch_size}) exceed the "
            f"{len(data.corpus)} passages of {data.name}"
        )
    available = len(data.unlabelled_rows())
    pool = config.evaluation.pool_size or available
    if pool > available:
        raise ValueError(f"evaluation pool_size {pool} exceeds the {available} pool passages of {data.name} "
                         f"(its pool split, or every passage but the test and dev positives)")
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


def warn_unread_pairs(configs: Sequence[RunConfig]) -> None:
    """Warn, with the numbers, about runs whose step budget reads fewer pairs than their data
    size: past that size a data-size law only measures the budget."""
    short = [(c.data_size, c.train.steps_for(c.data_size), c.train.batch_size) for c in configs
             if c.train.steps_for(c.data_size) * c.train.batch_size < c.data_size]
    if short:
        described = ", ".join(f"D={d} reads {steps} steps x {batch} = {steps * batch} pairs"
                              for d, steps, batch in sorted(set(short)))
        warnings.warn(f"{len(short)} run(s) cannot read all their training pairs ({described}); set "
                      f"TrainConfig.epochs (e.g. 1) to make the budget read every pair", stacklevel=3)


def check_writable(folder: Path) -> None:
    """Refuse a folder the sweep will write into (store, pretrained models, checkpoints) that
    cannot be created or written, before any run trains rather than after the first."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise PermissionError(f"{folder} cannot be written ({error.strerror or error}); nothing was trained: "
                              f"pick a writable folder") from None
