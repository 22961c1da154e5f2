"""The budget-optimum table of a study: the optimum at each budget, without and with the inference cost.

Notebook 06 shows it and saves it among the study's tables (`Study.table("budget_optimum")`),
so the optima it reports can be read back without rerunning the optimiser.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from drscale.budget import cost
from drscale.common.files import write_text_atomic
from drscale.study import Study

TABLE = "budget_optimum"


def optimum_table(law: cost.JointLaw, budgets_usd: Iterable[float], cost_model: cost.CostModel) -> pd.DataFrame:
    """The optimum at each distinct budget, in increasing order, first without then with the inference cost."""
    budgets = sorted(set(budgets_usd))
    return pd.concat(
        [cost.optimal_allocation(law, budgets, cost_model, inference).to_frame() for inference in (False, True)],
        ignore_index=True,
    )


def save_optimum_table(data_dir: str | os.PathLike | None, law: cost.JointLaw, budgets_usd: Iterable[float],
                       cost_model: cost.CostModel) -> pd.DataFrame:
    """`optimum_table`, also written as the study's budget-optimum table."""
    table = optimum_table(law, budgets_usd, cost_model)
    write_text_atomic(Study(data_dir).table(TABLE), table.to_csv(index=False))  # whole: a crash leaves the old one
    return table


def interval_cell(row: pd.Series, name: str, scale: float = 1.0, fmt: str = ".3g") -> str:
    """One value of an optimum table as text, with its bootstrap interval where the row has one
    (`<name>_low`, `<name>_high`)."""
    text = f"{scale * row[name]:{fmt}}"
    if f"{name}_low" in row:
        text += f" [{scale * row[f'{name}_low']:{fmt}}, {scale * row[f'{name}_high']:{fmt}}]"
    return text


def interval_html(row: pd.Series, name: str, scale: float = 1.0, fmt: str = ".3g", label: str = "95% interval ") -> str:
    """One value's bootstrap interval as a small HTML aside after it (empty where the row has none),
    for the optimum panels' summaries."""
    if f"{name}_low" not in row:
        return ""
    return f" <small>({label}{scale * row[f'{name}_low']:{fmt}} to {scale * row[f'{name}_high']:{fmt}})</small>"


def range_note_html(row: pd.Series, variable: str, measured: Mapping[str, cost.Span]) -> str:
    """Whether the law measured the optimum's `variable` or only extrapolates to it, as a small
    HTML line: red where it extrapolates."""
    factor = row[f"{variable}_extrapolation"]
    flagged = np.isfinite(factor) and factor != 1
    note = cost.describe_extrapolation(variable, factor, measured.get(variable))
    return f'<br><small style="color:{"#b00" if flagged else "#555"}">{note}</small>'


def summary(table: pd.DataFrame, law: cost.JointLaw) -> pd.DataFrame:
    """An `optimum_table` as a reader reads it: one row per budget and inference setting, N*, D*,
    L* and the budget split to three digits with their 95% intervals when the law has bootstrap
    samples, and, for N* and D*, whether the law measured them or only extrapolates to them.

    Plain text cells, so the table prints the same in a notebook, under papermill and in a report.
    """
    measured = law.measured or {}

    rows = []
    for _, row in table.iterrows():
        rows.append({
            "budget (USD)": f"{row['budget_usd']:,.0f}",
            "inference cost": "counted" if row["include_inference"] else "not counted",
            "N*": interval_cell(row, "n_params"),
            "D*": interval_cell(row, "data_size"),
            "L*": interval_cell(row, "loss", fmt=".4g"),
            **{f"{term} share (%)": interval_cell(row, f"{term}_share", 100, ".1f") for term in ("data", "train", "infer")},
            **{f"{cost.SYMBOLS[v]}* vs measured range": cost.describe_extrapolation(
                v, row[f"{v}_extrapolation"], measured.get(v)) for v in cost.SYMBOLS},
        })
    return pd.DataFrame(rows).set_index(["budget (USD)", "inference cost"])

