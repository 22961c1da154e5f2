"""Value checks shared by every configuration: integers, finite numbers, numpy scalars made plain."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def is_integer(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def plain_numbers(config: object) -> None:
    """Replace numpy scalars by Python numbers in a frozen dataclass, so a value from
    `np.logspace` and the same value typed in hash to the same run id."""
    for name, value in vars(config).items():
        if isinstance(value, np.integer):
            object.__setattr__(config, name, int(value))
        elif isinstance(value, np.floating):
            object.__setattr__(config, name, float(value))


def is_finite_number(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) and bool(np.isfinite(value))


def geometric_mean(values: ArrayLike) -> float:
    """exp(mean(log values)): the mean of a point's runs in the log space every law is fitted in;
    a single value is returned as it is."""
    values = np.asarray(values, dtype=float)
    return float(values[0]) if values.size == 1 else float(np.exp(np.log(values).mean()))


def check_int(name: str, value: object, minimum: int = 0, optional: bool = False) -> None:
    """Refuse anything but an integer >= `minimum` (or None when `optional`), naming the
    parameter. Counts and seeds are checked where they enter: a string would otherwise fail
    later in a comparison, and a negative count would slice from the end and drop data."""
    if optional and value is None:
        return
    if not is_integer(value) or value < minimum:
        kind = {0: "a non-negative integer", 1: "a positive integer"}.get(minimum, f"an integer >= {minimum}")
        raise ValueError(f"{name} must be {kind}{' or None' if optional else ''}; got {value!r}")
