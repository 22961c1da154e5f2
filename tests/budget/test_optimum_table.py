"""The budget-optimum table notebook 06 stores, and the choice of law it is computed under."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from drscale.budget import choices as budget_laws
from drscale.budget import cost, table
from drscale.budget.panel import PanelSettings
from drscale.study import Study
from drscale.fit.result import save_fits
from budget.v1_fit import V1, v1_fit


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
    with pytest.raises(ValueError, match=r"`law` 'paper_v2' is not available; choose one of \['paper_sigir', 'paper_v1'\]"):
        budget_laws.chosen_law(budget_laws.available_laws(tmp_path), "paper_v2")


@pytest.mark.bad_input
def test_our_fit_without_fits_names_the_file_and_the_notebook_that_writes_it(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=rf"{re.escape(str(Study(tmp_path).fits))}.*notebook 05.*notebook 04"):
        budget_laws.chosen_law(budget_laws.available_laws(tmp_path), "our_fit", tmp_path)


def test_default_law_is_ours_when_the_study_has_a_joint_fit_else_the_papers(tmp_path: Path) -> None:
    assert budget_laws.chosen_law(budget_laws.available_laws(tmp_path), None).params == V1.params
    ours = v1_fit(n_samples=20)
    ours.params["delta"] = 0.5
    save_fits(Study(tmp_path).fits, {"joint": ours})
    assert budget_laws.chosen_law(budget_laws.available_laws(tmp_path), None).params["delta"] == 0.5


def test_summary_reads_as_a_table_with_intervals_and_extrapolation_flags(tmp_path: Path) -> None:
    save_fits(Study(tmp_path).fits, {"joint": v1_fit(n_samples=50)})
    law = budget_laws.chosen_law(budget_laws.available_laws(tmp_path), None)
    optimum = table.optimum_table(law, [1e5, 1e6], cost.paper_cost_model())
    shown = table.summary(optimum, law)
    assert isinstance(shown, pd.DataFrame) and len(shown) == 4
    row = shown.loc[("100,000", "not counted")]
    low, high = optimum.loc[0, ["n_params_low", "n_params_high"]]
    assert row["N*"] == f"{optimum.loc[0, 'n_params']:.3g} [{low:.3g}, {high:.3g}]"
    factor = optimum.loc[0, "n_params"] / 1e9  # the fit's largest model
    assert row["N* vs measured range"] == f"extrapolated {factor:.3g}-fold beyond the largest measured N (1e+09)"
    assert shown.loc[("1,000,000", "counted"), "N* vs measured range"] == "within the measured N (1e+06 to 1e+09)"


def test_the_panel_starts_at_the_papers_cost_assumptions() -> None:
    assert PanelSettings().cost_model() == cost.paper_cost_model()
