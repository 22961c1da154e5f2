"""An ipywidgets panel over `drscale.budget.cost`: move the budget or a cost assumption, see (N*, D*) move.

The panel is a thin layer. `compute_view(settings, choices)` is a pure function from the
controls' values to every number the panel shows; `contour_figure` and `optimum_figure`
draw a view; `BudgetPanel` only reads its widgets, calls those, and puts the results in an
HTML widget and an Output widget. So tests can drive the panel by setting `.value` on its
widgets in plain Python, and a headless notebook run saves the very figures a reader sees.
Only core ipywidgets are used: a served notebook needs no widget JavaScript from a CDN.
"""

from __future__ import annotations

import dataclasses
import functools
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import ipywidgets as widgets
import numpy as np
import seaborn as sns
from IPython.display import Image, display
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from drscale.budget import cost
from drscale.budget.choices import LAW_LABELS, chosen_law, default_law
from drscale.budget.table import interval_html, range_note_html
from drscale.plots import save_figure

BUDGET_RANGE_USD = np.logspace(3, 9, 61)
"""Budgets of the 'optimum against budget' figure: 1e3 to 1e9 USD, 10 per decade."""
PAPER = cost.paper_cost_model()
"""The paper's cost assumptions, where the panel's controls start."""
SLIDER_LAYOUT = {"width": "460px"}
"""Wide enough that a slider's description, track and readout all show in full."""
EXTRAPOLATED = {"color": "0.55", "alpha": 0.18, "lw": 0}
"""How every figure shades (N, D) outside the law's measured range."""
T = TypeVar("T")  # what a panel computes from its controls


@dataclass(frozen=True)
class PanelSettings:
    """The values of the panel's controls; the paper's assumptions by default."""

    budget_usd: float = 1e5
    annotation_usd_per_pair: float = PAPER.annotation_usd_per_pair
    gpu_hour_usd: float = PAPER.hardware.gpu_hour_usd
    utilisation: float = PAPER.hardware.utilisation
    index_passages: float = PAPER.inference.index_passages
    include_inference: bool = False
    law: str | None = None  # a key of `choices.available_laws`; None: our fit if the study has one, else the paper's v1

    def cost_model(self) -> cost.CostModel:
        """The paper's cost model with this panel's four adjustable assumptions."""
        return cost.paper_cost_model(
            annotation_usd_per_pair=self.annotation_usd_per_pair,
            gpu_hour_usd=self.gpu_hour_usd,
            utilisation=self.utilisation,
            index_passages=self.index_passages,
        )


@dataclass(frozen=True)
class PanelView:
    """Everything the panel shows for one setting of its controls."""

    settings: PanelSettings
    law: cost.JointLaw
    optimum: cost.Allocation  # at settings.budget_usd
    curve: cost.Allocation  # over the budget range, this inference setting, with intervals
    other_curve: cost.Allocation  # over the budget range, the other inference setting, point law


def compute_view(
    settings: PanelSettings, choices: Mapping[str, cost.JointLaw], budgets_usd: np.ndarray = BUDGET_RANGE_USD
) -> PanelView:
    """The pure update function: control values in, every optimum the panel shows out.

    The view's settings name the law actually used (`default_law` when `settings.law` is None).
    """
    settings = dataclasses.replace(settings, law=settings.law or default_law(choices))
    law = chosen_law(choices, settings.law)
    model = settings.cost_model()
    inference = settings.include_inference
    return PanelView(
        settings,
        law,
        cost.optimal_allocation(law, settings.budget_usd, model, inference),
        cost.optimal_allocation(law, budgets_usd, model, inference),
        cost.optimal_allocation(dataclasses.replace(law, bootstrap=None), budgets_usd, model, not inference),
    )


def _inference_label(include_inference: bool) -> str:
    return "with inference cost" if include_inference else "without inference cost"


def law_title(view: PanelView) -> str:
    """The name of the view's law, as every title and summary gives it."""
    return LAW_LABELS.get(view.settings.law, view.settings.law)


def summary_html(view: PanelView) -> str:
    """The current optimum as a small HTML table: N*, D* (each flagged, in red, when the law only
    extrapolates to it), the predicted loss and the budget split, with 95% intervals when the law
    has bootstrap samples."""
    row = view.optimum.to_frame().iloc[0]
    measured = view.law.measured or {}

    bounds = functools.partial(interval_html, row)
    range_note = functools.partial(range_note_html, row, measured=measured)

    split = " / ".join(f"{term} {100 * row[term + '_share']:.1f}%{bounds(term + '_share', 100, '.1f', '')}"
                       for term in ("data", "train", "infer"))
    return (
        '<div class="drscale-optimum">'
        f"<b>Budget {view.settings.budget_usd:,.0f} USD, {_inference_label(view.settings.include_inference)}, "
        f"law: {law_title(view)}</b>"
        "<table>"
        f"<tr><td>N*</td><td>{row['n_params']:.3g}</td><td>parameters{bounds('n_params')}"
        f"{range_note('n_params')}</td></tr>"
        f"<tr><td>D*</td><td>{row['data_size']:.3g}</td><td>annotated pairs{bounds('data_size')}"
        f"{range_note('data_size')}</td></tr>"
        f"<tr><td>L*</td><td>{row['loss']:.4g}</td><td>predicted contrastive entropy{bounds('loss')}"
        "</td></tr>"
        f"<tr><td>split</td><td colspan=2>{split}</td></tr>"
        "</table></div>"
    )


def axis_grid(value: float, span: cost.Span | None) -> np.ndarray:
    """Log-spaced axis values around an optimum, wide enough to show the measured span too."""
    lo, hi = np.log10(value) - 2, np.log10(value) + 2
    if span is not None:
        known = [np.log10(end) for end in span if end is not None]
        lo, hi = min(lo, min(known) - 0.5), max(hi, max(known) + 0.5)
    return np.logspace(lo, hi, 200)


def contour_figure(view: PanelView) -> Figure:
    """Iso-loss contours of the joint law over (N, D), the budget line and the optimum on it,
    the region outside the law's measured N and D shaded as extrapolation."""
    n_star, d_star = view.optimum.n_params[0], view.optimum.data_size[0]
    measured = view.law.measured or {}
    n_grid, d_grid = axis_grid(n_star, measured.get("n_params")), axis_grid(d_star, measured.get("data_size"))
    loss = cost.JOINT.predict(view.law.params, n_grid[None, :], d_grid[:, None])
    delta = view.law.params["delta"]
    reducible = view.optimum.loss[0] - delta
    levels = delta + reducible * np.geomspace(1 / 16, 16, 9)
    model = view.optimum.cost_model
    z_model = model.z_model_per_param(view.settings.include_inference)
    line_n = np.geomspace(n_grid[0], view.settings.budget_usd / z_model, 400)[:-1]
    line_d = (view.settings.budget_usd - z_model * line_n) / model.z_data_per_pair
    extrapolated = any(f != 1 for f in (view.optimum.extrapolation("n_params")[0],
                                        view.optimum.extrapolation("data_size")[0]))
    with sns.axes_style("whitegrid"):
        fig = Figure(figsize=(6.8, 5.4), layout="constrained")
        ax = fig.add_subplot()
        handles = shade_outside_measured(ax, n_grid, d_grid, measured)
        iso_loss_contours(ax, n_grid, d_grid, loss, levels, view.optimum.loss[0])
        ax.plot(line_n, line_d, color="tab:red", label=f"budget {view.settings.budget_usd:,.0f} USD")
        ax.plot(n_star, d_star, marker="*", markersize=16, color="tab:red", linestyle="none",
                label=f"optimum N*={n_star:.3g}, D*={d_star:.3g}" + (" (extrapolated)" if extrapolated else ""))
        ax.set(xscale="log", yscale="log", xlim=n_grid[[0, -1]], ylim=d_grid[[0, -1]],
               xlabel="model size N (non-embedding parameters)", ylabel="data size D (annotated pairs)")
        ax.set_title(f"Iso-loss contours, {_inference_label(view.settings.include_inference)}\n{law_title(view)}",
                     fontsize=10)
        ax.minorticks_off()  # minor ticks over many decades cost more to draw than they show
        ax.legend(handles=ax.get_legend_handles_labels()[0] + handles, loc="lower left", fontsize=8, framealpha=0.9)
    return fig


def iso_loss_contours(ax: Axes, x_grid: np.ndarray, y_grid: np.ndarray, loss: np.ndarray, levels: np.ndarray,
                      optimum_loss: float) -> None:
    """Labelled contours of `loss` (shape (y, x)) at `levels`, and the optimum's own level dashed."""
    contours = ax.contour(x_grid, y_grid, loss, levels=levels, cmap="viridis_r")
    # inline labels cut wrong lengths out of contours on log axes: boxed labels over whole lines instead
    for label in ax.clabel(contours, inline=False, fmt="%.3g", fontsize=8):
        label.set_bbox({"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.8})
        label.set_clip_on(True)
    ax.contour(x_grid, y_grid, loss, levels=[optimum_loss], colors="black", linestyles="--")


def shade_outside_measured(ax: Axes, n_grid: np.ndarray, d_grid: np.ndarray, measured: Mapping[str, cost.Span],
                           variables: tuple[str, str] = ("n_params", "data_size")) -> list[Patch]:
    """Shade the grid outside the measured box of `variables` (x, then y) and outline the box;
    the legend entries to add."""
    if not measured:
        return []
    inside = np.ones((d_grid.size, n_grid.size), dtype=bool)
    corners = []
    for variable, values, axis in ((variables[0], n_grid, 1), (variables[1], d_grid, 0)):
        low, high = measured.get(variable, (None, np.inf))
        low = values[0] if low is None else low
        within = (values >= low) & (values <= high)
        inside &= within[None, :] if axis == 1 else within[:, None]
        corners.append((max(low, values[0]), min(high, values[-1])))
    ax.contourf(n_grid, d_grid, (~inside).astype(float), levels=[0.5, 1.5], colors=[EXTRAPOLATED["color"]],
                alpha=EXTRAPOLATED["alpha"])
    (n_lo, n_hi), (d_lo, d_hi) = corners
    ax.add_patch(Rectangle((n_lo, d_lo), n_hi - n_lo, d_hi - d_lo, fill=False, edgecolor="0.35", lw=1, ls=":"))
    symbols = " and ".join(cost.VARIABLE_SYMBOLS[v] for v in variables)
    return [Patch(facecolor=EXTRAPOLATED["color"], alpha=EXTRAPOLATED["alpha"] + 0.1, edgecolor="0.35",
                  label=f"outside the measured {symbols}: extrapolation")]


def optimum_figure(view: PanelView) -> Figure:
    """N*, D* and the predicted loss against budget, both inference settings, current budget marked,
    N* and D* beyond the law's measured range shaded as extrapolation."""
    curves = {view.settings.include_inference: view.curve, not view.settings.include_inference: view.other_curve}
    measured = view.law.measured or {}
    with sns.axes_style("whitegrid"):
        fig = Figure(figsize=(12.0, 4.2), layout="constrained")
        axes = fig.subplots(1, 3)
        for column, label, ax in zip(("n_params", "data_size", "loss"), ("N*", "D*", "predicted loss L*"), axes):
            for inference, curve in sorted(curves.items()):
                frame = curve.to_frame()
                current = inference == view.settings.include_inference
                sns.lineplot(data=frame, x="budget_usd", y=column, ax=ax, label=_inference_label(inference),
                             color="tab:red" if inference else "tab:blue", linestyle="-" if current else ":")
                if current and f"{column}_low" in frame:
                    ax.fill_between(frame["budget_usd"], frame[f"{column}_low"], frame[f"{column}_high"],
                                    color="tab:red" if inference else "tab:blue", alpha=0.2)
            ax.axvline(view.settings.budget_usd, color="grey", linestyle="--")
            ax.plot(view.settings.budget_usd, view.optimum.to_frame()[column].iloc[0], "ko")
            ax.set(xscale="log", yscale="log", xlabel="budget (USD)", ylabel=label)
            if column in measured:
                _shade_beyond(ax, measured[column])
            ax.minorticks_off()
            ax.legend(fontsize=8)
        fig.suptitle(f"Budget-optimal allocation under {law_title(view)}", fontsize=11)
    return fig


def _shade_beyond(ax: Axes, span: cost.Span) -> None:
    """Shade the values of the y axis outside `span` without moving its limits."""
    bottom, top = ax.get_ylim()
    low, high = span
    label = "outside the measured range"
    if high < top:
        ax.axhspan(max(high, bottom), top, **EXTRAPOLATED, label=label)
        label = "_nolegend_"
    if low is not None and low > bottom:
        ax.axhspan(bottom, min(low, top), **EXTRAPOLATED, label=label)
    ax.set_ylim(bottom, top)


FIGURES = {"budget_contours.png": contour_figure, "budget_optimum.png": optimum_figure}
"""The panel's figures by file name, as notebook 06 saves them among the study's figures."""


def save_figures(view: PanelView, figures_dir: str | Path) -> list[Path]:
    """Draw both figures of `view` and save them in `figures_dir` (a study's `Study.figures`)
    the way every notebook figure is saved (`drscale.plots.save_figure`); returns the paths."""
    return [save_figure(draw(view), figures_dir, name) for name, draw in FIGURES.items()]


def png_bytes(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    return buffer.getvalue()


def redraw(summary: widgets.HTML, figures: widgets.Output, compute: Callable[[], T],
           draw: Callable[[T], list[Figure]], describe: Callable[[T], str]) -> T | None:
    """A panel's refresh: `compute` the result of its controls, show `draw`'s figures, then
    `describe`'s summary (last, so a new summary means new figures too). A setting that
    `compute` refuses (ValueError) is shown in red in place of the summary, not raised; None."""
    try:
        result = compute()
    except ValueError as error:
        summary.value = f'<div class="drscale-optimum" style="color:#b00">{error}</div>'
        figures.clear_output()
        return None
    with figures:
        figures.clear_output(wait=True)
        for fig in draw(result):
            display(Image(png_bytes(fig)))
    summary.value = describe(result)
    return result


def log_slider(value: float, low_exp: float, high_exp: float, step: float, description: str) -> widgets.FloatLogSlider:
    """A base-10 slider whose range is widened to hold `value`, since sliders clip silently."""
    exponent = np.log10(value)
    return widgets.FloatLogSlider(
        value=value, min=min(low_exp, np.floor(exponent)), max=max(high_exp, np.ceil(exponent)), step=step,
        description=description, continuous_update=False, readout_format=".3g", style={"description_width": "initial"},
        layout=widgets.Layout(**SLIDER_LAYOUT),
    )


class BudgetPanel:
    """Controls for the budget and the cost assumptions above the optimum and its two figures."""

    def __init__(self, choices: Mapping[str, cost.JointLaw], settings: PanelSettings = PanelSettings(),
                 budgets_usd: np.ndarray = BUDGET_RANGE_USD) -> None:
        settings = dataclasses.replace(settings, law=settings.law or default_law(choices))
        chosen_law(choices, settings.law)
        self.choices = dict(choices)
        self.budgets_usd = budgets_usd
        style = {"description_width": "initial"}
        self.budget = log_slider(settings.budget_usd, 3, 9, 0.05, "Budget (USD)")
        self.annotation_price = log_slider(settings.annotation_usd_per_pair, -2, 2, 0.05, "Annotation (USD per pair)")
        self.index_size = log_slider(settings.index_passages, 6, 14, 0.1, "Index size (passages)")
        self.gpu_price = widgets.FloatSlider(
            value=settings.gpu_hour_usd, min=min(0.25, settings.gpu_hour_usd), max=max(20.0, settings.gpu_hour_usd),
            step=0.01, description="GPU price (USD per hour)", continuous_update=False, style=style,
            layout=widgets.Layout(**SLIDER_LAYOUT))
        self.utilisation = widgets.FloatSlider(
            value=settings.utilisation, min=min(0.01, settings.utilisation), max=1.0, step=0.01,
            description="GPU utilisation", continuous_update=False, style=style, layout=widgets.Layout(**SLIDER_LAYOUT))
        self.include_inference = widgets.Checkbox(
            value=settings.include_inference, description="Include inference (index encoding) cost", indent=False)
        self.law = widgets.Dropdown(
            options=[(LAW_LABELS.get(key, key), key) for key in self.choices], value=settings.law,
            description="Law", style=style, layout=widgets.Layout(**SLIDER_LAYOUT))
        self.summary = widgets.HTML()
        self.figures = widgets.Output()
        controls = (self.budget, self.annotation_price, self.gpu_price, self.utilisation, self.index_size,
                    self.include_inference, self.law)
        for control in controls:
            control.observe(self.refresh, names="value")
        self.widget = widgets.VBox([
            widgets.HBox([widgets.VBox(list(controls[:4])), widgets.VBox(list(controls[4:]))]),
            self.summary,
            self.figures,
        ])
        self.widget.add_class("drscale-budget-panel")
        self.view: PanelView | None = None
        self.refresh()

    def settings(self) -> PanelSettings:
        """The controls' current values."""
        return PanelSettings(
            budget_usd=self.budget.value, annotation_usd_per_pair=self.annotation_price.value,
            gpu_hour_usd=self.gpu_price.value, utilisation=self.utilisation.value,
            index_passages=self.index_size.value, include_inference=self.include_inference.value,
            law=self.law.value,
        )

    def refresh(self, change: Any = None) -> None:
        """Recompute the view from the controls and redraw (`redraw`)."""
        self.view = redraw(self.summary, self.figures, lambda: compute_view(self.settings(), self.choices, self.budgets_usd),
                           lambda view: [draw(view) for draw in FIGURES.values()], summary_html)

    def save_figures(self, figures_dir: str | Path) -> list[Path]:
        """Save the figures of the current view in `figures_dir` (a study's `Study.figures`)."""
        if self.view is None:
            raise ValueError(f"nothing to save: {self.summary.value}")
        return save_figures(self.view, figures_dir)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)
