"""Figures for the notebooks: each function draws one figure and returns it; the caller saves
it with `save_figure`, so every figure is saved one way and at one resolution.

Fitted laws are drawn on log-log axes with the runs, the fitted curve, its bootstrap band
and, dashed, the paper's published curves for the same law, so the reader can compare the
functional form (not the constants: the paper's models, data and scale differ from ours).
The y-axis is set by the runs and the curves, never by the band: a band that fans out at the
edge of the data is cut off by the axes instead of squashing the runs into a line. The
paper's curves are drawn only over the range the paper measured, and the fitted values are
in the legend with their intervals. Where several runs share a value of x (several seeds),
the marker is their mean, each run a small translucent dot and a vertical line spans the
lowest to the highest run, so the seed-to-seed spread is seen beside the band.
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from drscale.fit import laws
from drscale.fit.laws import EXPONENTS
from drscale.fit.published import PUBLISHED, PublishedLaw
from drscale.common.files import write_bytes_atomic
from drscale.common.values import geometric_mean
from drscale.fit.result import FitResult
from drscale.fit.published import PAPER_MEASURED_RANGE

_AXIS_LABELS = {"n_params": "non-embedding parameters N", "data_size": "annotated pairs D",
                "embedding_dim": "embedding dimension d",
                "encoder_params": "encoder parameters N (non-embedding, without the projection)"}
FIGURE_DPI = 150
"""The resolution every saved figure has."""
FORMULAS = {
    "model_size": r"$L(N) = (A/N)^{\alpha} + \delta$",
    "data_size": r"$L(D) = (B/D)^{\beta} + \delta$",
    "joint": r"$L(N, D) = [(A/N)^{\alpha/\beta} + B/D]^{\beta} + \delta$",
    "embedding_dim": r"$L(d) = (C/d)^{\gamma} + \delta$",
    "joint_dim": r"$L(N, d) = (A/N)^{\alpha} + (C/d)^{\gamma} + \delta$",
}
"""Each law's formula as the figures' titles write it."""
GREEK = {"alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ"}
PAPER_VERSIONS = {"v1": "v1", "sigir": "SIGIR, secondary source"}
Y_MARGIN = 1.25
"""Head- and footroom of the y-axis: this factor beyond the runs and curves on a log axis."""
SEED_DOT = {"alpha": 0.35, "lw": 0, "zorder": 2}
"""How each run is drawn where several runs share a value of x: small and translucent."""


def _grid(values: np.ndarray, margin_decades: float = 0.25, size: int = 200) -> np.ndarray:
    """Log-spaced points over the data's range, widened by `margin_decades` on each side."""
    lo, hi = np.log10(values.min()) - margin_decades, np.log10(values.max()) + margin_decades
    return np.logspace(lo, hi, size)


def fitted_values(result: FitResult, names: tuple[str, ...] | None = None) -> str:
    """The fit's exponents and floor as a reader reads them: "α = 0.46 [0.41, 0.52], δ = ..."
    with the bootstrap interval at the fit's level; `names` defaults to the law's exponents and delta."""
    names = (*laws.get(result.law).exponents, "delta") if names is None else names
    intervals = result.intervals()
    return ", ".join(f"{GREEK[p]} = {result.params[p]:.3g} [{intervals[p][0]:.3g}, {intervals[p][1]:.3g}]"
                     for p in names if p in result.params)


def paper_curve(entry: PublishedLaw, variable: str, size: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """A published one-variable law over the range the paper measured (`PAPER_MEASURED_RANGE`);
    where that range's lower end is unknown, from a decade below its upper end."""
    low, high = PAPER_MEASURED_RANGE[variable]
    x = np.geomspace(high / 10 if low is None else low, high, size)
    return x, entry.predict(**{variable: x})


def paper_label(entry: PublishedLaw, variable: str) -> str:
    """"Fang et al. 2024 (v1, msmarco), measured range", naming the version the numbers come from."""
    span = "measured range" if PAPER_MEASURED_RANGE[variable][0] is not None else \
        f"last decade below its largest {'N' if variable == 'n_params' else 'D'}"
    return f"Fang et al. 2024 ({PAPER_VERSIONS.get(entry.version, entry.version)}, {entry.dataset}), {span}"


def _limits(*values: np.ndarray) -> tuple[float, float]:
    """Log-axis limits holding every finite positive value given, with `Y_MARGIN` to spare."""
    pooled = np.concatenate([np.ravel(v) for v in values])
    pooled = pooled[np.isfinite(pooled) & (pooled > 0)]
    return float(pooled.min() / Y_MARGIN), float(pooled.max() * Y_MARGIN)


def _log_ticks(ax: Axes) -> None:
    """Labels on major ticks only, and on a short log axis at 1, 2 and 5 times each power of
    ten, so labels never collide and an axis spanning less than a decade still has some."""
    for axis in (ax.xaxis, ax.yaxis):
        _log_axis_ticks(axis)


def _log_axis_ticks(axis: Axis) -> None:
    if axis.get_scale() != "log":
        return
    low, high = sorted(axis.get_view_interval())
    short = high / low < 100
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if short else (1.0,), numticks=8))
    axis.set_minor_formatter(NullFormatter())
    if short:
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))


def _draw_spread(ax: Axes, x: np.ndarray, y: np.ndarray, colour: object, size: float) -> pd.DataFrame:
    """Runs per value of x: with several at one x, each run as a small translucent dot and a
    vertical line from the lowest to the highest; returns the mean (geometric, the point a law
    is fitted to), min, max and count per x."""
    per_x = pd.DataFrame({"x": np.asarray(x, dtype=float), "y": np.asarray(y, dtype=float)}).groupby("x")["y"] \
        .agg([geometric_mean, "min", "max", "size"]).rename(columns={"geometric_mean": "mean"})
    if (per_x["size"] > 1).any():
        ax.scatter(x, y, color=colour, s=size / 2.5, **SEED_DOT)
        ax.vlines(per_x.index, per_x["min"], per_x["max"], color=colour, lw=1, alpha=0.6, zorder=2)
    return per_x


def _draw_runs(ax: Axes, x: np.ndarray, y: np.ndarray, colour: object, label: str | None = None,
               size: float = 18, **marker: object) -> None:
    """Runs as markers: one per run, or, where seeds share a value of x, one at their geometric mean over
    the spread `_draw_spread` draws."""
    per_x = _draw_spread(ax, x, y, colour, size)
    if (per_x["size"] == 1).all():
        ax.scatter(x, y, color=colour, s=size, zorder=3, label=label, **marker)
        return
    if label is not None:
        label += f", geometric mean of up to {per_x['size'].max()} per point, line: lowest to highest"
    ax.scatter(per_x.index, per_x["mean"], color=colour, s=size, zorder=3, label=label, **marker)


def plot_fit(result: FitResult, dataset: str = "msmarco", versions: tuple[str, ...] = ("v1", "sigir")) -> Figure:
    """One-variable law: runs, fitted curve (its exponent and floor in the legend), bootstrap band
    and the paper's curves (dashed) over the paper's measured range."""
    if len(result.variables) != 1:
        raise ValueError(f"plot_fit draws one-variable laws; {result.law!r} has {len(result.variables)} variables")
    (name, x), = result.variables.items()
    grid = _grid(x)
    lo, hi = result.band(grid)
    fig, ax = plt.subplots(figsize=(7.0, 4.8), layout="constrained")
    colour = sns.color_palette("deep")[0]
    ax.fill_between(grid, lo, hi, color=colour, alpha=0.25, lw=0, label=f"{result.level:.0%} bootstrap band")
    ax.plot(grid, result.predict(grid), color=colour, lw=2, label=f"fit: {fitted_values(result)}")
    _draw_runs(ax, x, result.ce, "black", label=f"runs ({result.ce.size})")
    shown = [result.ce, result.predict(grid)]
    published = [p for p in PUBLISHED if p.law == result.law and p.dataset == dataset and p.version in versions]
    for entry, shade in zip(published, sns.color_palette("muted")[1:]):
        paper_x, paper_y = paper_curve(entry, name)
        ax.plot(paper_x, paper_y, ls="--", color=shade, lw=1.3, label=paper_label(entry, name))
        shown.append(paper_y)
    ax.set(xscale="log", yscale="log", xlabel=_AXIS_LABELS[name], ylabel="contrastive entropy L",
           ylim=_limits(*shown), title=f"{result.law.replace('_', '-')} law: {FORMULAS[result.law]}")
    _log_ticks(ax)
    ax.legend(fontsize=7.5)
    return fig


def plot_held_out(result: FitResult, verified: pd.DataFrame, measured: pd.DataFrame) -> Figure:
    """Predict, then verify, for a one-variable law: the runs it was fitted to, the law and its
    band carried out to the held-out values, each prediction interval as a bar, and what the
    held-out runs measured (`verified`: `drscale.studies.prediction.verify`; `measured`: the
    held-out runs' table), each run as a dot and their mean as a star."""
    if len(result.variables) != 1:
        raise ValueError(f"plot_held_out draws one-variable laws; {result.law!r} has {len(result.variables)} variables")
    (name, x), = result.variables.items()
    held_x = verified[name].to_numpy(dtype=float)
    grid = np.geomspace(x.min(), held_x.max(), 200)
    lo, hi = result.band(grid)
    fig, ax = plt.subplots(figsize=(7.0, 4.8), layout="constrained")
    colour, held = sns.color_palette("deep")[0], sns.color_palette("deep")[3]
    ax.fill_between(grid, lo, hi, color=colour, alpha=0.25, lw=0, label=f"{result.level:.0%} band of the law")
    ax.plot(grid, result.predict(grid), color=colour, lw=2, label=f"fitted without the largest: {fitted_values(result)}")
    _draw_runs(ax, x, result.ce, "black", label=f"runs fitted ({result.ce.size})")
    below = verified.predicted - verified["interval low"]
    above = verified["interval high"] - verified.predicted
    ax.errorbar(held_x, verified.predicted, yerr=[below, above], fmt="o", mfc="white", color=colour, capsize=5,
                zorder=4, label=f"prediction, {result.level:.0%} interval of a measurement")
    ax.scatter(measured[name], measured.ce, color=held, s=14, alpha=0.5, zorder=4)
    ax.scatter(held_x, verified.observed, marker="*", s=140, color=held, zorder=5,
               label=f"held-out runs ({len(measured)}): {int(verified.inside.sum())} of {len(verified)} inside")
    ax.set(xscale="log", yscale="log", xlabel=_AXIS_LABELS[name], ylabel="contrastive entropy L",
           ylim=_limits(result.ce, measured.ce, verified["interval low"], verified["interval high"]),
           title=f"predict, then verify: {result.law.replace('_', '-')} law")
    _log_ticks(ax)
    ax.legend(fontsize=7.5)
    return fig


def plot_joint_fit(result: FitResult) -> Figure:
    """Joint law: L against N, one curve (with band) per data size, runs as points, the fitted
    exponents and floor in the legend's title."""
    if result.law != "joint":
        raise ValueError(f"plot_joint_fit draws the joint law; got a {result.law!r} fit")
    return _plot_curves_per_value(result, along="n_params", per="data_size", symbol="D", title="joint law")


def plot_joint_dim_fit(result: FitResult) -> Figure:
    """Joint-dimension law: L against the embedding dimension d, one curve (with band) per model
    size N, runs as points, the fitted exponents and floor in the legend's title."""
    if result.law != "joint_dim":
        raise ValueError(f"plot_joint_dim_fit draws the joint_dim law; got a {result.law!r} fit")
    return _plot_curves_per_value(result, along="embedding_dim", per="encoder_params", symbol="N",
                                  title="joint-dimension law")


def _plot_curves_per_value(result: FitResult, along: str, per: str, symbol: str, title: str) -> Figure:
    """A two-variable law against `along`, one curve (with band) per value of `per` in the runs,
    runs as points, the fitted exponents and floor in the legend's title."""
    x, groups = result.variables[along], result.variables[per]
    grid = _grid(x)
    values = np.unique(groups)
    fig, ax = plt.subplots(figsize=(7.0, 4.8), layout="constrained")
    shown = [result.ce]
    for value, colour in zip(values, sns.color_palette("viridis", len(values))):
        at = {along: grid, per: np.full_like(grid, value)}
        args = [at[v] for v in result.variables]  # the law's own order
        lo, hi = result.band(*args)
        curve = result.predict(*args)
        ax.fill_between(grid, lo, hi, color=colour, alpha=0.2, lw=0)
        ax.plot(grid, curve, color=colour, lw=1.8, label=f"{symbol} = {value:.3g}")
        _draw_runs(ax, x[groups == value], result.ce[groups == value], colour, size=22, edgecolor="black")
        shown.append(curve)
    ax.set(xscale="log", yscale="log", xlabel=_AXIS_LABELS[along], ylabel="contrastive entropy L",
           ylim=_limits(*shown), title=f"{title}: {FORMULAS[result.law]}")
    _log_ticks(ax)
    ax.legend(fontsize=8, title=f"fit, {result.level:.0%} band\n{fitted_values(result)}", title_fontsize=8)
    return fig


def plot_bootstrap_params(result: FitResult) -> Figure:
    """Pairwise scatter of the bootstrap parameters (scales as logs): tilted clouds mean trade-offs."""
    table = result.bootstrap.copy()
    for p in result.params:
        if p not in EXPONENTS:
            with np.errstate(divide="ignore"):
                table[f"log10 {p}"] = np.log10(table.pop(p))
    table = table.replace([np.inf, -np.inf], np.nan).dropna()
    grid = sns.pairplot(table, corner=True, plot_kws={"s": 6, "alpha": 0.4, "edgecolor": "none"},
                        diag_kws={"bins": 30}, height=1.8)
    grid.figure.suptitle(f"{result.law.replace('_', '-')} law: {len(result.bootstrap)} bootstrap fits", y=1.01)
    return grid.figure


def plot_scaling_curve(table: pd.DataFrame, x: str = "n_params", y: str = "ce", label: str = "model",
                       hue: str | None = None) -> Figure:
    """Measured contrastive entropy against N, D or d on log-log axes, each point labelled.

    `table` is a sweep table (one row per finished run, columns `x`, `y` and `label`). Runs that
    share a value of `x` (seeds) are drawn at their geometric mean, with each run and their range. With
    `hue` (e.g. "model" for CE against d), one line per value of that column, in the order of
    first appearance, named in the legend instead of labels at the points; against d, a dotted
    line in each model's colour marks its hidden size H, past which the projection adds no rank.
    """
    if x not in _AXIS_LABELS:
        raise ValueError(f"x must be one of {sorted(_AXIS_LABELS)}; got {x!r}")
    if len(table) == 0:
        raise ValueError("the sweep table has no finished runs to draw")
    ordered = table.sort_values(x)
    fig, ax = plt.subplots(figsize=(6, 4.2))
    keys = [None] if hue is None else list(dict.fromkeys(table[hue]))
    palette = dict(zip(keys, sns.color_palette("deep" if hue is None else "viridis", len(keys))))
    for key in keys:
        group = ordered if key is None else ordered[ordered[hue] == key]
        per_x = _draw_spread(ax, group[x].to_numpy(), group[y].to_numpy(), palette[key], 36)
        ax.plot(per_x.index, per_x["mean"], marker="o", color=palette[key], label=None if key is None else str(key))
        if x == "embedding_dim" and {"n_params", "encoder_params"} <= set(group.columns):
            hidden = ((group.n_params - group.encoder_params) / group.embedding_dim - 1).iloc[0]
            ax.axvline(hidden, color=palette[key], ls=":", lw=1.2)  # past H the projection adds no rank
    if hue is None:
        for value, group in ordered.groupby(x, sort=True):
            ax.annotate(" / ".join(dict.fromkeys(map(str, group[label]))), (value, per_x.loc[float(value), "mean"]),
                        textcoords="offset points", xytext=(4, 5), fontsize=7)
    else:
        ax.legend(title=hue, fontsize=8)
    ax.set(xscale="log", yscale="log", xlabel=_AXIS_LABELS[x], ylabel="contrastive entropy")
    _log_ticks(ax)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_learning_curves(curves: pd.DataFrame, hue: str = "model", chance: float | None = None) -> Figure:
    """Dev contrastive entropy against training step, one line per run (coloured by `hue`,
    "model" or "data_size"), the checkpoint each run reports marked with a star.

    `curves` is `drscale.sweep.records.learning_curves`; step 0 (before any update) is drawn at the
    left edge of the log-scaled step axis. `chance`, ln(W + 1), is drawn as a dotted line.
    """
    if len(curves) == 0:
        raise ValueError("no dev learning curves to draw: were the runs trained with eval_points > 0?")
    order = curves.sort_values(["n_params", "data_size"])[hue].drop_duplicates().tolist()
    palette = dict(zip(order, sns.color_palette("viridis", len(order))))
    shown = curves.assign(step=curves.step.clip(lower=0.5))  # step 0 sits at the axis' left edge
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for key in order:
        for _, run in shown[shown[hue] == key].groupby("run_id"):
            run = run.sort_values("step")
            ax.plot(run.step, run.dev_ce, color=palette[key], lw=1.5, marker=".", ms=4, label=f"{key:,}" if isinstance(key, (int, np.integer)) else key)
            chosen = run[run.selected]
            ax.scatter(chosen.step, chosen.dev_ce, color=palette[key], marker="*", s=140, edgecolor="black", zorder=3)
    if chance is not None:
        ax.axhline(chance, color="grey", ls=":", lw=1, label=f"chance, ln(W+1) = {chance:.2f}")
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    ax.legend(unique.values(), unique.keys(), fontsize=7, title=hue.replace("_", " "), ncol=2)
    ax.set(xscale="log", xlabel="training step (step 0 at the left edge)", ylabel="dev contrastive entropy",
           title="learning curves on dev; ★ = the checkpoint reported")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_joint_grid(table: pd.DataFrame) -> Figure:
    """Contrastive entropy against D, one line per model, log-log: a joint sweep at a glance."""
    if len(table) == 0:
        raise ValueError("the sweep table has no finished runs to draw")
    ordered = table.sort_values(["n_params", "data_size"])
    fig, ax = plt.subplots(figsize=(6, 4.2))
    sns.lineplot(data=ordered, x="data_size", y="ce", hue="model", marker="o", ax=ax, errorbar=None)
    ax.set(xscale="log", yscale="log", xlabel=_AXIS_LABELS["data_size"], ylabel="contrastive entropy")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_token_lengths(lengths: pd.DataFrame, name: str) -> Figure:
    """Histograms of the token lengths of sampled passages and queries of the data set `name`
    (`drscale.data.inspection.token_lengths`), on a log axis so short queries and passages
    thousands of tokens long show on one scale; the title says how many of each were sampled."""
    if len(lengths) == 0:
        raise ValueError("no token lengths to draw")
    sampled = lengths["text"].value_counts()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    sns.histplot(data=lengths, x="tokens", hue="text", log_scale=True, element="step", ax=ax)
    ax.set(title=f"{name}: token lengths (samples of {sampled.get('passage', 0)} passages, "
                 f"{sampled.get('query', 0)} queries)")
    return fig


def save_figure(fig: Figure, figures_dir: str | Path, name: str) -> Path:
    """Save `fig` as `figures_dir/name` (folder created) at `FIGURE_DPI`, trimmed to what is drawn
    so no title or label is cut; every notebook saves its figures through here. Written whole
    (`write_bytes_atomic`): a crash leaves the previous figure, not half of the new one."""
    path = Path(figures_dir) / name
    path = path if path.suffix else path.with_suffix(".png")  # as savefig names a file without a suffix
    buffer = io.BytesIO()
    fig.savefig(buffer, format=path.suffix.lstrip("."), dpi=FIGURE_DPI, bbox_inches="tight", pad_inches=0.1)
    return write_bytes_atomic(path, buffer.getvalue())


def plot_source_fits(fits: dict[str, FitResult]) -> Figure:
    """Data-size laws of several training-pair sources on one log-log plot (notebook 07): each
    source's runs, fitted curve and bootstrap band, its beta and interval in the legend, so
    the steepness of the curves can be compared at a glance."""
    if not fits:
        raise ValueError("plot_source_fits needs at least one fit")
    wrong = [name for name, r in fits.items() if r.law != "data_size"]
    if wrong:
        raise ValueError(f"plot_source_fits draws data-size laws; {wrong} are not")
    grid = _grid(np.concatenate([r.variables["data_size"] for r in fits.values()]))
    fig, ax = plt.subplots(figsize=(7.0, 4.8), layout="constrained")
    shown = []
    for (name, result), colour in zip(fits.items(), sns.color_palette("deep", len(fits))):
        lo, hi = result.band(grid)
        ax.fill_between(grid, lo, hi, color=colour, alpha=0.2, lw=0)
        ax.plot(grid, result.predict(grid), color=colour, lw=2, label=f"{name}: {fitted_values(result, ('beta',))}")
        ax.scatter(result.variables["data_size"], result.ce, color=colour, edgecolor="black", s=22, zorder=3)
        shown += [result.ce, result.predict(grid)]
    level = next(iter(fits.values())).level
    ax.set(xscale="log", yscale="log", xlabel=_AXIS_LABELS["data_size"], ylabel="contrastive entropy L",
           ylim=_limits(*shown), title="data-size law by source of training pairs")
    _log_ticks(ax)
    ax.legend(fontsize=8, title=f"fit, {level:.0%} bootstrap band")
    ax.grid(True, which="major", alpha=0.3)
    return fig
