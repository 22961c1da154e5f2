"""Annotation quality: does the source of the training pairs change the data-size law?

The paper's third finding compares L(D) = (B/D)^beta + delta across sources of training
pairs (Inverse Cloze Task, docT5query, human labels, LLM-written queries), flattest first, and
published only the figure. This module holds that comparison: the same sweep on each source's
data (refused unless every source is evaluated on identical rows and texts and holds enough
pairs for the whole grid), one fitted law per source, and the order of the fitted exponents
against the paper's, with how often the bootstrap agrees. The sources themselves are
`drscale.annotate.sources`; notebook 07 tells the story.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from drscale.annotate.sources import HUMAN
from drscale.data.corpus import RetrievalData
from drscale.fit.estimate import fit_runs
from drscale.fit.result import FitResult
from drscale.measure.entropy import evaluation_rows
from drscale.sweep.runner import run_sweep


def check_same_evaluation(reference: RetrievalData, other: RetrievalData, pool_size: int | None = None,
                          seed: int = 1) -> None:
    """Raise unless `other` is evaluated on exactly the rows and texts `reference` is: the same
    test pairs, the same pool sample and the same passage and query texts at those rows."""
    if not np.array_equal(reference.test_pair_rows(), other.test_pair_rows()):
        raise ValueError(f"{other.name}: test pairs differ from {reference.name}'s")
    rows = evaluation_rows(reference, pool_size, seed)
    if not np.array_equal(rows, evaluation_rows(other, pool_size, seed)):
        raise ValueError(f"{other.name}: evaluation passages (test positives + pool) differ from {reference.name}'s")
    passages = reference.corpus.select(rows)["text"][:], other.corpus.select(rows)["text"][:]
    query_rows = np.unique(reference.test_pair_rows()[:, 0])
    queries = reference.queries.select(query_rows)["text"][:], other.queries.select(query_rows)["text"][:]
    if passages[0] != passages[1] or queries[0] != queries[1]:
        raise ValueError(f"{other.name}: evaluation texts differ from {reference.name}'s")


def source_sweeps(sources: Mapping[str, RetrievalData], configs: Sequence[Any], store: Any, **kwargs: Any) -> pd.DataFrame:
    """The same runs (model, data sizes, training, evaluation) on each source's data, through
    `drscale.sweep.runner.run_sweep` (finished runs are reused); one table with a `source` column.

    Before any training, every source is checked to be evaluated exactly as the first one
    and to hold enough pairs for the largest data size: a source is never given a smaller
    grid, since its curve would not be comparable. Keyword arguments go to `run_sweep`.
    """
    if not sources or not configs:
        raise ValueError("source_sweeps needs at least one source and one run config")
    reference = next(iter(sources.values()))
    largest = max(c.data_size for c in configs)
    for name, data in sources.items():
        if data.n_train_pairs < largest:
            raise ValueError(f"source {name!r} has {data.n_train_pairs} training pairs; the grid needs {largest}")
        for evaluation in {c.evaluation for c in configs}:
            check_same_evaluation(reference, data, evaluation.pool_size, evaluation.seed)
    tables = [run_sweep(configs, data, store, **kwargs).assign(source=name) for name, data in sources.items()]
    combined = pd.concat(tables, ignore_index=True)
    return combined[["source", *[c for c in combined.columns if c != "source"]]]


PAPER_ORDER = ("ict", "doct5query", HUMAN, "llm")
"""Sources from flattest to steepest data-size curve in the paper's annotation-quality figure
(only figures were published, no fitted parameters)."""
PAPER_LABELS = {"ict": "ICT", "doct5query": "docT5query", HUMAN: "human labels", "llm": "LLM-written queries"}


def fit_sources(runs: pd.DataFrame, **kwargs: Any) -> dict[str, FitResult]:
    """L(D) fitted to each source's runs (a `source_sweeps` table); keyword arguments go to
    `drscale.fit.estimate.fit_runs` (n_bootstrap, seed, level, ...). Failed runs are left out, named."""
    if "source" not in runs:
        raise ValueError(f"the runs table needs a 'source' column (from source_sweeps); has {list(runs.columns)}")
    return {name: fit_runs("data_size", group, **kwargs) for name, group in runs.groupby("source", sort=False)}


def mean_log_slope(result: FitResult, lo: float, hi: float, points: int = 64) -> float:
    """Average d log L / d log D of the fitted curve over [lo, hi]: how steeply it falls where
    it was measured (beta alone ignores the floor delta and the scale B)."""
    grid = np.logspace(np.log10(lo), np.log10(hi), points)
    return float(np.mean(np.gradient(np.log(result.predict(grid)), np.log(grid))))


def exponent_table(fits: Mapping[str, FitResult]) -> pd.DataFrame:
    """One row per source: beta with its bootstrap interval, B, delta, R^2 and the mean log-log
    slope over the data sizes all sources share, flattest (smallest beta) first."""
    lo = max(float(f.variables["data_size"].min()) for f in fits.values())
    hi = min(float(f.variables["data_size"].max()) for f in fits.values())
    rows = []
    for name, result in fits.items():
        beta_lo, beta_hi = result.intervals()["beta"]
        rows.append({"source": name, "beta": result.params["beta"], f"beta lower {result.level:.0%}": beta_lo,
                     f"beta upper {result.level:.0%}": beta_hi, "B": result.params["b"], "delta": result.params["delta"],
                     "R^2 (log L)": result.r2["log"], "mean log-log slope": mean_log_slope(result, lo, hi),
                     "runs": result.ce.size})
    return pd.DataFrame(rows).sort_values("beta").set_index("source")


@dataclass(frozen=True)
class OrderCheck:
    """The fitted order of sources (by beta, flattest first) against the paper's order.

    `probability[(a, b)]`: share of paired bootstrap resamples in which beta of a is below
    beta of b, for each pair the paper puts a flatter than b.
    """

    expected: tuple[str, ...]
    observed: tuple[str, ...]
    probability: dict[tuple[str, str], float]
    betas: dict[str, tuple[float, float, float]]
    not_compared: tuple[str, ...] = ()

    @property
    def matches(self) -> bool:
        return self.expected == self.observed

    def statement(self) -> str:
        """The finding in words, every number from the fits."""
        if len(self.expected) < 2:
            return (f"Fewer than two of the fitted sources ({', '.join(self.betas) or 'none'}) appear in the paper's "
                    f"comparison ({', '.join(PAPER_ORDER)}), so there is no order to compare.")
        fitted = " < ".join(f"{s} β = {self.betas[s][0]:.3g} [{self.betas[s][1]:.3g}, {self.betas[s][2]:.3g}]"
                            for s in self.observed)
        paper = " < ".join(PAPER_LABELS[s] for s in self.expected)
        verdict = "**matches**" if self.matches else "**does not match**"
        lines = [f"Fitted data-size exponents, flattest first: {fitted}.",
                 f"The paper's order for these sources (flattest first) is {paper}; ours {verdict} it."]
        for (a, b), share in self.probability.items():
            overlap = self.betas[a][2] >= self.betas[b][1] and self.betas[b][2] >= self.betas[a][1]
            lines.append(f"β({a}) < β({b}) in {share:.0%} of the bootstrap resamples; their intervals "
                         f"{'overlap, so this difference is not resolved by these runs' if overlap else 'do not overlap'}.")
        if self.not_compared:
            lines.append(f"Not in the paper's comparison, so not ordered: {', '.join(self.not_compared)}.")
        return "\n\n".join(lines)


def compare_with_paper(fits: Mapping[str, FitResult]) -> OrderCheck:
    """Order the fitted sources by beta and compare with `PAPER_ORDER` (sources named as there)."""
    known = [s for s in PAPER_ORDER if s in fits]
    betas = {}
    for name, result in fits.items():
        lo, hi = result.intervals()["beta"]
        betas[name] = (result.params["beta"], lo, hi)
    probability = {}
    for i, a in enumerate(known):
        for b in known[i + 1 :]:
            x, y = fits[a].bootstrap["beta"].to_numpy(), fits[b].bootstrap["beta"].to_numpy()
            n = min(len(x), len(y))
            probability[(a, b)] = float(np.mean(x[:n] < y[:n]))
    return OrderCheck(
        expected=tuple(known),
        observed=tuple(sorted(known, key=lambda s: betas[s][0])),
        probability=probability,
        betas=betas,
        not_compared=tuple(s for s in fits if s not in PAPER_ORDER),
    )
