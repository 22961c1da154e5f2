"""Fit the paper's scaling laws to runs, with bootstrap uncertainty and checks of the fit.

Two routes, following Besiroglu et al.'s Chinchilla replication and Open-Athena's variable
projection:
- `lmfit` (`drscale.fit.robust`): a Huber fit of log L from a grid of starts. Serves all
  three laws.
- `varpro` (`drscale.fit.projection`, one-variable laws): for a fixed exponent the law is
  linear in (S^e, delta), so non-negative least squares solves the rest and a 1-D search
  finds the exponent.

Uncertainty comes from resampling the points (runs of one setting, several seeds, form
one point: `drscale.fit.points`) with replacement: the one-variable laws use the
vectorised variable projection (1,000 resamples in well under a second), the joint law
warm-started lmfit refits. A percentile interval describes the estimator that was
resampled, so `method="auto"` gives the one-variable laws the variable projection estimate
(log-space least squares) and the joint law lmfit; the other route is still fitted and
compared (`RouteCheck`). Choosing `method="lmfit"` for a one-variable law keeps the Huber
estimate, but its intervals still come from the variable projection. `FitResult` (in
`drscale.fit.result`) carries the estimate, the resamples and the checks.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from drscale.fit import laws, projection
from drscale.fit.laws import Law
from drscale.fit.points import RESAMPLING, Points
from drscale.fit.result import (Extrapolation, FitResult, RouteCheck, check_level, checks_table, load_fits,
                                parameters_table, save_fits)
from drscale.fit.robust import HUBER_SCALE, lmfit_fit
from drscale.fit.tables import (SWEEP_NOTEBOOKS, check_one_study, check_points_differ_only_in_seed, read_sweep_table,
                                read_sweep_tables, usable_runs, within_hidden_size)

__all__ = ["fit_law", "fit_each", "fit_model_size", "fit_data_size", "fit_joint", "fit_runs", "joint_fit_ready",
           # the fitting stage in one import: results and sweep tables
           "FitResult", "checks_table", "parameters_table", "load_fits", "save_fits",
           "read_sweep_table", "read_sweep_tables", "usable_runs", "check_one_study", "within_hidden_size"]

ROUTE_RTOL = 0.01
"""The routes agree when their predictions differ by less than the points' scatter about the
fit (root-mean-square log residual) or 1%, whichever is larger, over the observed range:
a gap inside the noise is no disagreement (Huber at this scale is near L1, varpro is L2)."""


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


def validate(law: Law, variables: dict[str, ArrayLike], ce: ArrayLike) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Check inputs at the door: finite, positive, equal lengths, enough (distinct) points, CE
    that is not the same everywhere."""
    y = _positive_finite("ce", ce)
    x = {name: _positive_finite(name, variables[name]) for name in law.variables}
    for name, arr in x.items():
        if arr.size != y.size:
            raise ValueError(f"{name} has {arr.size} values but ce has {y.size}; they must pair up run by run")
    need = len(law.params) + 1
    if y.size < need:
        raise ValueError(f"ce has {y.size} points (distinct settings); the {law.name} law has {len(law.params)} "
                         f"parameters, so it needs at least {need}")
    if np.ptp(y) == 0:
        raise ValueError(f"ce is {float(y[0])!r} at every point: a law needs CE that changes with {' and '.join(law.variables)}")
    min_distinct = 3 if len(law.variables) == 1 else 2
    for name, arr in x.items():
        distinct = np.unique(arr).size
        if distinct < min_distinct:
            raise ValueError(f"{name} has {distinct} distinct value(s); the {law.name} law needs at least {min_distinct}")
    return x, y


# ---------------------------------------------------------------- estimate and resamples


def _estimate(law: Law, method: str, x: dict[str, np.ndarray], y: np.ndarray,
              huber_scale: float) -> tuple[dict[str, float], bool, str]:
    if method == "auto":
        method = "varpro" if len(law.variables) == 1 else "lmfit"
    if method == "lmfit":
        return lmfit_fit(law, x, y, huber_scale=huber_scale)
    if method == "varpro" and len(law.variables) == 1:
        return projection.varpro_fit(law, x, y)
    allowed = ("auto", "lmfit", "varpro") if len(law.variables) == 1 else ("auto", "lmfit")
    raise ValueError(f"method={method!r} is not available for the {law.name} law; choose one of {allowed}")


def _bootstrap(law: Law, points: Points, ce: np.ndarray, params: dict[str, float],
               n_bootstrap: int, seed: int, huber_scale: float, how: str) -> tuple[pd.DataFrame, int]:
    """Parameters refitted on `n_bootstrap` resamples of the points (and with
    how="points+seeds" of the seeds within them: `Points.resample`), one row per resample.
    A resample that drew fewer distinct points than the law has parameters cannot determine
    them: its row is NaN (percentile intervals leave it out, and the result's notes count it).
    One with exactly as many is kept, though the law passes through its points: leaving those
    out too narrows the intervals of few-point sweeps below their level (5 sizes: about 71%
    coverage instead of 95%; tests/fit/test_fit.py holds the coverage checks).

    Also returns how many of the other refits did not converge cleanly (an exponent at its
    bound, most often): they are kept, being what the estimator gives on those points, and the
    result's notes count them."""
    drawn, resampled = points.resample(ce, n_bootstrap, seed, how)
    underdetermined = np.array([np.unique(row).size < len(law.params) for row in drawn])
    with np.errstate(divide="ignore", invalid="ignore"):  # underdetermined draws may divide by zero; masked below
        refits, converged = _refit(law, points, ce, drawn, resampled, params, huber_scale, how)
    refits.loc[underdetermined] = np.nan
    return refits, int((~converged & ~underdetermined).sum())


def _refit(law: Law, points: Points, ce: np.ndarray, drawn: np.ndarray, resampled: np.ndarray,
           params: dict[str, float], huber_scale: float, how: str) -> tuple[pd.DataFrame, np.ndarray]:
    """The refitted parameters of every resample, and whether each refit converged cleanly (by
    the rule of the route's own fit: no parameter at a bound, a positive scale)."""
    if len(law.variables) == 1:
        (variable,), (exponent,) = law.variables, law.exponents
        if points.counts.max() == 1 or how == "points":  # each point keeps its CE: resample rows of the points
            values, pool, rows = points.x[variable], points.mean_ce(ce), drawn
        else:  # each resample has its own point CE: lay them out as one pool that `rows` walks in order
            values, pool = points.x[variable][drawn].ravel(), resampled.ravel()
            rows = np.arange(pool.size).reshape(drawn.shape)
        fitted, converged = projection.resampled_params(law, values, pool, rows, params[exponent])
        return pd.DataFrame(fitted, columns=list(law.params)), converged
    refits = [lmfit_fit(law, {k: v[i] for k, v in points.x.items()}, y, starts=[params], huber_scale=huber_scale)[:2]
              for i, y in zip(drawn, resampled)]
    return (pd.DataFrame([fitted for fitted, _ in refits], columns=list(law.params)),
            np.array([converged for _, converged in refits], dtype=bool))


# ---------------------------------------------------------------- checks


def _r_squared(observed: np.ndarray, predicted: np.ndarray) -> float:
    """Coefficient of determination 1 - SS_res / SS_tot (not the paper's Pearson r of logs)."""
    return float(1 - ((observed - predicted) ** 2).sum() / ((observed - observed.mean()) ** 2).sum())


def _extrapolation(law: Law, method: str, x: dict[str, np.ndarray], y: np.ndarray,
                   huber_scale: float) -> Extrapolation | None:
    """Refit without the largest value of the law's first variable; error at the held-out points."""
    name = law.variables[0]
    largest = x[name].max()
    keep = x[name] < largest
    kept = {k: v[keep] for k, v in x.items()}
    try:
        validate(law, kept, y[keep])
    except ValueError:
        return None  # too few runs left to refit: the report says the check was skipped
    params, _, _ = _estimate(law, method, kept, y[keep], huber_scale)
    observed = y[~keep]
    predicted = law.predict(params, *(v[~keep] for v in x.values()))
    return Extrapolation(held_out=name, held_out_value=float(largest),
                         points={k: v[~keep].tolist() for k, v in x.items()},
                         observed=observed.tolist(), predicted=predicted.tolist(),
                         relative_error=((predicted - observed) / observed).tolist())


def _route_check(law: Law, method: str, x: dict[str, np.ndarray], y: np.ndarray, params: dict[str, float],
                 huber_scale: float) -> RouteCheck:
    other = "varpro" if method == "lmfit" else "lmfit"
    other_params, _, _ = _estimate(law, other, x, y, huber_scale)
    grid = np.geomspace(x[law.variables[0]].min(), x[law.variables[0]].max(), 50)
    gap = float(np.abs(law.predict(other_params, grid) / law.predict(params, grid) - 1).max())
    scatter = float(np.sqrt(np.mean((np.log(law.predict(params, *x.values())) - np.log(y)) ** 2)))
    tolerance = max(ROUTE_RTOL, scatter)
    (exponent,) = law.exponents
    return RouteCheck(other_method=other, other_params=other_params, max_prediction_gap=gap,
                      exponent_gap=float(other_params[exponent] - params[exponent]), tolerance=tolerance,
                      agree=gap < tolerance)


# ---------------------------------------------------------------- fitting


def fit_law(law: str, variables: dict[str, ArrayLike], ce: ArrayLike, *, method: str = "auto",
            n_bootstrap: int = 1000, seed: int = 0, level: float = 0.95, huber_scale: float = HUBER_SCALE,
            cross_check: bool = True, resample: str = "points") -> FitResult:
    """Fit one law to runs (`variables` by name, `ce` the contrastive entropy of each run).

    Runs at the same setting (several seeds) form one point (`drscale.fit.points`): the law is
    fitted to the points, and the bootstrap resamples points, whose means carry their seeds'
    noise into every interval; `resample="points+seeds"` also resamples seeds within points,
    a conservative interval (see `drscale.fit.points`). `method`: "auto" (variable projection for one variable, lmfit for the joint law),
    "varpro" or "lmfit". `cross_check` also fits the other route of a one-variable law and
    reports how far apart they are. `level` is the default confidence level of intervals and
    bands; `seed` fixes the resamples, so a fit is deterministic.
    """
    spec = laws.get(law)
    if method == "auto":
        method = "varpro" if len(spec.variables) == 1 else "lmfit"
    x_runs, y_runs = validate(spec, variables, ce)
    if n_bootstrap < 1:
        raise ValueError(f"n_bootstrap must be at least 1; got {n_bootstrap!r}")
    if resample not in RESAMPLING:
        raise ValueError(f"resample={resample!r} is unknown; choose one of {RESAMPLING}")
    check_level(level)
    points = Points.of(x_runs)
    x, y = validate(spec, points.x, points.mean_ce(y_runs))  # as many settings as the law has parameters, not seeds
    params, converged, description = _estimate(spec, method, x, y, huber_scale)
    log_pred = np.log(spec.predict(params, *x.values()))
    bootstrap, unconverged = _bootstrap(spec, points, y_runs, params, n_bootstrap, seed, huber_scale, resample)
    return FitResult(
        law=law, title=spec.title, method=method, description=description, variables=x_runs, ce=y_runs,
        params=params, converged=converged, level=level, seed=seed, resample=resample,
        bootstrap=bootstrap, bootstrap_unconverged=unconverged,
        r2={"linear": _r_squared(y, np.exp(log_pred)), "log": _r_squared(np.log(y), log_pred)},
        extrapolation=_extrapolation(spec, method, x, y, huber_scale),
        route_check=_route_check(spec, method, x, y, params, huber_scale)
        if cross_check and len(spec.variables) == 1 else None,
    )


def fit_runs(law: str, runs: pd.DataFrame, **kwargs) -> FitResult:
    """Fit `law` to a table of runs (a sweep table, or `ResultsStore.to_frame()`), leaving
    out failed runs: each is named in a warning and in the result's notes and
    `excluded_runs`, so a fit on fewer runs than were launched never passes unnoticed.
    Runs of several data sets or CE measurements are refused (`check_one_study`); a table
    without those columns is fitted as given. Keyword arguments as in `fit_law`."""
    spec = laws.get(law)
    kept, excluded = usable_runs(runs)
    if excluded:
        warnings.warn(f"{law} fit: {len(excluded)} failed run(s) left out: {'; '.join(excluded)}", stacklevel=2)
    if kept.empty:
        raise ValueError(f"{law} fit: no finished runs to fit ({len(excluded)} failed)")
    check_one_study(kept, f"{law} fit")
    missing = [name for name in spec.variables if name not in kept]
    if missing:
        raise ValueError(f"the runs table lacks column(s) {missing}; expected {list(spec.variables)} and ce")
    check_points_differ_only_in_seed(kept, spec.variables, f"{law} fit")
    result = fit_law(law, {name: kept[name].to_numpy(dtype=float) for name in spec.variables},
                     kept["ce"].to_numpy(dtype=float), **kwargs)
    if excluded:
        result.excluded_runs = excluded
        result.notes.insert(0, f"{len(excluded)} failed run(s) left out of the fit: {'; '.join(excluded)}")
    return result


def fit_each(law: str, runs: pd.DataFrame, by: str, **kwargs) -> tuple[dict[str, FitResult], list[str]]:
    """`law` fitted to the runs of each value of `by` (e.g. L(d) per model), in order of first
    appearance, and one line for each group with too few points to fit, which is left out."""
    fits, skipped = {}, []
    for key, group in runs.groupby(by, sort=False):
        try:
            fits[key] = fit_runs(law, group, **kwargs)
        except ValueError as error:
            skipped.append(f"{by} {key}: not fitted ({error})")
    return fits, skipped


def fit_model_size(n_params: ArrayLike, ce: ArrayLike, **kwargs) -> FitResult:
    """Fit L(N) = (A/N)^alpha + delta; keyword arguments as in `fit_law`."""
    return fit_law("model_size", {"n_params": n_params}, ce, **kwargs)


def fit_data_size(data_size: ArrayLike, ce: ArrayLike, **kwargs) -> FitResult:
    """Fit L(D) = (B/D)^beta + delta; keyword arguments as in `fit_law`."""
    return fit_law("data_size", {"data_size": data_size}, ce, **kwargs)


def fit_joint(n_params: ArrayLike, data_size: ArrayLike, ce: ArrayLike, **kwargs) -> FitResult:
    """Fit L(N,D) = [(A/N)^(alpha/beta) + B/D]^beta + delta; keyword arguments as in `fit_law`."""
    return fit_law("joint", {"n_params": n_params, "data_size": data_size}, ce, **kwargs)


TWO_VARIABLE_SWEEPS = {"joint": "joint", "joint_dim": "embedding_dim"}
"""The sweep whose table carries each two-variable law."""
SWEEP_TITLES = {"joint": "joint", "embedding_dim": "embedding-dimension"}


def joint_fit_ready(table: pd.DataFrame | None, law: str = "joint") -> tuple[bool, str]:
    """Whether a sweep table can carry a two-variable law ("joint" or "joint_dim"), and why not
    when it cannot."""
    spec = laws.get(law)
    if law not in TWO_VARIABLE_SWEEPS:
        raise ValueError(f"law={law!r} is not a two-variable law; choose one of {sorted(TWO_VARIABLE_SWEEPS)}")
    if table is None:
        sweep = TWO_VARIABLE_SWEEPS[law]
        return False, f"no {SWEEP_TITLES[sweep]} sweep table (notebooks/{SWEEP_NOTEBOOKS[sweep]}.ipynb has not run)"
    try:
        validate(spec, *_point_means(spec, table))
    except ValueError as err:
        return False, f"the sweep table cannot carry the {law} law: {err}"
    sizes = " x ".join(f"{table[v].nunique()} values of {v}" for v in spec.variables)
    return True, f"{len(table)} runs over {sizes}"


def _point_means(spec: Law, table: pd.DataFrame) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """A table's runs as the law's points: seeds of one setting count once."""
    points = Points.of({v: table[v].to_numpy(dtype=float) for v in spec.variables})
    return points.x, points.mean_ce(table["ce"].to_numpy(dtype=float))
