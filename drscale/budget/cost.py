"""The paper's cost model and the budget-optimal choice of model size N and data size D.

    Z(N, D) = Z_data * D + Z_train * N + Z_infer * N        (US dollars)

Z_train and Z_infer are not constants of nature: they follow from a GPU's price, speed and
utilisation and from the training and indexing workloads. Each assumption is a field of a
frozen dataclass, so a reader can change one and see the optimum move. `paper_cost_model()`
holds the paper's numbers (an A100 at 3.93 USD/h, 312 TFLOP/s, 25% utilisation; 10,000
steps of batch 256 with a 30-token query and two 60-token passages; a 30-trillion-page web
index of 512-token pages; 0.6 USD per annotated pair).

Because the joint law falls in both N and D, the cheapest way to a given loss spends the
whole budget, so `optimal_allocation` searches along the budget line only: for each budget,
the fraction spent on the model. The loss is convex in that fraction (a sum of two convex
powers, then a monotone map), so a coarse grid followed by golden-section refinement
(`drscale.common.search`) finds the optimum; both steps run on whole arrays of budgets and
bootstrap samples at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from drscale.common.search import golden_section
from drscale.fit import laws, published
from drscale.fit.result import FitResult
from drscale.fit.published import PAPER_MEASURED_RANGE

JOINT = laws.get("joint")
"""The law the budget is optimised under: its parameters, in the order `optimise_on_budget_line` stacks them."""


def _check_positive(**values: float) -> None:
    for name, value in values.items():
        if not np.isfinite(value) or value <= 0:
            raise ValueError(f"`{name}` must be a positive finite number, got {value!r}")


@dataclass(frozen=True)
class Hardware:
    """The accelerator that trains and runs the encoder; it sets the price of one FLOP."""

    gpu_hour_usd: float = 3.93
    peak_flops_per_s: float = 312e12
    utilisation: float = 0.25

    def __post_init__(self) -> None:
        _check_positive(gpu_hour_usd=self.gpu_hour_usd, peak_flops_per_s=self.peak_flops_per_s)
        if not 0 < self.utilisation <= 1:
            raise ValueError(f"`utilisation` must lie in (0, 1], got {self.utilisation!r}")

    @property
    def usd_per_flop(self) -> float:
        """Dollars per useful FLOP: the hourly price over the FLOPs actually done in an hour."""
        return self.gpu_hour_usd / (self.peak_flops_per_s * 3600 * self.utilisation)


@dataclass(frozen=True)
class TrainingWorkload:
    """Fine-tuning the retriever: a fixed number of steps over (query, positive, negative) triples."""

    train_steps: int = 10_000
    batch_size: int = 256
    query_tokens: int = 30
    positive_tokens: int = 60
    negative_tokens: int = 60
    train_flops_per_param_token: float = 6.0  # forward + backward

    def __post_init__(self) -> None:
        _check_positive(**dataclasses.asdict(self))

    @property
    def flops_per_param(self) -> float:
        """Training FLOPs per model parameter over the whole run."""
        tokens = self.train_steps * self.batch_size * (self.query_tokens + self.positive_tokens + self.negative_tokens)
        return tokens * self.train_flops_per_param_token


@dataclass(frozen=True)
class InferenceWorkload:
    """Encoding the search index once: every passage through the encoder, forward only."""

    index_passages: float = 30e12
    passage_tokens: int = 512
    infer_flops_per_param_token: float = 2.0

    def __post_init__(self) -> None:
        _check_positive(**dataclasses.asdict(self))

    @property
    def flops_per_param(self) -> float:
        """Inference FLOPs per model parameter to encode the whole index."""
        return self.index_passages * self.passage_tokens * self.infer_flops_per_param_token


@dataclass(frozen=True)
class CostModel:
    """Z(N, D) = Z_data * D + (Z_train + Z_infer) * N, from explicit assumptions."""

    hardware: Hardware = Hardware()
    training: TrainingWorkload = TrainingWorkload()
    inference: InferenceWorkload = InferenceWorkload()
    annotation_usd_per_pair: float = 0.6

    def __post_init__(self) -> None:
        _check_positive(annotation_usd_per_pair=self.annotation_usd_per_pair)

    @property
    def z_data_per_pair(self) -> float:
        """Z_data: dollars per annotated query-passage pair."""
        return self.annotation_usd_per_pair

    @property
    def z_train_per_param(self) -> float:
        """Z_train: dollars of training compute per model parameter."""
        return self.training.flops_per_param * self.hardware.usd_per_flop

    @property
    def z_infer_per_param(self) -> float:
        """Z_infer: dollars per model parameter to encode the index once."""
        return self.inference.flops_per_param * self.hardware.usd_per_flop

    def z_model_per_param(self, include_inference: bool) -> float:
        """Dollars per parameter of the model, with or without the index-encoding cost."""
        return self.z_train_per_param + (self.z_infer_per_param if include_inference else 0.0)

    def unit_prices(self) -> pd.Series:
        """Z_data, Z_train and Z_infer, the per-unit prices these assumptions imply."""
        return pd.Series({
            "Z_data (USD per pair)": self.z_data_per_pair,
            "Z_train (USD per parameter)": self.z_train_per_param,
            "Z_infer (USD per parameter)": self.z_infer_per_param,
        })

    def cost_usd(self, n_params: ArrayLike, data_size: ArrayLike, include_inference: bool = True) -> np.ndarray:
        """Z(N, D) in dollars for models of `n_params` parameters trained on `data_size` pairs."""
        n = np.asarray(n_params, dtype=float)
        d = np.asarray(data_size, dtype=float)
        return self.z_data_per_pair * d + self.z_model_per_param(include_inference) * n


_SECTIONS = {"hardware": Hardware, "training": TrainingWorkload, "inference": InferenceWorkload}


def paper_cost_model(**overrides: float) -> CostModel:
    """The paper's cost assumptions, with any field of any section overridden by name.

    Example: `paper_cost_model(gpu_hour_usd=2.0, index_passages=1e9)`. Field names are unique
    across `Hardware`, `TrainingWorkload`, `InferenceWorkload` and `annotation_usd_per_pair`.
    """
    model = CostModel()
    known = {"annotation_usd_per_pair"}
    sections: dict[str, Any] = {}
    for section, cls in _SECTIONS.items():
        names = {f.name for f in dataclasses.fields(cls)}
        known |= names
        sections[section] = dataclasses.replace(getattr(model, section), **{k: v for k, v in overrides.items() if k in names})
    if set(overrides) - known:
        raise ValueError(f"unknown cost assumption(s) {sorted(set(overrides) - known)}; known: {sorted(known)}")
    top = {k: v for k, v in overrides.items() if k == "annotation_usd_per_pair"}
    return dataclasses.replace(model, **sections, **top)


Span = tuple[float | None, float]
"""(smallest, largest) value of N or D a law was measured over; None where that end is unknown."""

SYMBOLS = {"n_params": "N", "data_size": "D"}
VARIABLE_SYMBOLS = {**SYMBOLS, "encoder_params": "N", "embedding_dim": "d"}
"""The symbol of every variable a budget is optimised over (`drscale.budget.dimension` trades N against d)."""


@dataclass(frozen=True)
class JointLaw:
    """A joint law to optimise: point parameters, optionally bootstrap samples of them, and the
    span of N and D it was measured over (`measured`, None if unknown), so that an optimum the
    law only extrapolates to can be told from one it was measured at."""

    params: dict[str, float]
    bootstrap: pd.DataFrame | None = None
    measured: Mapping[str, Span] | None = None


def as_joint_law(law: Any, spec: laws.Law = JOINT) -> JointLaw:
    """Accept a fit result (`.params`, `.bootstrap`, the runs' range), a `published.PublishedLaw`
    (the paper's measured range, `published.PAPER_MEASURED_RANGE`) or a params mapping (no range),
    of the two-variable law `spec` (the joint law unless told)."""
    if isinstance(law, JointLaw):
        if set(spec.params) - set(law.params):
            raise ValueError(f"the law carries parameters {sorted(law.params)}, not those of the {spec.name} law "
                             f"{list(spec.params)}: pass a {spec.name} fit")
        params, measured = law.params, law.measured
    else:
        params = spec.parameters(law if isinstance(law, Mapping) else getattr(law, "params", None), source="law")
        if isinstance(law, FitResult):
            measured = law.measured_range()
        elif isinstance(law, published.PublishedLaw):
            measured = PAPER_MEASURED_RANGE
        else:
            measured = None
    bootstrap = getattr(law, "bootstrap", None)
    if bootstrap is not None:
        bootstrap = pd.DataFrame(bootstrap)
        if set(spec.params) - set(bootstrap.columns) or bootstrap.empty:
            raise ValueError(f"`law.bootstrap` needs rows with columns {spec.params}, got {list(bootstrap.columns)}")
        bootstrap = bootstrap[list(spec.params)].astype(float)  # by name: optimisers read it by position
    return JointLaw(params, bootstrap, measured)


def extrapolation_factor(values: ArrayLike, span: Span | None) -> np.ndarray:
    """How far outside the measured `span` each value lies: value / largest above it (> 1),
    value / smallest below it (< 1), 1 inside; NaN without a span. An unknown end (None) is
    not checked."""
    values = np.asarray(values, dtype=float)
    if span is None:
        return np.full(values.shape, np.nan)
    low, high = span
    factor = np.where(values > high, values / high, 1.0)
    return factor if low is None else np.where(values < low, values / low, factor)


def describe_extrapolation(variable: str, factor: float, span: Span | None) -> str:
    """A reader's sentence for an `extrapolation_factor` of N* ("n_params"), D* ("data_size") or
    another variable of `VARIABLE_SYMBOLS`."""
    symbol = VARIABLE_SYMBOLS[variable]
    if span is None or not np.isfinite(factor):
        return f"measured range of {symbol} unknown"
    low, high = span
    if factor > 1:
        return f"extrapolated {factor:.3g}-fold beyond the largest measured {symbol} ({high:.3g})"
    if factor < 1:
        return f"extrapolated {1 / factor:.3g}-fold below the smallest measured {symbol} ({low:.3g})"
    measured = f"up to {high:.3g}; the smallest measured is not known" if low is None else f"{low:.3g} to {high:.3g}"
    return f"within the measured {symbol} ({measured})"


@dataclass(frozen=True)
class Allocation:
    """Budget-optimal (N*, D*) per budget; `*_low`/`*_high` are bootstrap percentile bounds, and
    `measured` the span of N and D the law was measured over."""

    budget_usd: np.ndarray
    n_params: np.ndarray
    data_size: np.ndarray
    loss: np.ndarray
    include_inference: bool
    cost_model: CostModel
    intervals: dict[str, np.ndarray] | None = None  # n_params_low, ..., loss_high, data_share_low, ...
    measured: Mapping[str, Span] | None = None

    @property
    def data_cost_usd(self) -> np.ndarray:
        return self.cost_model.z_data_per_pair * self.data_size

    @property
    def train_cost_usd(self) -> np.ndarray:
        return self.cost_model.z_train_per_param * self.n_params

    @property
    def infer_cost_usd(self) -> np.ndarray:
        return self.cost_model.z_infer_per_param * self.n_params * self.include_inference

    def extrapolation(self, variable: str) -> np.ndarray:
        """`extrapolation_factor` of N* ("n_params") or D* ("data_size") against the law's measured span."""
        return extrapolation_factor(getattr(self, variable), (self.measured or {}).get(variable))

    def to_frame(self) -> pd.DataFrame:
        """One row per budget: optimum, predicted loss, dollars and shares of each cost term, how far
        N* and D* lie outside the measured range (`*_extrapolation`, see `extrapolation_factor`),
        then the bootstrap bounds, if any."""
        frame = pd.DataFrame(
            {
                "budget_usd": self.budget_usd,
                "include_inference": self.include_inference,
                "n_params": self.n_params,
                "data_size": self.data_size,
                "loss": self.loss,
                "data_cost_usd": self.data_cost_usd,
                "train_cost_usd": self.train_cost_usd,
                "infer_cost_usd": self.infer_cost_usd,
            }
        )
        for term in ("data", "train", "infer"):
            frame[f"{term}_share"] = frame[f"{term}_cost_usd"] / frame["budget_usd"]
        for variable in SYMBOLS:
            frame[f"{variable}_extrapolation"] = self.extrapolation(variable)
        for name, values in (self.intervals or {}).items():
            frame[name] = values
        return frame


GOLDEN_STEPS = 60
"""Golden-section steps after the grid: each bracket shrinks about 3e12-fold, below the loss's rounding."""


def optimise_on_budget_line(params: np.ndarray, budget: np.ndarray, z_model: float, z_data: float,
                            min_n: float, min_d: float, grid_size: int,
                            law: laws.Law = JOINT) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """N*, D*, L* for law parameters `params` (S, P) and budgets (B,); arrays of shape (S, B).

    The search variable is the logit of the budget share spent on the model, bounded so that
    N >= min_n and D >= min_d: a uniform grid in it is log-spaced near both ends of the line.
    Arrays are (sample, budget, point along the line). `law` is any two-variable law falling
    in both, its first variable priced at `z_model` and its second at `z_data` per unit (the
    joint law's D, or the joint_dim law's embedding dimension d). A row of `params` that is
    not finite (a bootstrap resample that could not be refitted) gives NaN, which intervals
    leave out, not the end of the line where its NaN loss would put it.
    """
    p = [params[:, i, None, None] for i in range(len(law.params))]
    budget = budget[None, :, None]
    share_low, share_high = min_n * z_model / budget, 1 - min_d * z_data / budget
    lo, hi = np.log(share_low / (1 - share_low)), np.log(share_high / (1 - share_high))

    def split(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        share = 1 / (1 + np.exp(-u))
        return share * budget / z_model, (1 - share) * budget / z_data

    def loss(u: np.ndarray) -> np.ndarray:
        return law.function(*split(u), *p)

    width = (hi - lo) / (grid_size - 1)
    best = np.argmin(loss(lo + width * np.arange(grid_size)), axis=-1)[..., None]  # (S, B, 1)
    # on a tie the lower end, the smaller model, is kept
    u = golden_section(loss, np.maximum(lo + (best - 1) * width, lo), np.minimum(lo + (best + 1) * width, hi),
                       GOLDEN_STEPS, tie="low").middle
    n, d = split(u)
    unfitted = ~np.isfinite(params).all(axis=1)[:, None, None]  # a resample that could not be refitted
    return tuple(np.where(unfitted, np.nan, value)[..., 0] for value in (n, d, loss(u)))


def checked_budgets(budget_usd: ArrayLike, interval: float, **positive: float) -> np.ndarray:
    """The budgets of an optimisation as an array, after refusing a budget, a minimum or a grid
    size (`positive`, by name) that is not positive, and an `interval` outside (0, 1)."""
    budget = np.atleast_1d(np.asarray(budget_usd, dtype=float))
    _check_positive(**positive)
    for value in budget:
        _check_positive(budget_usd=value)
    if not 0 < interval < 1:
        raise ValueError(f"`interval` must lie in (0, 1), got {interval!r}")
    return budget


def bootstrap_bounds(samples: Mapping[str, np.ndarray], interval: float) -> dict[str, np.ndarray]:
    """`<name>_low` and `<name>_high`: the central `interval` of each quantity's bootstrap
    samples (rows: resamples; a resample that could not be optimised, NaN, is left out)."""
    tails = 100 * np.array([(1 - interval) / 2, (1 + interval) / 2])
    bounds = {}
    for name, values in samples.items():
        bounds[f"{name}_low"], bounds[f"{name}_high"] = np.nanpercentile(values, tails, axis=0)
    return bounds


def optimal_allocation(
    law: Any,
    budget_usd: ArrayLike,
    cost_model: CostModel | None = None,
    include_inference: bool = True,
    min_n_params: float = 1.0,
    min_data_size: float = 1.0,
    interval: float = 0.95,
    grid_size: int = 128,
) -> Allocation:
    """Minimise the joint law L(N, D) subject to Z(N, D) <= budget, for one budget or many.

    `law`: a fit result with `.params` and `.bootstrap` (then every bootstrap sample is
    optimised too and `intervals` holds the central `interval` percentile bounds of N*, D*,
    L* and the budget shares), a `published.PublishedLaw`, a `JointLaw`, or a mapping of a,
    b, alpha, beta, delta.
    `cost_model` defaults to the paper's; `include_inference` adds Z_infer * N to the cost.
    """
    joint = as_joint_law(law)
    cost_model = cost_model or paper_cost_model()
    budget = checked_budgets(budget_usd, interval, grid_size=grid_size, min_n_params=min_n_params,
                             min_data_size=min_data_size)
    z_model = cost_model.z_model_per_param(include_inference)
    z_data = cost_model.z_data_per_pair
    floor = min_n_params * z_model + min_data_size * z_data
    if np.any(budget <= floor):
        raise ValueError(
            f"`budget_usd` {budget.min()!r} cannot buy the smallest allowed model and data "
            f"(min_n_params={min_n_params!r}, min_data_size={min_data_size!r} cost {floor:.4g} USD)"
        )
    point = np.array([[joint.params[k] for k in JOINT.params]])
    n, d, loss = (x[0] for x in optimise_on_budget_line(point, budget, z_model, z_data, min_n_params, min_data_size,
                                                        grid_size))
    intervals = None
    if joint.bootstrap is not None:
        n_s, d_s, loss_s = optimise_on_budget_line(joint.bootstrap.to_numpy(), budget, z_model, z_data,
                                                   min_n_params, min_data_size, grid_size)
        intervals = bootstrap_bounds({
            "n_params": n_s, "data_size": d_s, "loss": loss_s, "data_share": z_data * d_s / budget,
            "train_share": cost_model.z_train_per_param * n_s / budget,
            "infer_share": cost_model.z_infer_per_param * include_inference * n_s / budget}, interval)
    return Allocation(budget, n, d, loss, include_inference, cost_model, intervals, joint.measured)
