"""Predict, then verify: fit a law without the largest sizes, predict them, then measure them.

A law that only describes the runs it was fitted to is a curve fit. The decisive test of a
scaling law is a run it has not seen: fit on all but the largest `held_out` values of the
sweep's variable, write down the predictions with intervals, then train (or read) the
held-out runs and see whether each fell inside.

Two intervals are given for each held-out point. The band is the bootstrap spread of the
law itself at that value (where the mean of many seeds should fall). The prediction
interval is for the measurement actually made: each bootstrap curve times a noise factor
drawn from the fitted points' log residuals. With several seeds per point the factor is
drawn from the seeds' deviations from their point's mean, averaged over as many draws as
the held-out point has runs. Residuals are inflated by sqrt(n / (n - p)) for the p
parameters fitted to n points, as in a residual bootstrap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from drscale.common.values import geometric_mean, is_integer
from drscale.fit import laws
from drscale.fit.estimate import fit_runs
from drscale.fit.points import Points
from drscale.fit.result import FitResult, percentile_interval
from drscale.model.encoder import MODEL_SIZES, build_model, n_params
from drscale.sweep.config import RunConfig

PREDICTION_COLUMNS = ("predicted", "band low", "band high", "interval low", "interval high")
SWEEP_VARIABLES = {"model_size": "n_params", "data_size": "data_size", "embedding_dim": "embedding_dim"}
"""The variable whose largest values a sweep of each one-variable law holds out."""


def split_largest(table: pd.DataFrame, variable: str, held_out: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(runs to fit, runs held out): the runs at the `held_out` largest values of `variable` are held out."""
    if variable not in table:
        raise ValueError(f"the runs table has no column {variable!r}; columns: {list(table.columns)}")
    values = np.sort(table[variable].unique())
    if not is_integer(held_out) or not 1 <= held_out < values.size:
        raise ValueError(f"held_out must be an integer from 1 to {values.size - 1} (the sweep has {values.size} "
                         f"values of {variable}); got {held_out!r}")
    held = table[variable] >= values[-held_out]
    return table[~held].reset_index(drop=True), table[held].reset_index(drop=True)


def _noise_pool(fit: FitResult) -> np.ndarray:
    """Log deviations a single run makes from the law: seeds about their point's mean where points
    have several runs, else the points' residuals about the fitted law; inflated for the
    parameters fitted."""
    points = Points.of(fit.variables)
    if points.counts.max() > 1:
        log_ce = np.log(fit.ce)
        deviations = [log_ce[m] - log_ce[m].mean() for m in points.members if m.size > 1]
        runs = sum(d.size for d in deviations)
        return np.concatenate(deviations) * np.sqrt(runs / (runs - len(deviations)))
    law = laws.get(fit.law)
    residual = np.log(points.mean_ce(fit.ce)) - np.log(law.predict(fit.params, *points.x.values()))
    n, p = residual.size, len(law.params)
    return (residual - residual.mean()) * np.sqrt(n / max(n - p, 1))


def predict(fit: FitResult, at: dict[str, Sequence[float]], runs: Sequence[int] | None = None,
            level: float | None = None, seed: int = 0) -> pd.DataFrame:
    """The law's predictions at the points `at` (each of its variables by name), one row each:
    the estimate, the band of the law and the prediction interval of a measurement that
    averages `runs` runs (one each by default), at `level` (the fit's by default)."""
    law = laws.get(fit.law)
    missing = [v for v in law.variables if v not in at]
    if missing:
        raise ValueError(f"predictions of the {fit.law} law need values of {list(law.variables)}; missing {missing}")
    x = [np.atleast_1d(np.asarray(at[v], dtype=float)) for v in law.variables]
    if any(v.ndim != 1 or v.size != x[0].size or not np.isfinite(v).all() or (v <= 0).any() for v in x):
        raise ValueError(f"`at` must give every one of {list(law.variables)} as positive values of one length; got {at!r}")
    runs = np.ones(x[0].size, dtype=int) if runs is None else np.atleast_1d(np.asarray(runs))
    if runs.shape != x[0].shape or not all(float(k).is_integer() and k >= 1 for k in runs):
        raise ValueError(f"`runs` must be one positive integer per point ({x[0].size}); got {runs.tolist()!r}")
    runs = runs.astype(int)
    level = fit.level if level is None else level
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1); got {level!r}")
    columns = {p: fit.bootstrap[p].to_numpy()[:, None] for p in law.params}
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        curves = law.predict(columns, *(v[None, :] for v in x))
    pool = _noise_pool(fit)
    rng = np.random.default_rng(seed)
    noise = np.stack([rng.choice(pool, size=(curves.shape[0], k)).mean(axis=1) for k in runs], axis=1)
    band = percentile_interval(curves, level)
    interval = percentile_interval(curves * np.exp(noise), level)
    frame = pd.DataFrame(dict(zip(law.variables, x)))
    frame["runs"] = runs
    for name, values in zip(PREDICTION_COLUMNS, (fit.predict(*x), *band, *interval)):
        frame[name] = values
    return frame


def verify(predictions: pd.DataFrame, measured: pd.DataFrame, ce_range: float) -> pd.DataFrame:
    """`predictions` beside what the held-out runs measured (their mean CE per point, `measured`
    being their runs table): inside the interval or not, the error, and the error and the
    interval's width as fractions of the interval and of the sweep's CE range `ce_range`."""
    variables = [c for c in predictions.columns if c in measured.columns and c not in PREDICTION_COLUMNS + ("runs",)]
    observed = measured.groupby(variables, as_index=False).ce.agg(geometric_mean)
    frame = predictions.merge(observed.rename(columns={"ce": "observed"}), on=variables, how="left")
    if frame.observed.isna().any():
        absent = frame.loc[frame.observed.isna(), variables].to_dict("records")
        raise ValueError(f"no measured run at held-out point(s) {absent}: train them before verifying")
    width = frame["interval high"] - frame["interval low"]
    frame["inside"] = (frame.observed >= frame["interval low"]) & (frame.observed <= frame["interval high"])
    frame["error"] = frame.observed - frame.predicted
    frame["relative error"] = frame.error / frame.observed
    frame["error / interval width"] = frame.error.abs() / width
    frame["interval width / CE range"] = width / ce_range
    return frame


def planned_runs(configs: Sequence[RunConfig]) -> pd.DataFrame:
    """The runs `configs` will make, one row each with what a law needs to predict them before
    they are trained: model, data size, embedding dimension and N (counted on the meta device
    for size names, on the built model otherwise), with `index` into `configs`."""
    counts: dict[tuple[str, int], int] = {}
    rows = []
    for index, config in enumerate(configs):
        key = (config.model, config.embedding_dim)
        if key not in counts:
            counts[key] = (n_params(config.model, config.embedding_dim) if config.model in MODEL_SIZES else
                           n_params(build_model(config.model, embedding_dim=config.embedding_dim)))
        rows.append({"index": index, "model": Path(config.model).name, "data_size": config.data_size,
                     "embedding_dim": config.embedding_dim, "n_params": counts[key]})
    return pd.DataFrame(rows)


def plan(configs: Sequence[RunConfig], variable: str,
         held_out: int = 1) -> tuple[list[RunConfig], list[RunConfig], pd.DataFrame]:
    """Split a sweep's runs before any is trained: (runs to fit, runs held out, the held-out
    runs as `planned_runs` rows), holding out every run at the `held_out` largest values of
    `variable`."""
    fitted, held = split_largest(planned_runs(configs), variable, held_out)
    return [configs[i] for i in fitted["index"]], [configs[i] for i in held["index"]], held


@dataclass
class HeldOutCheck:
    """A law fitted without the largest sizes of one sweep, and its predictions of the held-out points."""

    law: str
    fit: FitResult
    predictions: pd.DataFrame

    @classmethod
    def prepare(cls, law: str, fitted_runs: pd.DataFrame, held_out_runs: pd.DataFrame, **fit_options) -> HeldOutCheck:
        """Fit `law` to `fitted_runs` and predict the points of `held_out_runs` (one row per run
        planned there, e.g. `planned_runs`; their CE is not read), each measured by as many
        runs as are planned there."""
        variables = list(laws.get(law).variables)
        fit = fit_runs(law, fitted_runs, **fit_options)
        points = held_out_runs.groupby(variables, as_index=False, sort=True).size()
        predictions = predict(fit, {v: points[v].to_numpy() for v in variables}, runs=points["size"].to_numpy())
        return cls(law, fit, predictions)

    def verify(self, measured: pd.DataFrame) -> pd.DataFrame:
        """The predictions beside the held-out runs' measurements (`measured`, their runs table);
        the CE range is that of the whole sweep, fitted and held-out runs together."""
        ce = np.concatenate([self.fit.ce, measured.ce.to_numpy(dtype=float)])
        return verify(self.predictions, measured, float(ce.max() - ce.min()))


def verdict(results: pd.DataFrame) -> str:
    """One line on a verified check: how many held-out points fell inside, the largest error as a
    share of its interval, and the widest interval as a share of the sweep's CE range."""
    inside = int(results.inside.sum())
    return (f"{inside} of {len(results)} held-out point(s) inside the prediction interval; largest |error| "
            f"{results['error / interval width'].max():.2f} of the interval's width; widest interval "
            f"{results['interval width / CE range'].max():.0%} of the sweep's CE range")
