"""The budget-optimum table notebook 06 stores, and the choice of law it is computed under."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from drscale.budget import choices as budget_laws
from drscale.budget import cost, table
from drscale.budget.panel import PanelSettings
from drscale.study import Study
from budget.v1_fit import V1


def test_table_lists_each_distinct_budget_without_then_with_inference_and_is_saved(tmp_path: Path) -> None:
    law = budget_laws.chosen_law(budget_laws.available_laws(tmp_path), "paper_v1")
    saved = table.save_optimum_table(tmp_path, law, [1e6, 1e4, 1e6], cost.paper_cost_model())
    assert saved["budget_usd"].tolist() == [1e4, 1e6, 1e4, 1e6]
    assert saved["include_inference"].tolist() == [False, False, True, True]
    expected = cost.optimal_allocation(V1, [1e4, 1e6], include_inference=True).to_frame()
    pd.testing.assert_frame_equal(saved.iloc[2:].reset_index(drop=True), expected)
    pd.testing.assert_frame_equal(pd.read_csv(Study(tmp_path).table(table.TABLE)), saved)


@pytest.mark.bad_input
def test_a_law_not_on_offer_is_refused_naming_the_ones_there_are(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"`law` 'our_fit' is not available; choose one of \['paper_sigir', 'paper_v1'\]"):
        budget_laws.chosen_law(budget_laws.available_laws(tmp_path), "our_fit")


def test_the_panel_starts_at_the_papers_cost_assumptions() -> None:
    assert PanelSettings().cost_model() == cost.paper_cost_model()
