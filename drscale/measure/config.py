"""How contrastive entropy is measured on a run's test pairs: W negatives, R repeats, a pool sample, a seed."""

from __future__ import annotations

import math
from dataclasses import dataclass

from drscale.common.values import is_integer, plain_numbers


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
            raise ValueError(f"EvalConfig.pool_size must be a positive integer or None (the whole pool); "
                             f"got {self.pool_size!r}")
        if not is_integer(self.seed) or self.seed < 0:
            raise ValueError(f"EvalConfig.seed must be a non-negative integer; got {self.seed!r}")
        if not isinstance(self.ranking, bool):
            raise ValueError(f"EvalConfig.ranking must be True or False; got {self.ranking!r}")

    @property
    def chance(self) -> float:
        """The CE of a model that cannot tell the positive from the W negatives: ln(W + 1)."""
        return math.log(self.negatives + 1)
