"""The robust route: a Huber fit of log L from a grid of starts, as in Besiroglu et al. (2024).

log L = logsumexp(e * (log S - log x), log delta) is fitted with scales as logs and a Huber
loss on log residuals (scipy `least_squares` through lmfit, loss summed over points); the
best of several starts is kept and its convergence checked. It serves every law, and is the
only route for the two-variable laws (joint and joint_dim).
"""

from __future__ import annotations

import itertools
import math

import lmfit
import numpy as np

from drscale.fit.laws import BOUND_TOLERANCE, EXPONENT_BOUNDS, Law

LOG_SCALE_BOUNDS = (-100.0, 100.0)
HUBER_SCALE = 1e-3
"""Huber threshold on log residuals, as in Besiroglu et al. (2024)."""
POLISHED_STARTS = 3
"""How many of the best least-squares fits of the start grid get the Huber polish."""


def _lmfit_params(law: Law, start: dict[str, float], log_y: np.ndarray) -> lmfit.Parameters:
    params = lmfit.Parameters()
    for name in law.params:
        if name in law.exponents:
            params.add(name, value=float(np.clip(start[name], *EXPONENT_BOUNDS)), min=EXPONENT_BOUNDS[0],
                       max=EXPONENT_BOUNDS[1])
        elif name == "delta":
            lo, hi = log_y.min() - 25.0, log_y.max()
            params.add("log_delta", value=float(np.clip(math.log(start[name]), lo + 1e-3, hi - 1e-3)), min=lo, max=hi)
        else:
            params.add(f"log_{name}", value=float(np.clip(math.log(start[name]), *LOG_SCALE_BOUNDS)),
                       min=LOG_SCALE_BOUNDS[0], max=LOG_SCALE_BOUNDS[1])
    return params


def _starts(law: Law, x: dict[str, np.ndarray], y: np.ndarray) -> list[dict[str, float]]:
    """A grid over exponents and delta; scales chosen so the law passes near the data's centre."""
    centre = {name: float(np.exp(np.log(arr).mean())) for name, arr in x.items()}
    starts = []
    exponents = (0.1, 0.3, 0.7, 1.5)
    for fraction, *expo in itertools.product((0.1, 0.5, 0.9), *([exponents] * len(law.exponents))):
        delta = fraction * y.min()
        excess = y.mean() - delta
        if law.name == "joint":
            alpha, beta = expo
            half = 0.5 * excess ** (1 / beta)  # each inner term carries half of (L - delta)^(1/beta)
            starts.append({"a": centre["n_params"] * half ** (beta / alpha), "b": centre["data_size"] * half,
                           "alpha": alpha, "beta": beta, "delta": delta})
        elif law.name == "joint_dim":
            alpha, gamma = expo  # each power term carries half of L - delta at the data's centre
            starts.append({"a": centre["encoder_params"] * (excess / 2) ** (1 / alpha),
                           "c": centre["embedding_dim"] * (excess / 2) ** (1 / gamma),
                           "alpha": alpha, "gamma": gamma, "delta": delta})
        else:
            (exponent,) = expo
            scale, expo_name, _ = law.params
            starts.append({scale: centre[law.variables[0]] * excess ** (1 / exponent), expo_name: exponent,
                           "delta": delta})
    return starts


def _robust_cost(residual: np.ndarray, f_scale: float) -> float:
    """scipy's Huber cost, 0.5 * sum f^2 rho((r/f)^2): the quantity the starts compete on."""
    z = (residual / f_scale) ** 2
    rho = np.where(z <= 1, z, 2 * np.sqrt(z) - 1)
    return float(0.5 * f_scale**2 * rho.sum())


def lmfit_fit(
    law: Law, x: dict[str, np.ndarray], y: np.ndarray, starts: list[dict[str, float]] | None = None,
    huber_scale: float = HUBER_SCALE,
) -> tuple[dict[str, float], bool, str]:
    """Huber log-space fit, best of several starts; returns (params, converged, description).

    With no `starts`, every point of the start grid is first fitted by plain least squares,
    and the best `POLISHED_STARTS` of those are refitted with the Huber loss: a Huber scale
    of 1e-3 makes the loss nearly L1, which trust-region steps cross slowly from far starts
    (about 1,000 evaluations each against about 80 for least squares), while from a nearby
    start it converges in a few. Given `starts` (a warm start), only the Huber fit runs.
    """
    model = lmfit.Model(law.log_function, independent_vars=list(law.variables))
    log_y = np.log(y)

    def run(start: dict[str, float] | lmfit.Parameters, loss: str) -> lmfit.model.ModelResult:
        params = start if isinstance(start, lmfit.Parameters) else _lmfit_params(law, start, log_y)
        with np.errstate(invalid="ignore", divide="ignore"):  # lmfit's correlations at a flat optimum
            return model.fit(log_y, params, method="least_squares", fit_kws={"loss": loss, "f_scale": huber_scale},
                             calc_covar=False, **x)

    if starts is None:
        grid = _starts(law, x, y)
        coarse = sorted((run(start, "linear") for start in grid), key=lambda r: float(r.chisqr))
        polished = [run(r.params, "huber") for r in coarse[:POLISHED_STARTS]]
        how = f"{len(grid)} least-squares starts, best {len(polished)} polished"
    else:
        polished = [run(start, "huber") for start in starts]
        how = f"{len(starts)} start(s)"
    best = min(polished, key=lambda r: _robust_cost(r.residual, huber_scale))
    values = best.params.valuesdict()
    params = {name: float(math.exp(values[f"log_{name}"]) if f"log_{name}" in values else values[name])
              for name in law.params}
    at_bound = [n for n, p in best.params.items() if p.vary and min(p.value - p.min, p.max - p.value) < BOUND_TOLERANCE]
    converged = bool(best.success) and not at_bound
    description = f"lmfit least_squares, Huber f_scale={huber_scale:g} on log L, {how}"
    if at_bound:
        description += f"; at bound: {', '.join(at_bound)}"
    return params, converged, description
