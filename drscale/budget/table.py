"""The budget-optimum table of a study: the optimum at each budget, without and with the inference cost.

Notebook 06 shows it and saves it among the study's tables (`Study.table("budget_optimum")`),
so the optima it reports can be read back without rerunning the optimiser.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

import pandas as pd

from drscale.budget import cost
from drscale.study import Study

if TYPE_CHECKING:
    from pandas.io.formats.style import Styler

TABLE = "budget_optimum"
SHOWN = ["budget_usd", "include_inference", "n_params", "data_size", "loss", "data_share", "train_share", "infer_share"]
"""The columns a reader sees: the optimum and how the budget splits."""


def optimum_table(law: cost.JointLaw, budgets_usd: Iterable[float], cost_model: cost.CostModel) -> pd.DataFrame:
    """The optimum at each distinct budget, in increasing order, first without then with the inference cost."""
    budgets = sorted(set(budgets_usd))
    return pd.concat(
        [cost.optimal_allocation(law, budgets, cost_model, inference).to_frame() for inference in (False, True)],
        ignore_index=True,
    )


def save_optimum_table(data_dir: str | os.PathLike, law: cost.JointLaw, budgets_usd: Iterable[float],
                       cost_model: cost.CostModel) -> pd.DataFrame:
    """`optimum_table`, also written as the study's budget-optimum table."""
    table = optimum_table(law, budgets_usd, cost_model)
    path = Study(data_dir).table(TABLE)
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False)
    return table


def styled(table: pd.DataFrame) -> Styler:
    """The columns of `SHOWN`, numbers to three significant digits."""
    return table[SHOWN].style.format("{:.3g}", subset=[c for c in SHOWN if c != "include_inference"])
