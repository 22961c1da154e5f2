"""Does contrastive entropy agree with the ranking metrics? Rank correlations and monotone fits over runs.

The paper's case for contrastive entropy (CE) is that it orders models the way the ranking
metrics do, yet moves smoothly where NDCG@10 moves in steps. Over the finished runs of a
study this module measures that claim: Spearman's rho and Kendall's tau between CE and each
metric (with p-values), and the best monotone curve metric = f(CE), whose R^2 says how much
of a metric's spread across runs a monotone function of CE explains. A linear or power fit
would impose a shape the paper does not claim; monotone is the claim.

The monotone fit is isotonic regression by `scipy.optimize.isotonic_regression` (SciPy is
already a dependency; scikit-learn's `IsotonicRegression` would add one).

The runs compared are those of one test set (`RetrievalData.test_fingerprint`: corpus, test
queries and positives, so runs trained on pairs of other sources still compare) measured one way (the CE
measurement, `drscale.sweep.records.evaluation_label`: W negatives, R repeats, the pool sample and
its seed). Both numbers of a run depend on that measurement, not only on the model: more
negatives raise CE (chance is ln(W+1)), a larger pool, being also the corpus ranked, lowers
the ranking metrics, and another data set shifts both. Across measurements a rank
correlation orders the pools and the data sets rather than the models, and can fall far from
the agreement each measurement shows alone. So a selection that still mixes them is
refused, naming each group and its runs, rather than split into one table per group: the
study states one claim on one measurement, its saved summary names that measurement, and the
reader chooses which (a split would also set a group of two runs beside one of twenty).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from scipy import stats
from scipy.optimize import isotonic_regression

from drscale.annotate.pairs import pair_source
from drscale.common.files import write_text_atomic
from drscale.study import Study
from drscale.sweep.records import RunRecord, latest_finished

TRAINING_COLUMNS = ("run_id", "model", "n_params", "data_size", "embedding_dim", "steps")
"""What a run was, as its sweep-table row (`RunRecord.row`) gives it."""
RUN_COLUMNS = (*TRAINING_COLUMNS, "source", "test_fingerprint", "evaluation", "ce")
METRIC_ORDER = ("ndcg@10", "mrr@10", "recall@100", "recall@1000")
"""The metrics `drscale.measure.ranking` reports by default, listed first in tables; others follow by name."""

STAT_COLUMNS = ("metric", "runs", "spearman", "spearman_p", "kendall", "kendall_p", "direction", "monotone_r2")
GROUP_COLUMNS = ("data_name", "test_fingerprint", "evaluation", "runs", "selected")


def _ranked_runs(records: Iterable[Mapping[str, Any]]) -> list[RunRecord]:
    """Finished runs that carry ranking metrics, the latest record of a run recorded twice
    (as `ResultsStore.finished` keeps it)."""
    runs = (r if isinstance(r, RunRecord) else RunRecord(r) for r in records)
    return [r for r in latest_finished(runs).values() if r.get("ranking")]


def _study(record: RunRecord) -> tuple[str, str]:
    """(test fingerprint, CE measurement label) of a run: what its numbers can be compared within."""
    return record.test_fingerprint, record.evaluation


def _selected(study: tuple[str, str], test_fingerprint: str | None, evaluation: str | None) -> bool:
    return test_fingerprint in (None, study[0]) and evaluation in (None, study[1])


def measurement_groups(records: Iterable[Mapping[str, Any]], test_fingerprint: str | None = None,
                       evaluation: str | None = None) -> pd.DataFrame:
    """Finished runs with ranking metrics counted per data set and CE measurement: one row
    per (data_name, test_fingerprint, evaluation) with its `runs`, and whether the selection
    (`test_fingerprint`, `evaluation`; None selects any) takes it. Largest group first."""
    runs = _ranked_runs(records)
    names = {_study(r): r["data"].get("name", "?") for r in runs}
    counts = Counter(_study(r) for r in runs)
    rows = [{"data_name": names[study], "test_fingerprint": study[0], "evaluation": study[1], "runs": n,
             "selected": _selected(study, test_fingerprint, evaluation)} for study, n in counts.most_common()]
    return pd.DataFrame(rows, columns=list(GROUP_COLUMNS))


def agreement_table(records: Iterable[Mapping[str, Any]], test_fingerprint: str | None = None,
                    evaluation: str | None = None) -> pd.DataFrame:
    """One row per finished run that carries ranking metrics, of one data set measured one
    way: run_id, model, n_params, data_size, embedding_dim, steps, source (of the training pairs),
    test_fingerprint, evaluation, ce, then one column per metric.

    `records` are results-store records; a run recorded twice keeps its latest record (as
    `ResultsStore.finished` does); failed runs and runs measured without ranking are left out.
    `test_fingerprint` (`RetrievalData.test_fingerprint()`) and `evaluation` (a label of
    `drscale.sweep.records.evaluation_label`, e.g. "W256 R10 pool4096 seed1") select the runs; None
    takes any. A selection that still spans several data sets or measurements is refused with
    a `ValueError` listing each group and its runs (see the module docstring for why).
    """
    runs = [r for r in _ranked_runs(records) if _selected(_study(r), test_fingerprint, evaluation)]
    groups = measurement_groups(runs)
    if len(groups) > 1:
        described = "; ".join(f"data {g.data_name} (fingerprint {g.test_fingerprint}) measured {g.evaluation}: "
                              f"{g.runs} run(s)" for g in groups.itertuples())
        raise ValueError(
            f"the runs with ranking metrics span {len(groups)} groups of data set and CE measurement "
            f"({described}); CE and the ranking metrics of a run both depend on its data and measurement, so "
            "they are compared within one: choose it with test_fingerprint=... and evaluation=... (in notebook "
            "08 the parameters `dataset` and `evaluation`)"
        )
    rows = []
    for r in runs:
        row, (fingerprint, measurement) = r.row(), _study(r)
        rows.append({**{column: row[column] for column in TRAINING_COLUMNS}, "source": pair_source(r["data"].get("name", "")),
                     "test_fingerprint": fingerprint, "evaluation": measurement, "ce": r["ce"], **r["ranking"]})
    found = {name for r in runs for name in r["ranking"]}
    metrics = [m for m in METRIC_ORDER if m in found] + sorted(found - set(METRIC_ORDER))
    return pd.DataFrame(rows, columns=[*RUN_COLUMNS, *metrics])


def metric_columns(table: pd.DataFrame) -> list[str]:
    """The ranking-metric columns of an `agreement_table`."""
    return [c for c in table.columns if c not in RUN_COLUMNS]


def enough_runs(table: pd.DataFrame, min_runs: int = 3) -> tuple[bool, str]:
    """Whether there are enough runs with ranking metrics to correlate, and a sentence saying so."""
    if len(table) >= min_runs:
        return True, f"{len(table)} finished runs carry ranking metrics."
    return False, (
        f"Only {len(table)} finished run(s) carry ranking metrics; at least {min_runs} are needed to "
        "compare them with contrastive entropy. Run a sweep with ranking evaluation switched on, then "
        "re-run this notebook."
    )


@dataclass(frozen=True)
class MonotoneFit:
    """Isotonic fit of a metric on CE: `metric` is the fitted value at each distinct `ce` (ascending)."""

    ce: np.ndarray
    metric: np.ndarray
    increasing: bool
    r2: float

    def predict(self, ce: np.ndarray | float) -> np.ndarray:
        """Fitted metric at `ce`, linear between fitted points, constant beyond them."""
        return np.interp(ce, self.ce, self.metric)


def monotone_fit(ce: np.ndarray, metric: np.ndarray, increasing: bool | None = None) -> MonotoneFit:
    """Least-squares monotone fit of `metric` on `ce` (pool-adjacent-violators).

    The direction defaults to the sign of Spearman's rho (decreasing when it is undefined,
    the expected sign: lower CE, better ranking). Runs with equal CE are pooled first, so
    they share one fitted value whatever their order.
    """
    ce, metric = np.asarray(ce, dtype=float), np.asarray(metric, dtype=float)
    if ce.shape != metric.shape or ce.ndim != 1 or ce.size == 0:
        raise ValueError(f"ce and metric must be equal-length non-empty 1-D arrays; got shapes {ce.shape} and {metric.shape}")
    if not (np.isfinite(ce).all() and np.isfinite(metric).all()):
        raise ValueError("ce and metric must be finite (drop runs without the metric first)")
    if increasing is None:
        increasing = bool(_rank_correlations(ce, metric)[0] > 0)
    levels, inverse, counts = np.unique(ce, return_inverse=True, return_counts=True)
    means = np.bincount(inverse, weights=metric) / counts
    fitted = isotonic_regression(means, weights=counts.astype(float), increasing=increasing).x
    spread = float(((metric - metric.mean()) ** 2).sum())
    r2 = 1.0 - float(((metric - fitted[inverse]) ** 2).sum()) / spread if spread > 0 else math.nan
    return MonotoneFit(ce=levels, metric=fitted, increasing=increasing, r2=r2)


def _rank_correlations(ce: np.ndarray, metric: np.ndarray) -> tuple[float, float, float, float]:
    """(rho, p, tau, p); all NaN when either variable is constant (no ranking to compare)."""
    if len(ce) < 2 or np.ptp(ce) == 0 or np.ptp(metric) == 0:
        return (math.nan,) * 4
    rho = stats.spearmanr(ce, metric)
    tau = stats.kendalltau(ce, metric)
    return float(rho.statistic), float(rho.pvalue), float(tau.statistic), float(tau.pvalue)


def correlations(table: pd.DataFrame) -> pd.DataFrame:
    """Per metric: runs, Spearman rho and Kendall tau-b with two-sided p-values, and the
    direction and R^2 of the monotone fit. Runs missing a metric are left out of its row.

    Negative correlations are agreement: lower CE is better, higher ranking metrics are better.
    """
    rows = []
    for metric in metric_columns(table):
        pairs = table[["ce", metric]].dropna()
        ce, values = pairs["ce"].to_numpy(float), pairs[metric].to_numpy(float)
        rho, rho_p, tau, tau_p = _rank_correlations(ce, values)
        fit = monotone_fit(ce, values) if len(pairs) else None
        direction = "" if fit is None else "increasing" if fit.increasing else "decreasing"
        rows.append({
            "metric": metric, "runs": len(pairs), "spearman": rho, "spearman_p": rho_p, "kendall": tau,
            "kendall_p": tau_p, "direction": direction, "monotone_r2": math.nan if fit is None else fit.r2,
        })
    return pd.DataFrame(rows, columns=list(STAT_COLUMNS))


def discordant_pairs(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Pairs of runs that CE and `metric` order differently: the run with the lower (better) CE
    has the lower (worse) metric. Sorted by CE gap, widest first, to show how large a CE
    difference the metric can contradict. Pairs the metric ties are not listed. Each run is
    named by its id and described by how it was trained (`run_setting`), so the table shows
    whether the pairs it lists differ in size, data, embedding dimension or steps.
    """
    runs = table.dropna(subset=[metric]).reset_index(drop=True)
    first, second = np.triu_indices(len(runs), k=1)
    ce, values = runs["ce"].to_numpy(float), runs[metric].to_numpy(float)
    against = (ce[first] - ce[second]) * (values[first] - values[second]) > 0
    lower_first = ce[first] < ce[second]
    better, worse = np.where(lower_first, first, second)[against], np.where(lower_first, second, first)[against]
    settings = np.array([run_setting(row) for row in runs.itertuples()], dtype=object)
    pairs = pd.DataFrame({
        "lower_ce_run": runs["run_id"].to_numpy()[better], "lower_ce_setting": settings[better],
        "higher_ce_run": runs["run_id"].to_numpy()[worse], "higher_ce_setting": settings[worse],
        "ce_gap": ce[worse] - ce[better], f"{metric}_gap": values[worse] - values[better],
    })
    return pairs.sort_values("ce_gap", ascending=False, kind="stable").reset_index(drop=True)


def run_setting(run: Any) -> str:
    """How a run of an `agreement_table` was trained, in a few words: model, pairs, output
    dimension, steps, and the source of its pairs where it is not the data's labels."""
    source = "" if run.source == "human" else f", {run.source} pairs"
    steps = f"{int(run.steps)} steps" if pd.notna(run.steps) else "steps not recorded"
    return f"{run.model}, D {run.data_size:,}, d {run.embedding_dim}, {steps}{source}"


def figure_name(metric: str) -> str:
    """File name of a metric's agreement figure (no '@' in file names)."""
    return f"metric_agreement_{metric.replace('@', '_at_')}.png"


def plot_agreement(table: pd.DataFrame, metric: str) -> Figure:
    """Runs as points (CE on x), the monotone fit as a line, rho and tau in the title.

    Points are coloured by the source of the training pairs when the table has a `source`
    column (runs of one model trained on ICT and on human pairs must not look alike), with
    the model as the marker; otherwise by model. Each colour is a distinct one of a
    qualitative palette, never a shade of another.
    """
    pairs = table.dropna(subset=[metric]).sort_values("ce")
    fit = monotone_fit(pairs["ce"], pairs[metric])
    rho, _, tau, _ = _rank_correlations(pairs["ce"].to_numpy(float), pairs[metric].to_numpy(float))
    hue = "source" if "source" in pairs else "model"
    groups = list(dict.fromkeys(pairs[hue]))
    palette = dict(zip(groups, sns.color_palette("tab10" if len(groups) <= 10 else "tab20", len(groups))))
    fig, ax = plt.subplots(figsize=(6.0, 4.4), layout="constrained")
    sns.scatterplot(data=pairs, x="ce", y=metric, hue=hue, hue_order=groups, palette=palette,
                    style="model" if hue == "source" else None, s=45, edgecolor="black", ax=ax, zorder=3)
    ax.plot(fit.ce, fit.metric, color="black", lw=1.5, label=f"monotone fit (R$^2$ = {fit.r2:.2f})")
    ax.set(xlabel="contrastive entropy (lower is better)", ylabel=metric,
           title=f"{metric}: Spearman {rho:.2f}, Kendall {tau:.2f}, {len(pairs)} runs")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    return fig


def save_agreement(table: pd.DataFrame, summary: pd.DataFrame | None, data_dir: str | Path, ready: bool,
                   reason: str) -> dict[str, Path]:
    """Write the per-run table, the statistics (CSV) and a JSON summary with the study's tables (`Study.table`), atomically.

    With too few runs `summary` is None: the files are still written (statistics empty, JSON
    `ready: false` with the reason), so a reader can tell "not measured" from "disagreeing".
    The JSON names the data fingerprint and CE measurement of the runs (null without runs).
    """
    summary = pd.DataFrame(columns=list(STAT_COLUMNS)) if summary is None else summary
    study = Study(data_dir)
    paths = {
        "runs": study.table("metric_agreement_runs"),
        "statistics": study.table("metric_agreement"),
        "summary": study.results / "metric_agreement.json",
    }
    write_text_atomic(paths["runs"], table.to_csv(index=False))
    write_text_atomic(paths["statistics"], summary.to_csv(index=False))
    document = {
        "ready": ready,
        "reason": reason,
        "runs": len(table),
        "test_fingerprint": _sole(table, "test_fingerprint"),
        "evaluation": _sole(table, "evaluation"),
        "metrics": {row["metric"]: {k: _json_value(v) for k, v in row.items() if k != "metric"}
                    for row in summary.to_dict("records")},
    }
    write_text_atomic(paths["summary"], json.dumps(document, indent=2, allow_nan=False) + "\n")
    return paths


def _sole(table: pd.DataFrame, column: str) -> str | None:
    """The one value of `column` in an `agreement_table` (one study by construction); None when empty."""
    values = table[column].unique() if column in table else []
    if len(values) > 1:
        raise ValueError(f"the runs table mixes {column} values {sorted(values)}; build it with agreement_table")
    return str(values[0]) if len(values) else None


def _json_value(value: Any) -> Any:
    """NaN as null (JSON has no NaN), numpy scalars as Python numbers."""
    value = value.item() if isinstance(value, np.generic) else value
    return None if isinstance(value, float) and math.isnan(value) else value
