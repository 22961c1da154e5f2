"""Variable projection for the one-variable laws: one fit, or every bootstrap resample at once.

For a fixed exponent e the law L(x) = c * (x / x_ref) ** -e + delta is linear in
(c, delta), so each exponent needs only a two-variable non-negative least-squares solve;
the exponent is then found by a 1-D search over a coarse grid and a refinement inside the
best bracket. `varpro_fit` is the readable one-fit version (scipy `nnls` and
`minimize_scalar`); `varpro_batch` runs both steps for every resample at once in NumPy
(closed-form 2x2 NNLS, a shared grid, then golden-section search on all brackets), which is
what makes 1,000 resamples take a fraction of a second instead of 1,000 multi-start fits.
A test holds the two to the same answer.

The loss is log-space least squares, sum (log Lhat - log L)^2: the inner solve is a few
Gauss-Newton steps, each a weighted linear least-squares problem in (c, delta).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import minimize_scalar, nnls

from drscale.common.search import golden_section
from drscale.fit.laws import BOUND_TOLERANCE, EXPONENT_BOUNDS, Law

GAUSS_NEWTON_STEPS = 4
"""Inner steps per exponent; the first is relative-error least squares, later ones polish."""
REFINE_STEPS = 40
"""Golden-section steps inside each resample's best grid bracket."""

_TINY = 1e-300


def log_space_targets(fitted: np.ndarray, log_y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Target and weights of one Gauss-Newton step of log-space least squares.

    Linearising log(Lhat + h) ~ log Lhat + h / Lhat turns sum (log Lhat - log L)^2 into
    sum w (Lnew - z)^2 with w = 1 / Lhat^2 and z = Lhat (1 + log L - log Lhat).
    """
    return fitted * (1.0 + log_y - np.log(fitted)), 1.0 / fitted**2


def exponent_grid(bounds: tuple[float, float], centre: float | None, size: int = 48) -> np.ndarray:
    """Coarse exponent grid: geometric over `bounds`, denser within a factor 2 of `centre`.

    The dense part is the warm start: a resample's optimum is usually near the full fit's.
    """
    lo, hi = bounds
    grid = np.geomspace(lo, hi, size)
    if centre is not None:
        grid = np.concatenate([grid, np.geomspace(max(lo, centre / 2), min(hi, centre * 2), size // 2)])
    return np.unique(grid)


def law_params(law: Law, log_ref: float, c: ArrayLike, exponent: ArrayLike, delta: ArrayLike) -> dict:
    """Map c (x/x_ref)^-e back to the law's (S/x)^e: S = x_ref * c^(1/e); c = 0 means S = 0.

    Scalars give floats, arrays (one value per resample) give arrays.
    """
    c, exponent = np.asarray(c, dtype=float), np.asarray(exponent, dtype=float)
    with np.errstate(divide="ignore"):
        scale = np.where(c > 0, np.exp(log_ref + np.log(np.maximum(c, _TINY)) / exponent), 0.0)
    scale_name, exponent_name, _ = law.params
    as_out = float if scale.ndim == 0 else np.asarray
    return {scale_name: as_out(scale), exponent_name: as_out(exponent), "delta": as_out(np.asarray(delta, float))}


# ---------------------------------------------------------------- one fit


def _inner(u: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """(c, delta, log-space SSE) for fixed u = (x/x_ref)^-e: Gauss-Newton steps, each an nnls."""
    log_y, fitted = np.log(y), y
    design = np.column_stack([u, np.ones_like(u)])
    for _ in range(GAUSS_NEWTON_STEPS):
        z, w = log_space_targets(fitted, log_y)
        (c, d), _ = nnls(design * np.sqrt(w)[:, None], z * np.sqrt(w))
        fitted = np.maximum(c * u + d, _TINY)
    return float(c), float(d), float(((np.log(fitted) - log_y) ** 2).sum())


def varpro_fit(law: Law, x: dict[str, np.ndarray], y: np.ndarray) -> tuple[dict[str, float], bool, str]:
    """Variable projection for a one-variable law: nnls per exponent, coarse grid, then Brent."""
    log_x = np.log(x[law.variables[0]])
    log_ref = float(log_x.mean())

    def profile(e: float) -> float:
        return _inner(np.exp(-e * (log_x - log_ref)), y)[2]

    grid = exponent_grid(EXPONENT_BOUNDS, None)
    k = int(np.argmin([profile(e) for e in grid]))
    bracket = (grid[max(k - 1, 0)], grid[min(k + 1, grid.size - 1)])
    search = minimize_scalar(profile, bounds=bracket, method="bounded", options={"xatol": 1e-10})
    exponent = float(search.x)
    c, delta, _ = _inner(np.exp(-exponent * (log_x - log_ref)), y)
    params = law_params(law, log_ref, c, exponent, delta)
    description = "variable projection (nnls + bounded Brent)"
    at_bound = bool(at_exponent_bound(np.array(exponent)))
    if at_bound:
        description += f"; at bound: {law.exponents[0]}"
    return params, bool(search.success) and not at_bound and c > 0, description


def at_exponent_bound(exponent: np.ndarray) -> np.ndarray:
    """Whether each exponent sits at a bound of its search: the data did not pin it."""
    return np.minimum(exponent - EXPONENT_BOUNDS[0], EXPONENT_BOUNDS[1] - exponent) < BOUND_TOLERANCE


# ---------------------------------------------------------------- every resample at once


def _nnls2(u: np.ndarray, z: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """min over c, d >= 0 of sum w (c u + d - z)^2 along the last axis, in closed form.

    The minimiser is the unconstrained solution when it is feasible, else the better of
    the two one-variable solutions on the boundary (c = 0 or d = 0).
    """
    sw, swu, swz = w.sum(-1), (w * u).sum(-1), (w * z).sum(-1)
    swuu, swuz = (w * u * u).sum(-1), (w * u * z).sum(-1)
    det = swuu * sw - swu**2
    safe = np.where(det > 0, det, 1.0)
    c_free = (sw * swuz - swu * swz) / safe
    d_free = (swuu * swz - swu * swuz) / safe
    c_only = np.maximum(swuz / swuu, 0.0)
    d_only = np.maximum(swz / sw, 0.0)

    def cost(c: np.ndarray, d: np.ndarray) -> np.ndarray:
        return (w * (c[..., None] * u + d[..., None] - z) ** 2).sum(-1)

    use_c_only = cost(c_only, np.zeros_like(c_only)) < cost(np.zeros_like(d_only), d_only)
    c = np.where(use_c_only, c_only, 0.0)
    d = np.where(use_c_only, 0.0, d_only)
    free_ok = (det > 0) & (c_free >= 0) & (d_free >= 0)
    return np.where(free_ok, c_free, c), np.where(free_ok, d_free, d)


def _profile(exponent: np.ndarray, log_x: np.ndarray, log_y: np.ndarray) -> tuple[np.ndarray, ...]:
    """Best (c, delta) and log-space SSE for each exponent.

    Shapes: `exponent` (B, K), `log_x` and `log_y` (B, n) with log_x already centred on
    log x_ref; returns three (B, K) arrays.
    """
    u = np.exp(-exponent[..., None] * log_x[:, None, :])
    ly = log_y[:, None, :]
    fitted = np.broadcast_to(np.exp(ly), u.shape)
    for _ in range(GAUSS_NEWTON_STEPS):
        z, w = log_space_targets(fitted, ly)
        c, d = _nnls2(u, z, w)
        fitted = np.maximum(c[..., None] * u + d[..., None], _TINY)
    return c, d, ((np.log(fitted) - ly) ** 2).sum(-1)


def varpro_batch(
    log_x: np.ndarray,
    log_y: np.ndarray,
    bounds: tuple[float, float],
    centre: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit L = c (x/x_ref)^-e + delta to each row of `log_x`, `log_y` (shape (B, n)).

    `log_x` must be centred (log x - log x_ref). Returns (c, e, delta), each of shape (B,).
    Coarse grid first (the profile can have several local minima), then golden-section
    search inside the bracket around each row's best grid point.
    """
    grid = exponent_grid(bounds, centre)
    _, _, sse = _profile(np.broadcast_to(grid, (log_x.shape[0], grid.size)), log_x, log_y)
    best = sse.argmin(axis=1)
    lo = grid[np.maximum(best - 1, 0)]
    hi = grid[np.minimum(best + 1, grid.size - 1)]

    def objective(e: np.ndarray) -> np.ndarray:
        return _profile(e[:, None], log_x, log_y)[2][:, 0]

    exponent = golden_section(objective, lo, hi, REFINE_STEPS, tie="high").best
    c, d, _ = _profile(exponent[:, None], log_x, log_y)
    return c[:, 0], exponent, d[:, 0]


def resampled_params(law: Law, x: np.ndarray, y: np.ndarray, rows: np.ndarray, exponent: float) -> tuple[dict, np.ndarray]:
    """The law's parameters refitted on each resample (`rows`: run indices, one row per resample),
    and whether each refit converged cleanly by the full fit's rule (exponent inside its
    bounds, a positive scale).

    `exponent` is the full fit's, around which the exponent grid is densest.
    """
    log_x = np.log(x)
    log_ref = float(log_x.mean())
    c, e, d = varpro_batch(log_x[rows] - log_ref, np.log(y)[rows], EXPONENT_BOUNDS, centre=exponent)
    return law_params(law, log_ref, c, e, d), ~at_exponent_bound(e) & (c > 0)
