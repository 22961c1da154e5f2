"""The paper's three scaling laws as plain, vectorised NumPy functions.

Every other module (fitting, published references, cost optimisation) evaluates the laws
through these functions, so the algebra lives in exactly one place.

    model size:  L(N)    = (A / N) ** alpha + delta
    data size:   L(D)    = (B / D) ** beta + delta
    joint:       L(N, D) = [ (A / N) ** (alpha / beta) + B / D ] ** beta + delta
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def model_size_law(n_params: ArrayLike, a: float, alpha: float, delta: float) -> np.ndarray:
    """Contrastive entropy predicted for models of `n_params` non-embedding parameters."""
    return (a / np.asarray(n_params, dtype=float)) ** alpha + delta


def data_size_law(data_size: ArrayLike, b: float, beta: float, delta: float) -> np.ndarray:
    """Contrastive entropy predicted for `data_size` annotated query-passage pairs."""
    return (b / np.asarray(data_size, dtype=float)) ** beta + delta


def joint_law(
    n_params: ArrayLike,
    data_size: ArrayLike,
    a: float,
    b: float,
    alpha: float,
    beta: float,
    delta: float,
) -> np.ndarray:
    """Contrastive entropy predicted for a model of `n_params` trained on `data_size` pairs."""
    n = np.asarray(n_params, dtype=float)
    d = np.asarray(data_size, dtype=float)
    return ((a / n) ** (alpha / beta) + b / d) ** beta + delta
