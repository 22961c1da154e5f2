"""Value checks shared by every configuration: integers, finite numbers, numpy scalars made plain."""

from __future__ import annotations

import numpy as np


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
