"""The budget panel, driven as a reader would drive it: by setting its widgets' values."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from drscale.budget import choices as budget_laws
from drscale.budget import cost
from drscale.budget import panel as budget_panel
from drscale.fit import published
from drscale.fit.estimate import fit_law, fit_model_size
from drscale.fit.result import save_fits
from drscale.study import Study
from budget.joint_dim_fit import joint_dim_fit
from budget.v1_fit import V1, v1_fit
FEW_BUDGETS = np.geomspace(1e3, 1e9, 7)  # a short range keeps each redraw quick


def shown(panel: budget_panel.BudgetPanel, symbol: str) -> float:
    """The number the summary widget displays for N*, D* or L*."""
    match = re.search(rf"<td>{re.escape(symbol)}</td><td>([^<]+)</td>", panel.summary.value)
    assert match, panel.summary.value
    return float(match.group(1))


@pytest.fixture
def panel(tmp_path: Path) -> budget_panel.BudgetPanel:
    return budget_panel.BudgetPanel(budget_laws.available_laws(tmp_path), budgets_usd=FEW_BUDGETS)


def test_panel_shows_the_cost_models_optimum(panel: budget_panel.BudgetPanel) -> None:
    expected = cost.optimal_allocation(V1, 1e5, include_inference=False)
    assert shown(panel, "N*") == pytest.approx(expected.n_params[0], rel=1e-2)
    assert shown(panel, "D*") == pytest.approx(expected.data_size[0], rel=1e-2)
    assert shown(panel, "L*") == pytest.approx(expected.loss[0], rel=1e-3)


def test_raising_the_budget_raises_n_star(panel: budget_panel.BudgetPanel) -> None:
    before = shown(panel, "N*")
    panel.budget.value = 1e6
    assert shown(panel, "N*") > before
    assert "Budget 1,000,000 USD" in panel.summary.value
    assert panel.view.optimum.budget_usd[0] == 1e6


@pytest.mark.slow
def test_counting_inference_cost_drops_n_star_to_millions(panel: budget_panel.BudgetPanel) -> None:
    panel.budget.value = 1e6
    without = shown(panel, "N*")
    panel.include_inference.value = True
    assert shown(panel, "N*") < without
    assert shown(panel, "N*") == pytest.approx(2.1e6, rel=0.05)
    assert "with inference cost" in panel.summary.value


@pytest.mark.slow
def test_cost_assumptions_move_the_optimum_the_way_the_model_says(panel: budget_panel.BudgetPanel) -> None:
    panel.include_inference.value = True
    base = shown(panel, "N*")
    panel.index_size.value = 30e9  # a thousand times smaller index: parameters are cheaper to run
    assert shown(panel, "N*") > base
    smaller_index = shown(panel, "N*")
    panel.gpu_price.value = 10.0
    assert shown(panel, "N*") < smaller_index
    data_before = shown(panel, "D*")
    panel.annotation_price.value = 6.0
    assert shown(panel, "D*") < data_before
    expected = cost.optimal_allocation(V1, 1e5, panel.settings().cost_model(), include_inference=True)
    assert shown(panel, "N*") == pytest.approx(expected.n_params[0], rel=1e-2)


def test_choosing_another_law_shows_its_optimum(panel: budget_panel.BudgetPanel) -> None:
    panel.law.value = "paper_sigir"
    sigir = published.published_law("joint", "msmarco", "sigir")
    expected = cost.optimal_allocation(sigir, 1e5, include_inference=False)
    assert shown(panel, "N*") == pytest.approx(expected.n_params[0], rel=1e-2)


def test_our_fit_is_the_default_with_intervals_when_the_studys_fits_hold_one(tmp_path: Path) -> None:
    save_fits(Study(tmp_path).fits, {"joint": v1_fit(n_samples=50)})
    choices = budget_laws.available_laws(tmp_path)
    assert list(choices) == ["our_fit", "paper_v1", "paper_sigir"]
    assert choices["our_fit"].params == V1.params
    assert len(choices["our_fit"].bootstrap) == 50
    assert choices["our_fit"].measured == {"n_params": (1e6, 1e9), "data_size": (1e3, 1e6)}  # the fit's runs
    panel = budget_panel.BudgetPanel(choices, budgets_usd=FEW_BUDGETS)
    assert panel.law.value == "our_fit"
    assert "law: Our fit (joint law of notebook 05)" in panel.summary.value
    assert "95% interval" in panel.summary.value
    contours, optimum = (draw(panel.view) for draw in budget_panel.FIGURES.values())
    assert "Our fit (joint law of notebook 05)" in contours.axes[0].get_title()
    assert "Our fit (joint law of notebook 05)" in optimum.get_suptitle()


def test_without_our_fit_the_default_is_the_papers_v1_law_and_says_so(panel: budget_panel.BudgetPanel) -> None:
    assert panel.law.value == "paper_v1"
    assert "law: Paper's law (Fang et al. 2024, v1)" in panel.summary.value
    assert "Paper's law (Fang et al. 2024, v1)" in budget_panel.contour_figure(panel.view).axes[0].get_title()


def test_an_optimum_beyond_the_measured_range_is_flagged_with_its_factor(panel: budget_panel.BudgetPanel) -> None:
    largest = max(published.MINIATURE_SIZES.values())  # BERT-Base, the paper's largest model
    factor = panel.view.optimum.n_params[0] / largest
    assert factor > 1000  # 2.1e11 parameters at 100,000 USD
    assert f"extrapolated {factor:.3g}-fold beyond the largest measured N ({largest:.3g})" in panel.summary.value
    assert panel.view.optimum.extrapolation("n_params")[0] == pytest.approx(factor)
    assert "within the measured D" in panel.summary.value  # 1.5e5 pairs: inside MS MARCO's 532k
    legend = [t.get_text() for t in budget_panel.contour_figure(panel.view).axes[0].get_legend().get_texts()]
    assert "outside the measured N and D: extrapolation" in legend
    assert any("(extrapolated)" in text for text in legend)


def test_every_slider_is_wide_enough_to_read(panel: budget_panel.BudgetPanel) -> None:
    sliders = [panel.budget, panel.annotation_price, panel.gpu_price, panel.utilisation, panel.index_size]
    for slider in sliders:
        assert slider.layout.width == budget_panel.SLIDER_LAYOUT["width"], slider.description
        assert slider.style.description_width == "initial", slider.description


def test_fits_without_a_joint_fit_offer_only_the_papers_laws(tmp_path: Path) -> None:
    n = np.geomspace(1e4, 1e6, 6)
    save_fits(Study(tmp_path).fits, {"model_size": fit_model_size(n, 1 + (1e5 / n) ** 0.5, n_bootstrap=10), "joint": None})
    assert list(budget_laws.available_laws(tmp_path)) == ["paper_v1", "paper_sigir"]


def test_embedding_dimension_laws_are_never_offered_for_model_and_data_size(tmp_path: Path) -> None:
    d = np.array([16.0, 64.0, 256.0, 1024.0, 16.0, 64.0])
    dims = {"embedding_dim": fit_law("embedding_dim", {"embedding_dim": d}, 1 + (60 / d) ** 0.7, n_bootstrap=10),
            "joint_dim": joint_dim_fit(n_samples=10)}
    save_fits(Study(tmp_path).fits, dims)
    assert list(budget_laws.available_laws(tmp_path)) == ["paper_v1", "paper_sigir"]
    ours = v1_fit(n_samples=10)
    save_fits(Study(tmp_path).fits, {**dims, "joint": ours})
    choices = budget_laws.available_laws(tmp_path)
    assert list(choices) == ["our_fit", "paper_v1", "paper_sigir"]
    assert choices["our_fit"].params == ours.params and choices["our_fit"].measured == ours.measured_range()


def test_unaffordable_setting_is_shown_and_recovers(tmp_path: Path) -> None:
    settings = budget_panel.PanelSettings(budget_usd=1.0, include_inference=True)
    panel = budget_panel.BudgetPanel(budget_laws.available_laws(tmp_path), settings, budgets_usd=FEW_BUDGETS)
    assert panel.view is None and "cannot buy" in panel.summary.value
    panel.budget.value = 1e4
    assert panel.view is not None and shown(panel, "N*") > 1


def test_our_fit_without_a_joint_fit_names_the_file_and_notebook_05(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"our_fit.*fits\.json.*notebook 05"):
        budget_panel.BudgetPanel(budget_laws.available_laws(tmp_path), budget_panel.PanelSettings(law="our_fit"))
    with pytest.raises(ValueError, match=re.escape(str(Study(tmp_path).fits))):
        budget_laws.chosen_law(budget_laws.available_laws(tmp_path), "our_fit", tmp_path)


@pytest.mark.slow
def test_save_figures_writes_both_pngs(panel: budget_panel.BudgetPanel, tmp_path: Path) -> None:
    paths = panel.save_figures(tmp_path / "figures")
    assert sorted(p.name for p in paths) == ["budget_contours.png", "budget_optimum.png"]
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
