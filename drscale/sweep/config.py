"""A run and its grids: `RunConfig` fully describes one training run; grids make the runs of a law.

A run's id (`RunConfig.run_id`) hashes its config and the data fingerprint: it keys the
results store, so a sweep re-run skips what is done.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from drscale.common.files import config_hash
from drscale.common.values import is_integer, plain_numbers
from drscale.measure.config import EvalConfig
from drscale.model.encoder import OUTPUT_DIM, expand_models, is_built_model, model_entry_problem
from drscale.train.config import TrainConfig
from drscale.train.pretrain import Pretraining, PretrainJob


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
    embedding_dim: int = OUTPUT_DIM  # d: the output size of the encoder's projection, the vectors an index stores

    def __post_init__(self) -> None:
        problem = model_entry_problem(self.model)
        if problem is not None:
            raise ValueError(f"model: {problem}")
        plain_numbers(self)  # a numpy integer hashes like the same Python one
        for name, low in (("data_size", 1), ("threads", 1), ("init_seed", 0), ("subset_seed", 0), ("embedding_dim", 1)):
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
        if self.embedding_dim == OUTPUT_DIM:
            del config["embedding_dim"]  # and runs at the paper's 768 dimensions
        # Runs whose training changed with the code get new ids, so a store never mixes the two:
        if self.train.eval_points == 1:
            config["dev_point"] = "end"  # a single dev measurement is the run's last step (it was its first)
        if self.init_seed and not is_built_model(self.model):
            config["projection_seed"] = self.init_seed  # a folder or hub model's projection follows init_seed (it was 0)
        return config_hash({"config": config, "data": data_fingerprint})

    def pretrain_job(self) -> PretrainJob | None:
        """The pre-training this run starts from (shared by every run of the same size and settings)."""
        if self.pretraining is None:
            return None
        return PretrainJob(self.model, self.init_seed, self.pretraining, self.pretraining.train_config(self.train),
                           self.threads, self.embedding_dim)


def model_size_grid(models: Sequence[str], data_size: int, train_config: TrainConfig, **kwargs: Any) -> list[RunConfig]:
    """Runs for the model-size law: each model (family names expanded) on the same `data_size` pairs."""
    return [RunConfig(model=m, data_size=data_size, train=train_config, **kwargs) for m in expand_models(models)]


def data_size_grid(model: str, data_sizes: Sequence[int], train_config: TrainConfig, **kwargs: Any) -> list[RunConfig]:
    """Runs for the data-size law: one model on nested subsets of `data_sizes` pairs."""
    return [RunConfig(model=model, data_size=int(d), train=train_config, **kwargs) for d in data_sizes]
