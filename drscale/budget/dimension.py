"""Trade encoder size N against embedding dimension d under a money budget.

    minimise L(N, d) = (A/N)^alpha + (C/d)^gamma + delta   (the joint_dim law)
    subject to Z(N, d) = z_model * N + z_dim * d = budget

z_model is the cost model's dollars per encoder parameter (training, and encoding the index
when `include_inference`), z_dim the index's dollars per embedding dimension (storing and
searching it, `drscale.budget.index`). A larger embedding costs at every query and every
month the index is kept, so a budget can be better spent on a larger encoder with a smaller
embedding (Killingback et al. 2026). The search runs along the budget line as in
`drscale.budget.cost`, on whole arrays of budgets and bootstrap samples at once, so every
optimum gets a bootstrap interval. `DimensionPanel` puts the budget and the index's
assumptions on sliders; notebook 06 shows it, with a `summary` of the optima at a few
budgets, under the study's joint_dim fit (`study_law`).

Two simplifications a reader should know: N is the encoder without its projection (as the
law counts it), so the projection's H * d + d parameters are not priced, a small share for
any encoder worth indexing with; and the law was fitted where d <= H
(`drscale.fit.tables.within_hidden_size`), so a d* above the hidden size of a model of N*
parameters lies outside what the law describes, like any optimum outside the measured box.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from drscale.budget import cost
from drscale.budget.index import IndexWorkload
from drscale.budget.panel import axis_grid, iso_loss_contours, log_slider, redraw, shade_outside_measured
from drscale.budget.table import interval_cell, interval_html, range_note_html
from drscale.fit import laws
from drscale.fit.result import load_fits
from drscale.plots import save_figure
from drscale.study import Study

JOINT_DIM = laws.get("joint_dim")
VARIABLES = JOINT_DIM.variables  # ("encoder_params", "embedding_dim")
SWEEP_NOTEBOOK, FIT_NOTEBOOK = "notebooks/10_embedding_dim_sweep.ipynb", "notebooks/05_fit_scaling_laws.ipynb"


def study_law(data_dir: str | os.PathLike | None) -> cost.JointLaw | None:
    """The joint_dim fit in the study's fits (`Study(data_dir).fits`), with its bootstrap and measured
    range; None when that file is missing or holds no joint_dim fit (`missing_law_note` says why)."""
    fits_path = Study(data_dir).fits
    fit = load_fits(fits_path).get(JOINT_DIM.name) if fits_path.exists() else None
    return None if fit is None else cost.as_joint_law(fit, JOINT_DIM)


def missing_law_note(data_dir: str | os.PathLike | None) -> str:
    """One line for a study without a joint_dim fit: which file lacks it and which notebooks write it."""
    return (f"No joint_dim fit in {Study(data_dir).fits}: {SWEEP_NOTEBOOK} measures CE over encoder sizes and "
            f"embedding dimensions, then {FIT_NOTEBOOK} fits L(N, d) and saves it there.")


@dataclass(frozen=True)
class DimensionChoice:
    """Budget-optimal (N*, d*) per budget, its cost split, and, from the law's bootstrap, the
    `*_low`/`*_high` percentile bounds in `intervals`; `measured` is the law's measured (N, d) span."""

    budget_usd: np.ndarray
    encoder_params: np.ndarray
    embedding_dim: np.ndarray
    loss: np.ndarray
    model_cost_usd: np.ndarray
    storage_cost_usd: np.ndarray
    search_cost_usd: np.ndarray
    z_model_per_param: float
    z_dim_usd: float
    intervals: dict[str, np.ndarray] | None = None  # encoder_params_low, ..., search_share_high
    measured: Mapping[str, cost.Span] | None = None
    interval: float = 0.95  # the level of `intervals`

    def extrapolation(self, variable: str) -> np.ndarray:
        """`cost.extrapolation_factor` of N* ("encoder_params") or d* ("embedding_dim")."""
        return cost.extrapolation_factor(getattr(self, variable), (self.measured or {}).get(variable))

    def to_frame(self) -> pd.DataFrame:
        """One row per budget: optimum, predicted loss, dollars and shares of model, storage and
        search, how far N* and d* lie outside the measured range, then the bootstrap bounds."""
        frame = pd.DataFrame({name: getattr(self, name) for name in (
            "budget_usd", "encoder_params", "embedding_dim", "loss", "model_cost_usd", "storage_cost_usd",
            "search_cost_usd")})
        for term in ("model", "storage", "search"):
            frame[f"{term}_share"] = frame[f"{term}_cost_usd"] / frame["budget_usd"]
        for variable in VARIABLES:
            frame[f"{variable}_extrapolation"] = self.extrapolation(variable)
        for name, values in (self.intervals or {}).items():
            frame[name] = values
        return frame


def optimal_dimension(
    law: Any,
    budget_usd: ArrayLike,
    index: IndexWorkload = IndexWorkload(),
    cost_model: cost.CostModel | None = None,
    include_inference: bool = True,
    min_encoder_params: float = 1.0,
    min_embedding_dim: float = 1.0,
    interval: float = 0.95,
    grid_size: int = 128,
) -> DimensionChoice:
    """Minimise the joint_dim law subject to z_model * N + index_usd(d) = budget, for one budget or many.

    `law`: a joint_dim `FitResult` (with its bootstrap every resample is optimised too, and its
    runs give the measured range), a `cost.JointLaw` or a mapping of a, c, alpha, gamma, delta.
    `cost_model` defaults to the paper's with the index's passage count, so that encoding the
    index (`include_inference`) prices the same index that is stored and searched.
    """
    law = cost.as_joint_law(law, JOINT_DIM)
    cost_model = cost_model or cost.paper_cost_model(index_passages=index.index_passages)
    budget = cost.checked_budgets(budget_usd, interval, grid_size=grid_size, min_encoder_params=min_encoder_params,
                                  min_embedding_dim=min_embedding_dim)
    hardware = cost_model.hardware
    z_model, z_dim = cost_model.z_model_per_param(include_inference), index.usd_per_dimension(hardware)
    floor = min_encoder_params * z_model + min_embedding_dim * z_dim
    if np.any(budget <= floor):
        raise ValueError(f"`budget_usd` {budget.min()!r} cannot buy the smallest allowed encoder and embedding "
                         f"(min_encoder_params={min_encoder_params!r}, min_embedding_dim={min_embedding_dim!r} "
                         f"cost {floor:.4g} USD)")

    def optimise(params: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return cost.optimise_on_budget_line(params, budget, z_model, z_dim, min_encoder_params, min_embedding_dim,
                                            grid_size, JOINT_DIM)

    n, d, loss = (x[0] for x in optimise(np.array([[law.params[k] for k in JOINT_DIM.params]])))
    intervals = None
    if law.bootstrap is not None:
        n_s, d_s, loss_s = optimise(law.bootstrap.to_numpy())
        intervals = cost.bootstrap_bounds({
            "encoder_params": n_s, "embedding_dim": d_s, "loss": loss_s, "model_share": z_model * n_s / budget,
            # Per-dimension prices times d_s: a resample the fit left undetermined is a NaN row, skipped by the bounds.
            "storage_share": index.storage_usd_per_dimension * d_s / budget,
            "search_share": index.search_usd_per_dimension(hardware) * d_s / budget},
            interval)
    return DimensionChoice(budget, n, d, loss, z_model * n, index.storage_usd(d), index.search_usd(d, hardware),
                           z_model, z_dim, intervals, law.measured, interval)


def summary(choice: DimensionChoice) -> pd.DataFrame:
    """`choice` as a reader reads it: one row per budget, N*, d*, L* and the budget's split into
    model, storage and search, to three digits with their intervals when the law has bootstrap
    samples, and whether the law measured N* and d* or only extrapolates to them.

    Plain text cells, so the table prints the same in a notebook, under papermill and in a report.
    """
    measured = choice.measured or {}

    rows = [{"budget (USD)": f"{row['budget_usd']:,.0f}", "N*": interval_cell(row, "encoder_params"),
             "d*": interval_cell(row, "embedding_dim"), "L*": interval_cell(row, "loss", fmt=".4g"),
             **{f"{term} share (%)": interval_cell(row, f"{term}_share", 100, ".1f") for term in ("model", "storage", "search")},
             **{f"{cost.VARIABLE_SYMBOLS[v]}* vs measured range": cost.describe_extrapolation(
                 v, row[f"{v}_extrapolation"], measured.get(v)) for v in VARIABLES}}
            for _, row in choice.to_frame().iterrows()]
    return pd.DataFrame(rows).set_index("budget (USD)")


def contour_figure(law: cost.JointLaw, choice: DimensionChoice, title: str = "") -> Figure:
    """Iso-loss contours of the joint_dim law over (N, d), the budget line of `choice`'s first
    budget, the optimum on it with its bootstrap interval, and (N, d) outside the measured range shaded."""
    row = choice.to_frame().iloc[0]
    n_star, d_star, budget = row["encoder_params"], row["embedding_dim"], row["budget_usd"]
    measured = law.measured or {}
    n_grid, d_grid = axis_grid(n_star, measured.get(VARIABLES[0])), axis_grid(d_star, measured.get(VARIABLES[1]))
    loss = JOINT_DIM.predict(law.params, n_grid[None, :], d_grid[:, None])
    delta = law.params["delta"]
    levels = delta + (row["loss"] - delta) * np.geomspace(1 / 16, 16, 9)
    line_n = np.geomspace(n_grid[0], budget / choice.z_model_per_param, 400)[:-1]
    line_d = (budget - choice.z_model_per_param * line_n) / choice.z_dim_usd
    extrapolated = any(row[f"{v}_extrapolation"] != 1 for v in VARIABLES if np.isfinite(row[f"{v}_extrapolation"]))
    with sns.axes_style("whitegrid"):
        fig = Figure(figsize=(6.8, 5.4), layout="constrained")
        ax = fig.add_subplot()
        handles = shade_outside_measured(ax, n_grid, d_grid, measured, VARIABLES)
        iso_loss_contours(ax, n_grid, d_grid, loss, levels, row["loss"])
        ax.plot(line_n, line_d, color="tab:red", label=f"budget {budget:,.0f} USD")
        label = f"optimum N*={n_star:.3g}, d*={d_star:.3g}" + (" (extrapolated)" if extrapolated else "")
        if "encoder_params_low" in row:
            error = [[n_star - row["encoder_params_low"]], [row["encoder_params_high"] - n_star]], \
                [[d_star - row["embedding_dim_low"]], [row["embedding_dim_high"] - d_star]]
            ax.errorbar(n_star, d_star, xerr=error[0], yerr=error[1], color="tab:red", capsize=3, lw=1.2,
                        linestyle="none")
            label += f", {choice.interval:.0%} interval"
        ax.plot(n_star, d_star, marker="*", markersize=16, color="tab:red", linestyle="none", label=label)
        ax.set(xscale="log", yscale="log", xlim=n_grid[[0, -1]], ylim=d_grid[[0, -1]],
               xlabel="encoder size N (parameters without the projection)", ylabel="embedding dimension d")
        ax.set_title(f"Iso-loss contours of L(N, d) = (A/N)^α + (C/d)^γ + δ\n{title}".strip(), fontsize=10)
        ax.minorticks_off()
        ax.legend(handles=ax.get_legend_handles_labels()[0] + handles, loc="lower left", fontsize=8, framealpha=0.9)
    return fig


def summary_html(choice: DimensionChoice) -> str:
    """The first budget's optimum as a small HTML table: N*, d*, L* with intervals, each of N* and d*
    flagged in red when the law only extrapolates to it, and the split of the budget."""
    row = choice.to_frame().iloc[0]
    measured = choice.measured or {}

    def bounds(name: str, scale: float = 1.0, fmt: str = ".3g", label: str = f"{choice.interval:.0%} interval ") -> str:
        return interval_html(row, name, scale, fmt, label)

    range_note = functools.partial(range_note_html, row, measured=measured)

    split = " / ".join(f"{term} {100 * row[term + '_share']:.1f}%{bounds(term + '_share', 100, '.1f', '')}"
                       for term in ("model", "storage", "search"))
    return ('<div class="drscale-optimum">'
            f"<b>Budget {row['budget_usd']:,.0f} USD: encoder size against embedding dimension</b><table>"
            f"<tr><td>N*</td><td>{row['encoder_params']:.3g}</td><td>encoder parameters{bounds('encoder_params')}"
            f"{range_note('encoder_params')}</td></tr>"
            f"<tr><td>d*</td><td>{row['embedding_dim']:.3g}</td><td>embedding dimension{bounds('embedding_dim')}"
            f"{range_note('embedding_dim')}</td></tr>"
            f"<tr><td>L*</td><td>{row['loss']:.4g}</td><td>predicted contrastive entropy{bounds('loss')}</td></tr>"
            f"<tr><td>split</td><td colspan=2>{split}</td></tr></table></div>")


@dataclass(frozen=True)
class DimensionSettings:
    """The values of the dimension panel's controls, `IndexWorkload`'s defaults to start, and
    the GPU's price and utilisation, the paper's unless the notebook sets them (no slider:
    the N-D panel above has those)."""

    budget_usd: float = 1e4
    index_passages: float = IndexWorkload.index_passages
    queries_served: float = IndexWorkload.queries_served
    storage_usd_per_gb_month: float = IndexWorkload.storage_usd_per_gb_month
    include_inference: bool = True
    gpu_hour_usd: float = cost.Hardware.gpu_hour_usd
    utilisation: float = cost.Hardware.utilisation

    def index(self) -> IndexWorkload:
        """`IndexWorkload` with this panel's three adjustable assumptions, the others at their defaults."""
        return IndexWorkload(index_passages=self.index_passages, queries_served=self.queries_served,
                             storage_usd_per_gb_month=self.storage_usd_per_gb_month)

    def cost_model(self) -> cost.CostModel:
        """The paper's cost model with this GPU price and utilisation, encoding the stored passages."""
        return cost.paper_cost_model(gpu_hour_usd=self.gpu_hour_usd, utilisation=self.utilisation,
                                     index_passages=self.index_passages)

    def optimum(self, law: Any, budgets_usd: Iterable[float] | None = None) -> DimensionChoice:
        """`optimal_dimension` under these settings at `budget_usd`, or at each distinct budget of
        `budgets_usd` in increasing order."""
        budgets = self.budget_usd if budgets_usd is None else sorted(set(budgets_usd))
        return optimal_dimension(law, budgets, self.index(), self.cost_model(), include_inference=self.include_inference)


class DimensionPanel:
    """Sliders for the budget and the index's assumptions above the optimal (N*, d*) and its contour figure."""

    FIGURE = "dimension_contours.png"

    def __init__(self, law: Any, settings: DimensionSettings = DimensionSettings()) -> None:
        self.law = cost.as_joint_law(law, JOINT_DIM)
        self.initial = settings
        self.budget = log_slider(settings.budget_usd, 2, 8, 0.05, "Budget (USD)")
        self.index_size = log_slider(settings.index_passages, 6, 12, 0.1, "Index size (passages)")
        self.queries = log_slider(settings.queries_served, 4, 12, 0.1, "Queries served")
        self.storage_price = log_slider(settings.storage_usd_per_gb_month, -3, 1, 0.05, "Storage (USD per GB-month)")
        self.include_inference = widgets.Checkbox(value=settings.include_inference, indent=False,
                                                  description="Include inference (index encoding) cost")
        self.summary, self.figures = widgets.HTML(), widgets.Output()
        controls = (self.budget, self.index_size, self.queries, self.storage_price, self.include_inference)
        for control in controls:
            control.observe(self.refresh, names="value")
        self.widget = widgets.VBox([widgets.VBox(list(controls)), self.summary, self.figures])
        self.widget.add_class("drscale-dimension-panel")
        self.choice: DimensionChoice | None = None
        self.refresh()

    def settings(self) -> DimensionSettings:
        """The controls' current values, and the settings the panel has no control for."""
        return replace(self.initial, budget_usd=self.budget.value, index_passages=self.index_size.value,
                       queries_served=self.queries.value, storage_usd_per_gb_month=self.storage_price.value,
                       include_inference=self.include_inference.value)

    def figure(self) -> Figure:
        if self.choice is None:
            raise ValueError(f"nothing to draw: {self.summary.value}")
        return contour_figure(self.law, self.choice)

    def refresh(self, change: Any = None) -> None:
        """Recompute the optimum from the controls and redraw (`panel.redraw`)."""
        self.choice = redraw(self.summary, self.figures, lambda: self.settings().optimum(self.law),
                             lambda choice: [contour_figure(self.law, choice)], summary_html)

    def save_figures(self, figures_dir: str | Path) -> list[Path]:
        """Save the current contour figure in `figures_dir` (a study's `Study.figures`) via `save_figure`."""
        return [save_figure(self.figure(), figures_dir, self.FIGURE)]

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

