"""The scaling laws: the one registry of their forms, variables and parameters.

Fitting, the published fits, the fit results and the budget optimisers all look a law up here
by name, so its algebra and the names and order of its parameters live in one place.

    model size:     L(N)    = (A / N) ** alpha + delta
    data size:      L(D)    = (B / D) ** beta + delta
    joint:          L(N, D) = [ (A / N) ** (alpha / beta) + B / D ] ** beta + delta
    embedding dim:  L(d)    = (C / d) ** gamma + delta
    joint dim:      L(N, d) = (A / N) ** alpha + (C / d) ** gamma + delta

The first three are the paper's (Fang et al. 2024). The last two add the embedding dimension
d, the output size of the encoder's final linear projection, after Killingback et al. (2026):
CE also falls as a power of d, jointly with model size. In the joint-dimension law N is
`encoder_params`, the encoder's non-embedding parameters without that projection, whose
H * d + d parameters grow with d and would otherwise tie N to d.

Each law also has a log-space form, log L as a logsumexp of the log scales, which stays
finite for any parameters and is what the fits minimise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Callable

import numpy as np
from numpy.typing import ArrayLike

EXPONENTS = ("alpha", "beta", "gamma")
"""The laws' exponents; every other parameter (A, B, C, delta) is a positive scale."""
EXPONENT_BOUNDS = (0.01, 5.0)
"""Search range of every exponent: wide around the paper's 0.19-1.39."""
BOUND_TOLERANCE = 1e-6
"""A fitted parameter this close to a bound of its search range is stuck there, not converged:
both fitting routes report it so."""


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


def embedding_dim_law(embedding_dim: ArrayLike, c: float, gamma: float, delta: float) -> np.ndarray:
    """Contrastive entropy predicted for embeddings of `embedding_dim` dimensions."""
    return (c / np.asarray(embedding_dim, dtype=float)) ** gamma + delta


def joint_dim_law(
    encoder_params: ArrayLike,
    embedding_dim: ArrayLike,
    a: float,
    c: float,
    alpha: float,
    gamma: float,
    delta: float,
) -> np.ndarray:
    """Contrastive entropy predicted for an encoder of `encoder_params` parameters (without its
    output projection) whose projection gives `embedding_dim`-dimensional embeddings."""
    n = np.asarray(encoder_params, dtype=float)
    d = np.asarray(embedding_dim, dtype=float)
    return (a / n) ** alpha + (c / d) ** gamma + delta


def _log_power(log_x: np.ndarray, log_scale: float, exponent: float, log_delta: float) -> np.ndarray:
    return np.logaddexp(exponent * (log_scale - log_x), log_delta)


def log_model_size_law(n_params: np.ndarray, log_a: float, alpha: float, log_delta: float) -> np.ndarray:
    """log of `model_size_law`, in logsumexp form so it stays finite for any parameters."""
    return _log_power(np.log(n_params), log_a, alpha, log_delta)


def log_data_size_law(data_size: np.ndarray, log_b: float, beta: float, log_delta: float) -> np.ndarray:
    """log of `data_size_law`, in logsumexp form."""
    return _log_power(np.log(data_size), log_b, beta, log_delta)


def log_joint_law(
    n_params: np.ndarray, data_size: np.ndarray, log_a: float, log_b: float, alpha: float, beta: float, log_delta: float
) -> np.ndarray:
    """log of `joint_law`: log L = logsumexp(beta * logsumexp(...), log delta)."""
    inner = np.logaddexp(alpha / beta * (log_a - np.log(n_params)), log_b - np.log(data_size))
    return np.logaddexp(beta * inner, log_delta)


def log_embedding_dim_law(embedding_dim: np.ndarray, log_c: float, gamma: float, log_delta: float) -> np.ndarray:
    """log of `embedding_dim_law`, in logsumexp form."""
    return _log_power(np.log(embedding_dim), log_c, gamma, log_delta)


def log_joint_dim_law(
    encoder_params: np.ndarray, embedding_dim: np.ndarray, log_a: float, log_c: float, alpha: float, gamma: float,
    log_delta: float
) -> np.ndarray:
    """log of `joint_dim_law`: logsumexp(alpha (log a - log N), gamma (log c - log d), log delta)."""
    terms = np.logaddexp(alpha * (log_a - np.log(encoder_params)), gamma * (log_c - np.log(embedding_dim)))
    return np.logaddexp(terms, log_delta)


@dataclass(frozen=True)
class Law:
    """One law: its variables and parameters, in the order its functions take them, and both forms."""

    name: str
    title: str
    variables: tuple[str, ...]
    params: tuple[str, ...]
    function: Callable[..., np.ndarray]
    log_function: Callable[..., np.ndarray]

    @property
    def exponents(self) -> tuple[str, ...]:
        return tuple(p for p in self.params if p in EXPONENTS)

    def predict(self, params: Mapping[str, ArrayLike], *x: ArrayLike) -> np.ndarray:
        """The law at `x` (its variables, in order) with `params` by name."""
        return self.function(*x, **params)

    def parameters(self, values: Mapping[str, object], source: str = "law") -> dict[str, float]:
        """This law's parameters taken from `values`, as floats in the law's order.

        `source` names what `values` came from in the error raised when one is missing.
        """
        if not isinstance(values, Mapping) or set(self.params) - set(values):
            raise ValueError(f"`{source}` must carry {self.name}-law parameters {self.params}, got {values!r}")
        return {p: float(values[p]) for p in self.params}


LAWS = {
    "model_size": Law("model_size", "L(N) = (A/N)^alpha + delta", ("n_params",), ("a", "alpha", "delta"),
                      model_size_law, log_model_size_law),
    "data_size": Law("data_size", "L(D) = (B/D)^beta + delta", ("data_size",), ("b", "beta", "delta"),
                     data_size_law, log_data_size_law),
    "joint": Law("joint", "L(N,D) = [(A/N)^(alpha/beta) + B/D]^beta + delta", ("n_params", "data_size"),
                 ("a", "b", "alpha", "beta", "delta"), joint_law, log_joint_law),
    "embedding_dim": Law("embedding_dim", "L(d) = (C/d)^gamma + delta", ("embedding_dim",), ("c", "gamma", "delta"),
                         embedding_dim_law, log_embedding_dim_law),
    "joint_dim": Law("joint_dim", "L(N,d) = (A/N)^alpha + (C/d)^gamma + delta", ("encoder_params", "embedding_dim"),
                     ("a", "c", "alpha", "gamma", "delta"), joint_dim_law, log_joint_dim_law),
}


def get(law: str) -> Law:
    """The law named `law`: one of `LAWS` ("model_size", "data_size", "joint", "embedding_dim", "joint_dim")."""
    if law not in LAWS:
        raise ValueError(f"law={law!r} is unknown; choose one of {sorted(LAWS)}")
    return LAWS[law]
