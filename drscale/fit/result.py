"""The result of a scaling-law fit: estimate, bootstrap resamples, checks, report, JSON.

A result keeps its runs and its resamples, so every interval, band and check can be
recomputed from it, also after `load_fits` (the budget-allocation notebook reads the joint
fit's `params` and `bootstrap` this way).
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from drscale.common.files import write_text_atomic
from drscale.fit import laws
from drscale.fit.points import Points

IDENTIFIABLE_DECADES = 2.0
"""Below this span of a variable, scale, exponent and delta trade off against each other."""
STRONG_CORRELATION = 0.9


def check_level(level: float) -> None:
    """Refuse a confidence level outside (0, 1), such as 95 meant as a percentage."""
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1); got {level!r}")


def percentile_interval(samples: np.ndarray, level: float, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Equal-tailed percentile interval of bootstrap `samples` at confidence `level`; resamples
    that could not be refitted (NaN: e.g. a draw of one repeated point) are left out."""
    check_level(level)
    tail = (1 - level) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column stays NaN
        return np.nanquantile(samples, tail, axis=axis), np.nanquantile(samples, 1 - tail, axis=axis)


@dataclass
class Extrapolation:
    """Refit without the largest value of `held_out`; how far off the law is at those runs."""

    held_out: str
    held_out_value: float
    points: dict[str, list[float]]
    observed: list[float]
    predicted: list[float]
    relative_error: list[float]

    @property
    def max_abs_error(self) -> float:
        return float(np.abs(self.relative_error).max())


@dataclass
class RouteCheck:
    """The other fitting route's estimate and how far its predictions are from the main one's."""

    other_method: str
    other_params: dict[str, float]
    max_prediction_gap: float
    exponent_gap: float
    tolerance: float
    agree: bool


@dataclass
class FitResult:
    """A fitted law with bootstrap uncertainty (`bootstrap`: one row per resample)."""

    law: str
    title: str
    method: str
    description: str
    variables: dict[str, np.ndarray]
    ce: np.ndarray
    params: dict[str, float]
    converged: bool
    level: float
    seed: int
    bootstrap: pd.DataFrame
    r2: dict[str, float]
    extrapolation: Extrapolation | None
    route_check: RouteCheck | None
    notes: list[str] = field(default_factory=list)
    excluded_runs: list[str] = field(default_factory=list)  # failed runs left out (see fit.fit_runs)
    resample: str = "points"  # how the bootstrap resampled (drscale.fit.points.RESAMPLING)
    bootstrap_unconverged: int = 0  # refits kept though they did not converge cleanly (a parameter at its bound)

    def __post_init__(self) -> None:
        self.notes = self.notes or self._diagnose()

    # ------------------------------------------------------------ numbers

    def predict(self, *x: ArrayLike) -> np.ndarray:
        """Contrastive entropy the fitted law predicts at `x`, the law's variables in its order."""
        return laws.get(self.law).predict(self.params, *x)

    def band(self, *x: ArrayLike, level: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Pointwise percentile band of the prediction at `x` over the bootstrap resamples."""
        columns = {p: self.bootstrap[p].to_numpy()[:, None] for p in self.params}
        grid = [np.asarray(v, dtype=float)[None, :] for v in np.broadcast_arrays(*map(np.atleast_1d, x))]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            curves = laws.get(self.law).predict(columns, *grid)
        return percentile_interval(curves, level or self.level)

    def intervals(self, level: float | None = None) -> dict[str, tuple[float, float]]:
        """Percentile confidence interval of every parameter."""
        lo, hi = percentile_interval(self.bootstrap[list(self.params)].to_numpy(), level or self.level)
        return {p: (float(a), float(b)) for p, a, b in zip(self.params, lo, hi)}

    def correlations(self) -> pd.DataFrame:
        """Correlation of the bootstrap parameters, scales (a, b, c, delta) as logs."""
        table = {}
        with np.errstate(divide="ignore"):
            for p in self.params:
                exponent = p in laws.EXPONENTS
                table[p if exponent else f"log {p}"] = self.bootstrap[p] if exponent else np.log(self.bootstrap[p])
        return pd.DataFrame(table).replace([np.inf, -np.inf], np.nan).dropna().corr()

    def measured_range(self) -> dict[str, tuple[float, float]]:
        """(smallest, largest) value of each variable in the runs fitted: beyond it the law extrapolates."""
        return {k: (float(v.min()), float(v.max())) for k, v in self.variables.items()}

    def decades(self) -> dict[str, float]:
        """How many decades each variable spans in the data."""
        return {k: float(np.log10(v.max() / v.min())) for k, v in self.variables.items()}

    def _diagnose(self) -> list[str]:
        notes = []
        for name, span in self.decades().items():
            if span < IDENTIFIABLE_DECADES:
                notes.append(f"{name} spans {span:.2f} decades (< {IDENTIFIABLE_DECADES:g}): the scale, exponent "
                             "and delta are nearly non-identifiable; trust predictions inside the range more than "
                             "the parameters themselves.")
        corr = self.correlations().to_numpy()
        off = np.abs(corr[~np.eye(len(corr), dtype=bool)]) if corr.size > 1 else np.array([])
        off = off[np.isfinite(off)]  # a parameter the resamples never move has no correlation
        if off.size and off.max() > STRONG_CORRELATION:
            notes.append(f"bootstrap parameter correlations reach |r| = {off.max():.2f}: the parameters trade "
                         "off against each other (see correlations()).")
        failed = int(self.bootstrap[list(self.params)].isna().any(axis=1).sum())
        if failed:
            notes.append(f"{failed} of {len(self.bootstrap)} bootstrap resamples drew fewer distinct points than the "
                         "law has parameters (or could not be refitted); the intervals use the rest.")
        if self.bootstrap_unconverged:
            notes.append(f"{self.bootstrap_unconverged} of {len(self.bootstrap)} bootstrap refits did not converge "
                         "cleanly (a parameter at its bound, mostly): they are kept, being what the fit gives on "
                         "those points, so an interval reaching a bound says the runs do not pin that parameter.")
        if not self.converged:
            notes.append(f"the fit did not converge cleanly ({self.description}): treat the estimate with caution.")
        if self.route_check is not None and not self.route_check.agree:
            notes.append(f"the {self.method} and {self.route_check.other_method} routes disagree by "
                         f"{self.route_check.max_prediction_gap:.1%} in prediction, more than the points' scatter: "
                         "outliers or a flat loss surface.")
        return notes

    # ------------------------------------------------------------ presentation

    def to_frame(self) -> pd.DataFrame:
        """One row per parameter: estimate, bootstrap interval, bootstrap median and sd."""
        intervals = self.intervals()
        pct = f"{self.level:.0%}"
        return pd.DataFrame(
            {"estimate": [self.params[p] for p in self.params],
             f"lower {pct}": [intervals[p][0] for p in self.params],
             f"upper {pct}": [intervals[p][1] for p in self.params],
             "bootstrap median": [float(self.bootstrap[p].median()) for p in self.params],
             "bootstrap sd": [float(self.bootstrap[p].std()) for p in self.params]},
            index=pd.Index(list(self.params), name="parameter"))

    def report(self) -> str:
        """A readable multi-line summary of the fit and its checks."""
        spans = ", ".join(f"{k} {v.min():.3g}..{v.max():.3g} ({self.decades()[k]:.2f} decades)"
                          for k, v in self.variables.items())
        points = Points.of(self.variables).size
        resampled = "points, each at its runs' mean" if self.resample == "points" else "points, then runs within points"
        lines = [f"{self.law} law  {self.title}",
                 f"  {points} points from {self.ce.size} runs; {spans}",
                 f"  fit: {self.description}; {'converged' if self.converged else 'NOT converged'}",
                 f"  bootstrap: {len(self.bootstrap)} resamples of the {resampled} (seed {self.seed})"
                 + ("; refitted by variable projection, so the intervals describe that estimator, not this "
                    "Huber estimate" if self.method == "lmfit" and len(self.variables) == 1 else ""), ""]
        lines += ["  " + row for row in self.to_frame().to_string(float_format=lambda v: f"{v:.4g}").splitlines()]
        lines += ["", f"  R^2 of the fitted law at the points: {self.r2['linear']:.4f} (L), {self.r2['log']:.4f} (log L)"]
        if self.route_check is not None:
            rc = self.route_check
            lines.append(f"  {rc.other_method} route: predictions within {rc.max_prediction_gap:.2%} over the data, "
                         f"exponent differs by {rc.exponent_gap:+.4f} ({'agree' if rc.agree else 'DISAGREE'}: "
                         f"tolerance {rc.tolerance:.2%}, the points' scatter about the fit or 1%)")
        if self.extrapolation is None:
            lines.append("  extrapolation: skipped (too few points below the largest value to refit)")
        else:
            ex = self.extrapolation
            errors = ", ".join(f"{e:+.2%}" for e in ex.relative_error)
            lines.append(f"  extrapolation: refit without {ex.held_out} = {ex.held_out_value:.3g}; "
                         f"relative error at the held-out point(s): {errors}")
        lines += ["", "  bootstrap correlations (scales as logs):"]
        lines += ["  " + row for row in self.correlations().round(2).to_string().splitlines()]
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.report()

    # ------------------------------------------------------------ persistence

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dictionary holding everything `from_dict` needs."""
        return {
            "law": self.law, "title": self.title, "method": self.method, "description": self.description,
            "variables": {k: v.tolist() for k, v in self.variables.items()}, "ce": self.ce.tolist(),
            "params": self.params, "converged": self.converged, "level": self.level, "seed": self.seed,
            "intervals": {p: [v if np.isfinite(v) else None for v in bounds]  # None: no resample refitted
                          for p, bounds in self.intervals().items()},
            "bootstrap": {p: [None if np.isnan(v) else v for v in self.bootstrap[p].tolist()]
                          for p in self.bootstrap.columns},  # NaN: an underdetermined resample
            "resample": self.resample, "bootstrap_unconverged": self.bootstrap_unconverged,
            "r2": self.r2, "notes": self.notes, "excluded_runs": self.excluded_runs,
            "extrapolation": asdict(self.extrapolation) if self.extrapolation else None,
            "route_check": asdict(self.route_check) if self.route_check else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FitResult:
        """Inverse of `to_dict` (the stored `intervals` are recomputed from `bootstrap`)."""
        fields = {k: v for k, v in data.items() if k != "intervals"}
        fields["variables"] = {k: np.asarray(v, dtype=float) for k, v in data["variables"].items()}
        fields["ce"] = np.asarray(data["ce"], dtype=float)
        fields["bootstrap"] = pd.DataFrame(data["bootstrap"], columns=list(data["params"]), dtype=float)
        fields["extrapolation"] = Extrapolation(**data["extrapolation"]) if data["extrapolation"] else None
        fields["route_check"] = RouteCheck(**data["route_check"]) if data["route_check"] else None
        return cls(**fields)


def save_fits(path: str | os.PathLike, fits: dict[str, FitResult | None]) -> Path:
    """Write fits by law name (a key of `laws.LAWS`) to a JSON file; None entries are skipped."""
    payload = {name: result.to_dict() for name, result in fits.items() if result is not None}
    return write_text_atomic(path, json.dumps(payload, indent=1, allow_nan=False))


def load_fits(path: str | os.PathLike) -> dict[str, FitResult]:
    """Read fits written by `save_fits`."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: run notebooks/05_fit_scaling_laws.ipynb first")
    return {name: FitResult.from_dict(data) for name, data in json.loads(path.read_text(encoding="utf-8")).items()}


def parameters_table(fits: dict[str, FitResult | None]) -> pd.DataFrame:
    """Every fit's `to_frame()` stacked, one block of parameters per fit."""
    return pd.concat({name: r.to_frame() for name, r in fits.items() if r is not None})


def checks_table(fits: dict[str, FitResult | None]) -> pd.DataFrame:
    """One row per fit: R^2, extrapolation error, route gap and span, for a side-by-side view."""
    rows = {}
    for name, r in fits.items():
        if r is None:
            continue
        rows[name] = {
            "runs": r.ce.size,
            "decades": min(r.decades().values()),
            "R^2 (L)": r.r2["linear"],
            "R^2 (log L)": r.r2["log"],
            "extrapolation max |rel. error|": r.extrapolation.max_abs_error if r.extrapolation else np.nan,
            "route prediction gap": r.route_check.max_prediction_gap if r.route_check else np.nan,
            "converged": r.converged,
        }
    return pd.DataFrame.from_dict(rows, orient="index")
