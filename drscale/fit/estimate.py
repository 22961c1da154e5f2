"""Fit the paper's scaling laws to sweep results, with bootstrap uncertainty.

Two routes, following Besiroglu et al.'s Chinchilla replication and Open-Athena's variable
projection:
- `lmfit`: log L = logsumexp(e * (log S - log x), log delta) with scales as logs, a Huber
  loss on log residuals (scipy `least_squares`, loss summed over points), a grid of starts,
  the best kept and its convergence checked. Serves all three laws.
- `varpro` (one-variable laws): for a fixed exponent the law is linear in (S^e, delta), so
  non-negative least squares solves the rest and a 1-D search finds the exponent.

Uncertainty comes from resampling runs with replacement: the one-variable laws use the
vectorised variable projection of `drscale.fit.bootstrap` (1,000 resamples in well under a
second), the joint law warm-started lmfit refits. A percentile interval describes the
estimator that was resampled, so `method="auto"` gives the one-variable laws the variable
projection estimate (log-space least squares) and the joint law lmfit; the other route is
still fitted and compared (`RouteCheck`). Choosing `method="lmfit"` for a one-variable law
keeps the Huber estimate, but its intervals still come from the variable projection.
`FitResult` (in `drscale.fit.result`) carries the estimate, the resamples and the checks.
"""

from __future__ import annotations

import itertools
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import lmfit
import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.optimize import minimize_scalar, nnls

from drscale.fit import bootstrap

from drscale.fit import laws
from drscale.fit.result import Extrapolation, FitResult, RouteCheck, checks_table, load_fits, save_fits

__all__ = ["FitResult", "checks_table", "fit_law", "fit_model_size", "fit_data_size", "fit_joint", "load_fits", "save_fits",
           "read_sweep_table", "fit_runs", "usable_runs", "check_one_study"]

EXPONENT_BOUNDS = (0.01, 5.0)
"""Search range of alpha and beta: wide around the paper's 0.19-1.39."""
LOG_SCALE_BOUNDS = (-100.0, 100.0)
HUBER_SCALE = 1e-3
"""Huber threshold on log residuals, as in Besiroglu et al. (2024)."""
ROUTE_RTOL = 0.01
"""The routes agree when their predictions differ by less than the runs' scatter about the
fit (root-mean-square log residual) or 1%, whichever is larger, over the observed range:
a gap inside the noise is no disagreement (Huber at this scale is near L1, varpro is L2)."""


def _log_power(log_x: np.ndarray, log_scale: float, exponent: float, log_delta: float) -> np.ndarray:
    return np.logaddexp(exponent * (log_scale - log_x), log_delta)


def _log_model_size(n_params: np.ndarray, log_a: float, alpha: float, log_delta: float) -> np.ndarray:
    """log of `laws.model_size_law`, in logsumexp form so it stays finite for any parameters."""
    return _log_power(np.log(n_params), log_a, alpha, log_delta)


def _log_data_size(data_size: np.ndarray, log_b: float, beta: float, log_delta: float) -> np.ndarray:
    """log of `laws.data_size_law`, in logsumexp form."""
    return _log_power(np.log(data_size), log_b, beta, log_delta)


def _log_joint(
    n_params: np.ndarray, data_size: np.ndarray, log_a: float, log_b: float, alpha: float, beta: float, log_delta: float
) -> np.ndarray:
    """log of `laws.joint_law`: log L = logsumexp(beta * logsumexp(...), log delta)."""
    inner = np.logaddexp(alpha / beta * (log_a - np.log(n_params)), log_b - np.log(data_size))
    return np.logaddexp(beta * inner, log_delta)


@dataclass(frozen=True)
class LawSpec:
    """One law: its variables, parameters, NumPy form (drscale.fit.laws) and log-space form."""

    name: str
    title: str
    variables: tuple[str, ...]
    params: tuple[str, ...]
    law: Callable[..., np.ndarray]
    log_law: Callable[..., np.ndarray]

    @property
    def exponents(self) -> tuple[str, ...]:
        return tuple(p for p in self.params if p in ("alpha", "beta"))

    @property
    def scales(self) -> tuple[str, ...]:
        return tuple(p for p in self.params if p in ("a", "b", "delta"))

    def predict(self, params: dict[str, float], *x: ArrayLike) -> np.ndarray:
        return self.law(*x, **params)


LAWS = {
    "model_size": LawSpec("model_size", "L(N) = (A/N)^alpha + delta", ("n_params",), ("a", "alpha", "delta"),
                          laws.model_size_law, _log_model_size),
    "data_size": LawSpec("data_size", "L(D) = (B/D)^beta + delta", ("data_size",), ("b", "beta", "delta"),
                         laws.data_size_law, _log_data_size),
    "joint": LawSpec("joint", "L(N,D) = [(A/N)^(alpha/beta) + B/D]^beta + delta", ("n_params", "data_size"),
                     ("a", "b", "alpha", "beta", "delta"), laws.joint_law, _log_joint),
}


# ---------------------------------------------------------------- validation


def _positive_finite(name: str, values: ArrayLike) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional; got shape {arr.shape}")
    bad = ~np.isfinite(arr) | (arr <= 0)
    if bad.any():
        i = int(np.argmax(bad))
        hint = "" if np.isfinite(arr[i]) else " (a failed run? fit_runs leaves failed runs out and names them)"
        raise ValueError(f"{name}[{i}] = {float(arr[i])!r}: every value must be finite and positive{hint}")
    return arr


def validate(spec: LawSpec, variables: dict[str, ArrayLike], ce: ArrayLike) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Check inputs at the door: finite, positive, equal lengths, enough (distinct) points."""
    y = _positive_finite("ce", ce)
    x = {name: _positive_finite(name, variables[name]) for name in spec.variables}
    for name, arr in x.items():
        if arr.size != y.size:
            raise ValueError(f"{name} has {arr.size} values but ce has {y.size}; they must pair up run by run")
    need = len(spec.params) + 1
    if y.size < need:
        raise ValueError(f"ce has {y.size} points; the {spec.name} law has {len(spec.params)} parameters, "
                         f"so it needs at least {need}")
    min_distinct = 3 if len(spec.variables) == 1 else 2
    for name, arr in x.items():
        distinct = np.unique(arr).size
        if distinct < min_distinct:
            raise ValueError(f"{name} has {distinct} distinct value(s); the {spec.name} law needs at least {min_distinct}")
    return x, y


# ---------------------------------------------------------------- the two routes


def _lmfit_params(spec: LawSpec, start: dict[str, float], log_y: np.ndarray) -> lmfit.Parameters:
    params = lmfit.Parameters()
    for name in spec.params:
        if name in spec.exponents:
            params.add(name, value=float(np.clip(start[name], *EXPONENT_BOUNDS)), min=EXPONENT_BOUNDS[0],
                       max=EXPONENT_BOUNDS[1])
        elif name == "delta":
            lo, hi = log_y.min() - 25.0, log_y.max()
            params.add("log_delta", value=float(np.clip(math.log(start[name]), lo + 1e-3, hi - 1e-3)), min=lo, max=hi)
        else:
            params.add(f"log_{name}", value=float(np.clip(math.log(start[name]), *LOG_SCALE_BOUNDS)),
                       min=LOG_SCALE_BOUNDS[0], max=LOG_SCALE_BOUNDS[1])
    return params


def _lmfit_starts(spec: LawSpec, x: dict[str, np.ndarray], y: np.ndarray) -> list[dict[str, float]]:
    """A grid over exponents and delta; scales chosen so the law passes near the data's centre."""
    centre = {name: float(np.exp(np.log(arr).mean())) for name, arr in x.items()}
    starts = []
    exponents = (0.1, 0.3, 0.7, 1.5)
    for fraction, *expo in itertools.product((0.1, 0.5, 0.9), *([exponents] * len(spec.exponents))):
        delta = fraction * y.min()
        excess = y.mean() - delta
        if spec.name == "joint":
            alpha, beta = expo
            half = 0.5 * excess ** (1 / beta)  # each inner term carries half of (L - delta)^(1/beta)
            starts.append({"a": centre["n_params"] * half ** (beta / alpha), "b": centre["data_size"] * half,
                           "alpha": alpha, "beta": beta, "delta": delta})
        else:
            (exponent,) = expo
            scale, expo_name, _ = spec.params
            starts.append({scale: centre[spec.variables[0]] * excess ** (1 / exponent), expo_name: exponent,
                           "delta": delta})
    return starts


def _robust_cost(residual: np.ndarray, f_scale: float) -> float:
    """scipy's Huber cost, 0.5 * sum f^2 rho((r/f)^2): the quantity the starts compete on."""
    z = (residual / f_scale) ** 2
    rho = np.where(z <= 1, z, 2 * np.sqrt(z) - 1)
    return float(0.5 * f_scale**2 * rho.sum())


POLISHED_STARTS = 3
"""How many of the best least-squares fits of the start grid get the Huber polish."""


def lmfit_fit(
    spec: LawSpec, x: dict[str, np.ndarray], y: np.ndarray, starts: list[dict[str, float]] | None = None,
    huber_scale: float = HUBER_SCALE,
) -> tuple[dict[str, float], bool, str]:
    """Huber log-space fit, best of several starts; returns (params, converged, description).

    With no `starts`, every point of the start grid is first fitted by plain least squares,
    and the best `POLISHED_STARTS` of those are refitted with the Huber loss: a Huber scale
    of 1e-3 makes the loss nearly L1, which trust-region steps cross slowly from far starts
    (about 1,000 evaluations each against about 80 for least squares), while from a nearby
    start it converges in a few. Given `starts` (a warm start), only the Huber fit runs.
    """
    model = lmfit.Model(spec.log_law, independent_vars=list(spec.variables))
    log_y = np.log(y)

    def run(start: dict[str, float] | lmfit.Parameters, loss: str) -> lmfit.model.ModelResult:
        params = start if isinstance(start, lmfit.Parameters) else _lmfit_params(spec, start, log_y)
        with np.errstate(invalid="ignore", divide="ignore"):  # lmfit's correlations at a flat optimum
            return model.fit(log_y, params, method="least_squares", fit_kws={"loss": loss, "f_scale": huber_scale},
                             calc_covar=False, **x)

    if starts is None:
        grid = _lmfit_starts(spec, x, y)
        coarse = sorted((run(start, "linear") for start in grid), key=lambda r: float(r.chisqr))
        polished = [run(r.params, "huber") for r in coarse[:POLISHED_STARTS]]
        how = f"{len(grid)} least-squares starts, best {len(polished)} polished"
    else:
        polished = [run(start, "huber") for start in starts]
        how = f"{len(starts)} start(s)"
    best = min(polished, key=lambda r: _robust_cost(r.residual, huber_scale))
    values = best.params.valuesdict()
    params = {name: float(math.exp(values[f"log_{name}"]) if f"log_{name}" in values else values[name])
              for name in spec.params}
    at_bound = [n for n, p in best.params.items() if p.vary and min(p.value - p.min, p.max - p.value) < 1e-6]
    converged = bool(best.success) and not at_bound
    description = f"lmfit least_squares, Huber f_scale={huber_scale:g} on log L, {how}"
    if at_bound:
        description += f"; at bound: {', '.join(at_bound)}"
    return params, converged, description


def _varpro_inner(u: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """(c, delta, log-space SSE) for fixed u = (x/x_ref)^-e: Gauss-Newton steps, each an nnls."""
    log_y, fitted = np.log(y), y
    design = np.column_stack([u, np.ones_like(u)])
    for _ in range(bootstrap.GAUSS_NEWTON_STEPS):
        z, w = bootstrap.log_space_targets(fitted, log_y)
        (c, d), _ = nnls(design * np.sqrt(w)[:, None], z * np.sqrt(w))
        fitted = np.maximum(c * u + d, 1e-300)
    return float(c), float(d), float(((np.log(fitted) - log_y) ** 2).sum())


def varpro_fit(spec: LawSpec, x: dict[str, np.ndarray], y: np.ndarray) -> tuple[dict[str, float], bool, str]:
    """Variable projection for a one-variable law: nnls per exponent, coarse grid, then Brent."""
    log_x = np.log(x[spec.variables[0]])
    log_ref = float(log_x.mean())

    def profile(e: float) -> float:
        return _varpro_inner(np.exp(-e * (log_x - log_ref)), y)[2]

    grid = bootstrap.exponent_grid(EXPONENT_BOUNDS, None)
    k = int(np.argmin([profile(e) for e in grid]))
    bracket = (grid[max(k - 1, 0)], grid[min(k + 1, grid.size - 1)])
    search = minimize_scalar(profile, bounds=bracket, method="bounded", options={"xatol": 1e-10})
    exponent = float(search.x)
    c, delta, _ = _varpro_inner(np.exp(-exponent * (log_x - log_ref)), y)
    params = _varpro_params(spec, log_ref, c, exponent, delta)
    interior = EXPONENT_BOUNDS[0] < exponent < EXPONENT_BOUNDS[1] * (1 - 1e-6)
    return params, bool(search.success) and interior and c > 0, "variable projection (nnls + bounded Brent)"


def _varpro_params(spec: LawSpec, log_ref: float, c: ArrayLike, exponent: ArrayLike, delta: ArrayLike) -> dict:
    """Map c (x/x_ref)^-e back to (S/x)^e: S = x_ref * c^(1/e); c = 0 means S = 0."""
    c, exponent = np.asarray(c, dtype=float), np.asarray(exponent, dtype=float)
    with np.errstate(divide="ignore"):
        scale = np.where(c > 0, np.exp(log_ref + np.log(np.maximum(c, 1e-300)) / exponent), 0.0)
    scale_name, exponent_name, _ = spec.params
    as_out = float if scale.ndim == 0 else np.asarray
    return {scale_name: as_out(scale), exponent_name: as_out(exponent), "delta": as_out(np.asarray(delta, float))}


def _estimate(spec: LawSpec, method: str, x: dict[str, np.ndarray], y: np.ndarray,
              huber_scale: float) -> tuple[dict[str, float], bool, str]:
    if method == "auto":
        method = "varpro" if len(spec.variables) == 1 else "lmfit"
    if method == "lmfit":
        return lmfit_fit(spec, x, y, huber_scale=huber_scale)
    if method == "varpro" and len(spec.variables) == 1:
        return varpro_fit(spec, x, y)
    allowed = ("auto", "lmfit", "varpro") if len(spec.variables) == 1 else ("auto", "lmfit")
    raise ValueError(f"method={method!r} is not available for the {spec.name} law; choose one of {allowed}")


# ---------------------------------------------------------------- bootstrap and checks


def _bootstrap(spec: LawSpec, x: dict[str, np.ndarray], y: np.ndarray, params: dict[str, float],
               n_bootstrap: int, seed: int, huber_scale: float) -> pd.DataFrame:
    """Parameters refitted on `n_bootstrap` resamples of the runs, one row per resample."""
    idx = bootstrap.resample_indices(y.size, n_bootstrap, seed)
    if len(spec.variables) == 1:
        log_x = np.log(x[spec.variables[0]])
        log_ref = float(log_x.mean())
        exponent = params[spec.params[1]]
        c, e, d = bootstrap.varpro_batch(log_x[idx] - log_ref, np.log(y)[idx], EXPONENT_BOUNDS, centre=exponent)
        return pd.DataFrame(_varpro_params(spec, log_ref, c, e, d), columns=list(spec.params))
    rows = [lmfit_fit(spec, {k: v[i] for k, v in x.items()}, y[i], starts=[params], huber_scale=huber_scale)[0]
            for i in idx]
    return pd.DataFrame(rows, columns=list(spec.params))


def _r_squared(observed: np.ndarray, predicted: np.ndarray) -> float:
    """Coefficient of determination 1 - SS_res / SS_tot (not the paper's Pearson r of logs)."""
    return float(1 - ((observed - predicted) ** 2).sum() / ((observed - observed.mean()) ** 2).sum())


def _extrapolation(spec: LawSpec, method: str, x: dict[str, np.ndarray], y: np.ndarray,
                   huber_scale: float) -> Extrapolation | None:
    """Refit without the largest value of the law's first variable; error at the held-out runs."""
    name = spec.variables[0]
    largest = x[name].max()
    keep = x[name] < largest
    kept = {k: v[keep] for k, v in x.items()}
    try:
        validate(spec, kept, y[keep])
    except ValueError:
        return None  # too few runs left to refit: the report says the check was skipped
    params, _, _ = _estimate(spec, method, kept, y[keep], huber_scale)
    held = pd.DataFrame({**{k: v[~keep] for k, v in x.items()}, "ce": y[~keep]})
    observed = held.groupby(list(spec.variables), as_index=False)["ce"].mean()
    predicted = spec.predict(params, *(observed[v].to_numpy() for v in spec.variables))
    return Extrapolation(held_out=name, held_out_value=float(largest),
                         points={v: observed[v].tolist() for v in spec.variables},
                         observed=observed["ce"].tolist(), predicted=predicted.tolist(),
                         relative_error=((predicted - observed["ce"]) / observed["ce"]).tolist())


def _route_check(spec: LawSpec, method: str, x: dict[str, np.ndarray], y: np.ndarray, params: dict[str, float],
                 huber_scale: float) -> RouteCheck:
    other = "varpro" if method == "lmfit" else "lmfit"
    other_params, _, _ = _estimate(spec, other, x, y, huber_scale)
    grid = np.geomspace(x[spec.variables[0]].min(), x[spec.variables[0]].max(), 50)
    gap = float(np.abs(spec.predict(other_params, grid) / spec.predict(params, grid) - 1).max())
    scatter = float(np.sqrt(np.mean((np.log(spec.predict(params, *x.values())) - np.log(y)) ** 2)))
    tolerance = max(ROUTE_RTOL, scatter)
    exponent = spec.params[1]
    return RouteCheck(other_method=other, other_params=other_params, max_prediction_gap=gap,
                      exponent_gap=float(other_params[exponent] - params[exponent]), tolerance=tolerance,
                      agree=gap < tolerance)


def fit_law(law: str, variables: dict[str, ArrayLike], ce: ArrayLike, *, method: str = "auto",
            n_bootstrap: int = 1000, seed: int = 0, level: float = 0.95, huber_scale: float = HUBER_SCALE,
            cross_check: bool = True) -> FitResult:
    """Fit one law to runs (`variables` by name, `ce` the contrastive entropy of each run).

    `method`: "auto" (variable projection for one variable, lmfit for the joint law),
    "varpro" or "lmfit". `cross_check` also fits the other route of a one-variable law and
    reports how far apart they are. `level` is the default confidence level of intervals and
    bands; `seed` fixes the resamples, so a fit is deterministic.
    """
    if law not in LAWS:
        raise ValueError(f"law={law!r} is unknown; choose one of {sorted(LAWS)}")
    spec = LAWS[law]
    if method == "auto":
        method = "varpro" if len(spec.variables) == 1 else "lmfit"
    x, y = validate(spec, variables, ce)
    if n_bootstrap < 1:
        raise ValueError(f"n_bootstrap must be at least 1; got {n_bootstrap!r}")
    params, converged, description = _estimate(spec, method, x, y, huber_scale)
    log_pred = np.log(spec.predict(params, *x.values()))
    return FitResult(
        law=law, title=spec.title, method=method, description=description, variables=x, ce=y,
        params=params, converged=converged, level=level, seed=seed,
        bootstrap=_bootstrap(spec, x, y, params, n_bootstrap, seed, huber_scale),
        r2={"linear": _r_squared(y, np.exp(log_pred)), "log": _r_squared(np.log(y), log_pred)},
        extrapolation=_extrapolation(spec, method, x, y, huber_scale),
        route_check=_route_check(spec, method, x, y, params, huber_scale)
        if cross_check and len(spec.variables) == 1 else None,
    )


def usable_runs(runs: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """(the runs that can carry a law, a description of each one left out).

    A run is left out when it did not finish (a `status` column other than "finished", as in
    `ResultsStore.to_frame()`) or its CE is missing or not finite: a diverged run has no CE,
    and fitting on a stand-in value would bend the law silently.
    """
    ce = pd.to_numeric(runs["ce"], errors="coerce") if "ce" in runs else pd.Series(np.nan, index=runs.index)
    failed = ~np.isfinite(ce.to_numpy(dtype=float))
    if "status" in runs:
        failed |= (runs["status"] != "finished").to_numpy()
    described = []
    for _, row in runs[failed].iterrows():
        name = ", ".join(f"{key}={row[key]}" for key in ("model", "data_size") if key in row and pd.notna(row[key]))
        error = row.get("error") if isinstance(row.get("error"), str) else f"ce is {row.get('ce')}"
        described.append(f"{row.get('run_id', '?')} ({name}): {error}")
    return runs[~failed], described


STUDY_COLUMNS = ("data_fingerprint", "evaluation")
"""Sweep-table columns saying what each CE was measured on and how (`drscale.sweep.runner.TABLE_COLUMNS`)."""
STORE_STUDY_COLUMNS = ("data.fingerprint", "config.evaluation.negatives", "config.evaluation.repeats",
                       "config.evaluation.pool_size", "config.evaluation.seed")
"""The same, as `ResultsStore.to_frame()` spells them."""


def check_one_study(runs: pd.DataFrame, source: str) -> None:
    """Refuse runs of several data sets or CE measurements, naming each group and its runs.

    A law is fitted to runs of one data set measured one way: CE depends on the data and on
    W, R and the pool as well as on N and D, so a table mixing them would bend the law by the
    difference between measurements. The groups are read from the columns of `STUDY_COLUMNS`
    or `STORE_STUDY_COLUMNS` present (missing values count as a group of their own); a table
    with none of them (a sweep table written before they were recorded) passes unchecked.
    `source` begins the error (a file, or which fit).
    """
    columns = [c for c in (*STUDY_COLUMNS, *STORE_STUDY_COLUMNS) if c in runs]
    if not columns:
        return
    counts = runs.groupby(columns, dropna=False, sort=False).size().sort_values(ascending=False, kind="stable")
    if len(counts) > 1:
        keys = [key if isinstance(key, tuple) else (key,) for key in counts.index]
        described = "; ".join(", ".join(f"{c}={_shown(v)}" for c, v in zip(columns, key)) + f": {n} run(s)"
                              for key, n in zip(keys, counts))
        tests = [f"runs[{c!r}].isna()" if _shown(v) is None else f"(runs[{c!r}] == {_shown(v)!r})"
                 for c, v in zip(columns, keys[0]) if runs[c].nunique(dropna=False) > 1]
        example = f"runs[{' & '.join(tests)}]"
        raise ValueError(f"{source}: the runs span {len(counts)} groups of data set and CE measurement ({described}); "
                         f"expected the runs of one data set measured one way: select one group first, e.g. {example}")


def _shown(value: object) -> object:
    """A group's value as a reader would write it: whole floats as ints (a pool size read back
    from a CSV column with gaps is a float), missing as None."""
    if isinstance(value, float):
        return None if math.isnan(value) else int(value) if value.is_integer() else value
    return value.item() if isinstance(value, np.generic) else value


def fit_runs(law: str, runs: pd.DataFrame, **kwargs) -> FitResult:
    """Fit `law` to a table of runs (a sweep table, or `ResultsStore.to_frame()`), leaving
    out failed runs: each is named in a warning and in the result's notes and
    `excluded_runs`, so a fit on fewer runs than were launched never passes unnoticed.
    Runs of several data sets or CE measurements are refused (`check_one_study`); a table
    without those columns is fitted as given. Keyword arguments as in `fit_law`."""
    if law not in LAWS:
        raise ValueError(f"law={law!r} is unknown; choose one of {sorted(LAWS)}")
    kept, excluded = usable_runs(runs)
    if excluded:
        warnings.warn(f"{law} fit: {len(excluded)} failed run(s) left out: {'; '.join(excluded)}", stacklevel=2)
    check_one_study(kept, f"{law} fit")
    missing = [name for name in LAWS[law].variables if name not in kept]
    if missing:
        raise ValueError(f"the runs table lacks column(s) {missing}; expected {list(LAWS[law].variables)} and ce")
    result = fit_law(law, {name: kept[name].to_numpy(dtype=float) for name in LAWS[law].variables},
                     kept["ce"].to_numpy(dtype=float), **kwargs)
    if excluded:
        result.excluded_runs = excluded
        result.notes.insert(0, f"{len(excluded)} failed run(s) left out of the fit: {'; '.join(excluded)}")
    return result


def fit_model_size(n_params: ArrayLike, ce: ArrayLike, **kwargs) -> FitResult:
    """Fit L(N) = (A/N)^alpha + delta; keyword arguments as in `fit_law`."""
    return fit_law("model_size", {"n_params": n_params}, ce, **kwargs)


def fit_data_size(data_size: ArrayLike, ce: ArrayLike, **kwargs) -> FitResult:
    """Fit L(D) = (B/D)^beta + delta; keyword arguments as in `fit_law`."""
    return fit_law("data_size", {"data_size": data_size}, ce, **kwargs)


def fit_joint(n_params: ArrayLike, data_size: ArrayLike, ce: ArrayLike, **kwargs) -> FitResult:
    """Fit L(N,D) = [(A/N)^(alpha/beta) + B/D]^beta + delta; keyword arguments as in `fit_law`."""
    return fit_law("joint", {"n_params": n_params, "data_size": data_size}, ce, **kwargs)


# ---------------------------------------------------------------- sweep tables

SWEEP_COLUMNS = ("run_id", "model", "n_params", "data_size", "seed", "ce")
SWEEP_NOTEBOOKS = {"model_size": "02_model_size_sweep", "data_size": "03_data_size_sweep", "joint": "04_joint_sweep"}


def read_sweep_table(data_dir: str | os.PathLike, sweep: str, required: bool = True) -> pd.DataFrame | None:
    """Read `{data_dir}/results/{sweep}.csv`, written by that sweep's notebook.

    A missing optional table gives None; a missing required one says which notebook makes it.
    Failed runs are left out, named in a warning. A table whose runs span several data sets
    or CE measurements is refused (`check_one_study`); one written before sweep tables
    recorded them still loads, with a warning that this could not be checked.
    """
    if sweep not in SWEEP_NOTEBOOKS:
        raise ValueError(f"sweep={sweep!r} is unknown; choose one of {sorted(SWEEP_NOTEBOOKS)}")
    path = Path(data_dir) / "results" / f"{sweep}.csv"
    if not path.exists():
        if not required:
            return None
        raise FileNotFoundError(f"{path} does not exist: run notebooks/{SWEEP_NOTEBOOKS[sweep]}.ipynb first")
    table = pd.read_csv(path)
    missing = [c for c in SWEEP_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected {list(SWEEP_COLUMNS)}")
    kept, excluded = usable_runs(table)
    if excluded:
        warnings.warn(f"{path}: {len(excluded)} failed run(s) left out: {'; '.join(excluded)}", stacklevel=2)
    check_one_study(kept, str(path))
    unrecorded = [c for c in STUDY_COLUMNS if c not in table.columns]
    if unrecorded:
        warnings.warn(f"{path}: no column(s) {unrecorded} (a table written before sweeps recorded them), so whether "
                      f"its runs share one data set and one CE measurement cannot be checked; re-run "
                      f"notebooks/{SWEEP_NOTEBOOKS[sweep]}.ipynb to rewrite it with them", stacklevel=2)
    return kept.reset_index(drop=True)


def joint_fit_ready(table: pd.DataFrame | None) -> tuple[bool, str]:
    """Whether a joint sweep table can carry the joint law, and why not when it cannot."""
    if table is None:
        return False, "no joint sweep table (notebooks/04_joint_sweep.ipynb has not run)"
    spec = LAWS["joint"]
    try:
        validate(spec, {v: table[v] for v in spec.variables}, table["ce"])
    except ValueError as err:
        return False, f"the joint sweep table cannot carry the joint law: {err}"
    return True, f"{len(table)} runs over {table.n_params.nunique()} model sizes x {table.data_size.nunique()} data sizes"
