"""Golden-section search over whole arrays of brackets at once.

SciPy's bounded minimisers solve one scalar problem per call. The exponent of every
bootstrap resample (`drscale.fit.projection`) and the budget split of every (bootstrap
sample, budget) pair (`drscale.budget.cost`) are thousands of independent one-dimensional
problems; shrinking all their brackets together in NumPy keeps them a fraction of a second.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

import numpy as np

GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0
"""The ratio by which each step shrinks a bracket."""


@dataclass(frozen=True)
class Bracket:
    """Where the search ended: the final brackets and the better of their two inner points."""

    low: np.ndarray
    high: np.ndarray
    best: np.ndarray

    @property
    def middle(self) -> np.ndarray:
        return (self.low + self.high) / 2


def golden_section(
    objective: Callable[[np.ndarray], np.ndarray],
    low: np.ndarray,
    high: np.ndarray,
    iterations: int,
    tie: Literal["low", "high"],
) -> Bracket:
    """Minimise a unimodal `objective` on [low, high] elementwise, `iterations` steps.

    `objective` maps an array of points shaped like `low` to their values. When the two
    inner points of a bracket have equal values, `tie` says which end of the bracket is
    kept: once the values differ by less than their rounding, equal values are common, and
    the side kept decides the last digits of the answer.
    """
    if tie not in ("low", "high"):
        raise ValueError(f"tie must be 'low' or 'high'; got {tie!r}")

    def lower_half(f1: np.ndarray, f2: np.ndarray) -> np.ndarray:
        return f1 <= f2 if tie == "low" else f1 < f2

    x1, x2 = high - GOLDEN * (high - low), low + GOLDEN * (high - low)
    f1, f2 = objective(x1), objective(x2)
    for _ in range(iterations):
        left = lower_half(f1, f2)  # the minimum lies in [low, x2]
        high, low = np.where(left, x2, high), np.where(left, low, x1)
        new = np.where(left, high - GOLDEN * (high - low), low + GOLDEN * (high - low))
        f_new = objective(new)
        x1, x2 = np.where(left, new, x2), np.where(left, x1, new)
        f1, f2 = np.where(left, f_new, f2), np.where(left, f1, f_new)
    return Bracket(low, high, np.where(lower_half(f1, f2), x1, x2))
