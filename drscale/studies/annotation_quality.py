"""Annotation quality: does the source of the training pairs change the data-size law?

The paper's third finding compares L(D) = (B/D)^beta + delta across sources of training
pairs (Inverse Cloze Task, docT5query, human labels, LLM-written queries), flattest first, and
published only the figure. This module holds that comparison: the same sweep on each source's
data (refused unless every source is evaluated on identical rows and texts and holds enough
pairs for the whole grid), one fitted law per source, and the order of the fitted exponents
against the paper's, with how often the bootstrap agrees. It also builds the sources a
study compares from its settings (`pair_sources`) and the data each makes (`annotate_sources`),
and runs the sweep a `SweepSpec` describes on each (`spec_sweeps`).
The sources themselves are `drscale.annotate.sources`; notebook 07 tells the story.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from drscale.annotate.generation import Seq2SeqGenerator
from drscale.annotate.pairs import HUMAN, AnnotatedData, PairSource, TrainingPairs, with_pairs
from drscale.annotate.sources import GeneratedQueries, HumanLabels, InverseClozeTask
from drscale.data.corpus import RetrievalData
from drscale.fit.estimate import fit_runs
from drscale.fit.result import FitResult
from drscale.measure.entropy import evaluation_rows
from drscale.sweep.executors import LocalBackend
from drscale.sweep.runner import run_sweep
from drscale.sweep.spec import SweepSpec


BUILT_IN_SOURCES = (HUMAN, "ict")
"""Sources a study names in its list: the data's own labels and Inverse Cloze Task pairs; a
generated source is given by its generator instead."""


def pair_sources(
    names: Sequence[str],
    *,
    scope: str = "train",
    seed: int = 0,
    ict_remove_sentence: float = 1.0,
    ict_query_words: tuple[int, int] = (4, 64),
    ict_min_rest_words: int = 8,
    generator: str | Path | None = None,
    generator_name: str = "doct5query",
    generator_local_files_only: bool = True,
    generator_max_passages: int | None = None,
    generator_queries_per_passage: int = 1,
    generator_batch_size: int = 32,
    generator_max_new_tokens: int = 64,
    generator_do_sample: bool = True,
    device: str | None = None,
) -> dict[str, PairSource]:
    """The sources a study compares, by name, in the order given: each of `names` (from
    `BUILT_IN_SOURCES`), then, when `generator` names a seq2seq model (a local folder or a hub
    name), the source of the queries it writes, as `generator_name`.

    Synthetic sources write queries for the passages of `scope` with `seed`; the `ict_*`
    settings are `InverseClozeTask`'s, the `generator_*` settings those of `Seq2SeqGenerator`
    and `GeneratedQueries`. An unknown or repeated name, or a generator named as a built-in
    source, is refused before anything is built.
    """
    if isinstance(names, str) or not isinstance(names, Sequence) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"sources must be a list of source names from {BUILT_IN_SOURCES}; got {names!r}")
    unknown = sorted(set(names) - set(BUILT_IN_SOURCES))
    if unknown:
        raise ValueError(f"unknown source(s) {unknown} in `sources`; built-in: {sorted(BUILT_IN_SOURCES)} "
                         f"(a generator is set with `generator`)")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"source(s) {repeated} named more than once in `sources`")
    if generator is not None and generator_name in names:
        raise ValueError(f"generator_name {generator_name!r} is also in `sources`; name the generated source otherwise, "
                         f"e.g. 'doct5query' or 'llm'")
    built: dict[str, PairSource] = {}
    for name in names:
        if name == HUMAN:
            built[name] = HumanLabels()
        else:
            built[name] = InverseClozeTask(remove_sentence=ict_remove_sentence, query_words=tuple(ict_query_words),
                                           min_rest_words=ict_min_rest_words, scope=scope, seed=seed)
    if generator is not None:
        model = Seq2SeqGenerator(generator, local_files_only=generator_local_files_only,
                                 max_new_tokens=generator_max_new_tokens, do_sample=generator_do_sample, device=device)
        built[generator_name] = GeneratedQueries(model, name=generator_name, queries_per_passage=generator_queries_per_passage,
                                                 batch_size=generator_batch_size, scope=scope,
                                                 max_passages=generator_max_passages, seed=seed)
    return built


def annotate_sources(data: RetrievalData, sources: Mapping[str, PairSource], cache_dir: str | Path | None = None,
                     ) -> tuple[dict[str, TrainingPairs], dict[str, AnnotatedData]]:
    """(pairs, data) of each source: the training pairs it makes over `data` (generated ones
    cached under `cache_dir`) and `data` with those pairs, every id checked (`with_pairs`)."""
    pairs = {name: source.pairs(data, cache_dir=cache_dir) for name, source in sources.items()}
    return pairs, {name: with_pairs(data, found) for name, found in pairs.items()}


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


def spec_sweeps(sources: Mapping[str, RetrievalData], spec: SweepSpec, progress: bool = True) -> pd.DataFrame:
    """`source_sweeps` over the runs of `spec`, into its store, on its workers and device.

    The runs are built from a sweep spec, as notebook 03 builds its data-size sweep, so with
    the same settings the human source's runs are notebook 03's (same run ids) and are read
    from the store rather than trained again.
    """
    return source_sweeps(sources, spec.configs(), spec.store, device=spec.device, progress=progress,
                         backend=LocalBackend(spec.workers))


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


RESOLVED = 0.95
"""Share of bootstrap resamples that must put two sources in one order for it to count as settled."""


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

    @property
    def resolved(self) -> bool:
        """Whether the bootstrap settles every compared pair's order: one way in at least
        `RESOLVED` of the resamples."""
        return all(max(share, 1 - share) >= RESOLVED for share in self.probability.values())

    def statement(self) -> str:
        """The finding in words, every number from the fits."""
        if len(self.expected) < 2:
            return (f"Fewer than two of the fitted sources ({', '.join(self.betas) or 'none'}) appear in the paper's "
                    f"comparison ({', '.join(PAPER_ORDER)}), so there is no order to compare.")
        fitted = " < ".join(f"{s} β = {self.betas[s][0]:.3g} [{self.betas[s][1]:.3g}, {self.betas[s][2]:.3g}]"
                            for s in self.observed)
        paper = " < ".join(PAPER_LABELS[s] for s in self.expected)
        verdict = "ours **matches** it" if self.matches else "ours **does not match** it"
        if not self.resolved:
            verdict += f" in the fitted values, but the bootstrap does not settle the order (below {RESOLVED:.0%} of resamples one way)"
        lines = [f"Fitted data-size exponents, flattest first: {fitted}.",
                 f"The paper's order for these sources (flattest first) is {paper}; {verdict}."]
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
