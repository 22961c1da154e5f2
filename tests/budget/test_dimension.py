"""Encoder size against embedding dimension under a budget: the optimum, its interval, its figure and panel."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from drscale.budget import cost, dimension
from drscale.budget.index import IndexWorkload
from drscale.fit import laws
from drscale.fit.result import FitResult, load_fits, save_fits
from drscale.study import Study
from budget.joint_dim_fit import TRUE, joint_dim_fit
from budget.v1_fit import v1_fit


@pytest.fixture(scope="module")
def fit() -> FitResult:
    return joint_dim_fit()


def brute_force(budget: float, z_model: float, z_dim: float, points: int = 2_000_000) -> tuple[float, float, float]:
    """The best of a fine log grid of N along the budget line, d taking the rest of the budget."""
    n = np.geomspace(1.0, (budget - z_dim) / z_model, points)
    d = (budget - z_model * n) / z_dim
    loss = laws.joint_dim_law(n, d, **TRUE)
    best = int(np.argmin(loss))
    return float(n[best]), float(d[best]), float(loss[best])


@pytest.mark.parametrize("include_inference", [False, True])
@pytest.mark.parametrize("budget", [3e3, 1e5, 1e7])
def test_optimum_equals_a_brute_force_search_of_the_budget_line(fit: FitResult, budget: float,
                                                                include_inference: bool) -> None:
    choice = dimension.optimal_dimension(fit, budget, include_inference=include_inference)
    n, d, loss = brute_force(budget, choice.z_model_per_param, choice.z_dim_usd)
    assert choice.encoder_params[0] == pytest.approx(n, rel=0.01)
    assert choice.embedding_dim[0] == pytest.approx(d, rel=0.01)
    assert choice.loss[0] <= loss * (1 + 1e-12)


def test_a_two_dimensional_grid_finds_nothing_better_within_the_budget(fit: FitResult) -> None:
    budget = 1e5
    choice = dimension.optimal_dimension(fit, budget)
    n, d = np.meshgrid(np.geomspace(1e3, 1e12, 1500), np.geomspace(1, 1e6, 1500))
    affordable = choice.z_model_per_param * n + choice.z_dim_usd * d <= budget
    loss = np.where(affordable, laws.joint_dim_law(n, d, **TRUE), np.inf)
    best = np.unravel_index(np.argmin(loss), loss.shape)
    assert choice.loss[0] <= loss[best] < choice.loss[0] * (1 + 1e-3)  # the grid's best point lies near the line


def test_prices_come_from_the_cost_model_and_the_index(fit: FitResult) -> None:
    index = IndexWorkload(index_passages=1e8, queries_served=1e7)
    choice = dimension.optimal_dimension(fit, 1e4, index)
    model = cost.paper_cost_model(index_passages=1e8)  # encoding prices the same index
    assert choice.z_model_per_param == pytest.approx(model.z_model_per_param(True))
    assert choice.z_dim_usd == pytest.approx(index.usd_per_dimension(model.hardware))
    without = dimension.optimal_dimension(fit, 1e4, index, include_inference=False)
    assert without.z_model_per_param == pytest.approx(model.z_train_per_param)
    assert without.encoder_params[0] > choice.encoder_params[0]  # parameters are cheaper without encoding the index


def test_the_cost_split_spends_the_whole_budget(fit: FitResult) -> None:
    frame = dimension.optimal_dimension(fit, [1e3, 1e5, 1e7]).to_frame()
    spent = frame[["model_cost_usd", "storage_cost_usd", "search_cost_usd"]].sum(axis=1)
    np.testing.assert_allclose(spent, frame["budget_usd"], rtol=1e-9)
    np.testing.assert_allclose(frame[["model_share", "storage_share", "search_share"]].sum(axis=1), 1.0, rtol=1e-9)
    index = IndexWorkload()
    np.testing.assert_allclose(frame["storage_cost_usd"], index.storage_usd(frame["embedding_dim"]))


def test_bootstrap_intervals_bracket_the_point_estimate(fit: FitResult) -> None:
    frame = dimension.optimal_dimension(fit, [1e3, 1e5, 1e7]).to_frame()
    for name in ("encoder_params", "embedding_dim", "loss", "model_share", "storage_share", "search_share"):
        assert (frame[f"{name}_low"] <= frame[name] * (1 + 1e-9)).all(), name
        assert (frame[name] <= frame[f"{name}_high"] * (1 + 1e-9)).all(), name
    assert (frame["encoder_params_high"] > frame["encoder_params_low"]).all()


def test_a_resample_that_could_not_be_refitted_is_left_out_of_the_intervals(fit: FitResult) -> None:
    law = cost.JointLaw(fit.params, fit.bootstrap.copy())
    law.bootstrap.iloc[[3, 50]] = np.nan  # as the fit leaves an underdetermined resample
    with_failed = dimension.optimal_dimension(law, [1e3, 1e7]).intervals
    without = dimension.optimal_dimension(cost.JointLaw(fit.params, fit.bootstrap.drop(fit.bootstrap.index[[3, 50]])),
                                          [1e3, 1e7]).intervals
    for name in without:
        np.testing.assert_array_equal(with_failed[name], without[name])


def test_vectorised_budgets_equal_per_budget_calls(fit: FitResult) -> None:
    budgets = np.geomspace(1e3, 1e8, 6)
    together = dimension.optimal_dimension(fit, budgets).to_frame()
    apart = pd.concat([dimension.optimal_dimension(fit, b).to_frame() for b in budgets], ignore_index=True)
    pd.testing.assert_frame_equal(together, apart, rtol=1e-9)


def test_more_queries_buy_a_smaller_embedding_and_a_larger_encoder(fit: FitResult) -> None:
    few = dimension.optimal_dimension(fit, 1e5, IndexWorkload(queries_served=1e6))
    many = dimension.optimal_dimension(fit, 1e5, IndexWorkload(queries_served=1e10))
    assert many.embedding_dim[0] < few.embedding_dim[0]
    assert many.search_cost_usd[0] / 1e5 > few.search_cost_usd[0] / 1e5


def test_an_optimum_beyond_the_measured_range_is_flagged(fit: FitResult) -> None:
    choice = dimension.optimal_dimension(fit, 1e5)
    factor = choice.encoder_params[0] / 1e7
    assert factor > 1 and choice.extrapolation("encoder_params")[0] == pytest.approx(factor)
    html = dimension.summary_html(choice)
    assert f"extrapolated {factor:.3g}-fold beyond the largest measured N (1e+07)" in html
    assert "within the measured d" in html or "measured d" in html


def test_a_law_from_fits_json_gives_the_same_optimum(fit: FitResult, tmp_path: Path) -> None:
    loaded = load_fits(save_fits(tmp_path / "fits.json", {"joint_dim": fit}))["joint_dim"]
    a, b = (dimension.optimal_dimension(f, 1e5).to_frame() for f in (fit, loaded))
    pd.testing.assert_frame_equal(a, b)
    point = dimension.optimal_dimension(dict(TRUE), 1e5)
    assert point.intervals is None and point.encoder_params[0] == pytest.approx(a.encoder_params[0], rel=1e-12)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda f: dimension.optimal_dimension(f, 0.0), "budget_usd"),
        (lambda f: dimension.optimal_dimension(f, 1.0), "budget_usd"),
        (lambda f: dimension.optimal_dimension(f, 1e5, interval=1.5), "interval"),
        (lambda f: dimension.optimal_dimension(f, 1e5, min_embedding_dim=0.0), "min_embedding_dim"),
        (lambda f: dimension.optimal_dimension({"a": 1.0, "b": 2.0, "alpha": 0.5, "beta": 0.5, "delta": 1.0}, 1e5),
         "joint_dim-law parameters"),
    ],
)
def test_bad_input_raises_an_error_naming_it(fit: FitResult, call: object, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        call(fit)


def test_contour_figure_draws_the_budget_line_the_optimum_with_its_interval_and_the_measured_box(
        fit: FitResult) -> None:
    choice = dimension.optimal_dimension(fit, 1e5)
    ax = dimension.contour_figure(cost.as_joint_law(fit, dimension.JOINT_DIM), choice).axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0] == "budget 100,000 USD"
    assert labels[1].startswith(f"optimum N*={choice.encoder_params[0]:.3g}, d*={choice.embedding_dim[0]:.3g}")
    assert "95% interval" in labels[1] and "(extrapolated)" in labels[1]
    assert "outside the measured N and d: extrapolation" in labels
    line = next(line for line in ax.lines if line.get_label() == "budget 100,000 USD")
    spent = choice.z_model_per_param * line.get_xdata() + choice.z_dim_usd * line.get_ydata()
    np.testing.assert_allclose(spent, 1e5, rtol=1e-9)
    assert ax.get_xscale() == ax.get_yscale() == "log" and ax.get_ylabel() == "embedding dimension d"


def shown(panel: dimension.DimensionPanel, symbol: str) -> float:
    match = re.search(rf"<td>{re.escape(symbol)}</td><td>([^<]+)</td>", panel.summary.value)
    assert match, panel.summary.value
    return float(match.group(1))


def test_panel_moves_n_star_with_the_budget_and_d_star_with_the_queries(fit: FitResult, tmp_path: Path) -> None:
    panel = dimension.DimensionPanel(fit)
    assert shown(panel, "N*") == pytest.approx(dimension.optimal_dimension(fit, 1e4).encoder_params[0], rel=1e-2)
    before = shown(panel, "N*")
    panel.budget.value = 1e6
    assert shown(panel, "N*") > before and panel.choice.budget_usd[0] == 1e6
    assert "Budget 1,000,000 USD" in panel.summary.value
    d_before = shown(panel, "d*")
    panel.queries.value = 1e11
    assert shown(panel, "d*") < d_before
    panel.storage_price.value = 5.0  # an index held in RAM
    panel.index_size.value = 1e7
    settings = panel.settings()
    assert (settings.budget_usd, settings.queries_served, settings.storage_usd_per_gb_month,
            settings.index_passages) == pytest.approx((1e6, 1e11, 5.0, 1e7), rel=1e-9)
    expected = dimension.optimal_dimension(fit, 1e6, settings.index())
    assert shown(panel, "N*") == pytest.approx(expected.encoder_params[0], rel=1e-2)
    assert "application/vnd.jupyter.widget-view+json" in panel._repr_mimebundle_()
    (path,) = panel.save_figures(tmp_path)
    assert path == tmp_path / "dimension_contours.png" and path.stat().st_size > 0


def test_panel_shows_an_unaffordable_budget_and_recovers(fit: FitResult) -> None:
    panel = dimension.DimensionPanel(fit, dimension.DimensionSettings(budget_usd=100.0, queries_served=1e12))
    assert panel.choice is None and "cannot buy" in panel.summary.value
    panel.budget.value = 1e8
    assert panel.choice is not None and shown(panel, "N*") > 1


def test_the_studys_joint_dim_fit_is_read_beside_its_other_laws(fit: FitResult, tmp_path: Path) -> None:
    study = Study(tmp_path)
    assert dimension.study_law(tmp_path) is None  # no fits.json yet
    save_fits(study.fits, {"joint": v1_fit(n_samples=10)})
    assert dimension.study_law(tmp_path) is None
    note = dimension.missing_law_note(tmp_path)
    assert str(study.fits) in note
    assert note.index("notebooks/10_embedding_dim_sweep.ipynb") < note.index("notebooks/05_fit_scaling_laws.ipynb")
    save_fits(study.fits, {"joint": v1_fit(n_samples=10), "joint_dim": fit})
    law = dimension.study_law(tmp_path)
    assert law.params == pytest.approx(TRUE) and len(law.bootstrap) == len(fit.bootstrap)
    assert law.measured == fit.measured_range()


def test_settings_optimise_each_distinct_budget_in_order_under_their_index(fit: FitResult) -> None:
    settings = dimension.DimensionSettings(budget_usd=3e4, index_passages=1e8, queries_served=1e9,
                                           storage_usd_per_gb_month=0.02, include_inference=False)
    choice = settings.optimum(fit, [1e5, 1e3, 1e5])
    expected = dimension.optimal_dimension(fit, [1e3, 1e5], IndexWorkload(index_passages=1e8, queries_served=1e9,
                                                                          storage_usd_per_gb_month=0.02),
                                           include_inference=False)
    pd.testing.assert_frame_equal(choice.to_frame(), expected.to_frame())
    assert settings.optimum(fit).budget_usd.tolist() == [3e4]


def test_the_gpu_price_reaches_the_optimum_and_stays_as_the_panel_moves(fit: FitResult) -> None:
    paper, dear = dimension.DimensionSettings(budget_usd=1e5), dimension.DimensionSettings(budget_usd=1e5, gpu_hour_usd=39.3)
    cheap, pricey = paper.optimum(fit), dear.optimum(fit)
    assert pricey.z_model_per_param == pytest.approx(10 * cheap.z_model_per_param, rel=1e-12)
    assert pricey.encoder_params[0] < cheap.encoder_params[0]  # each parameter costs ten times as much
    expected = dimension.optimal_dimension(fit, 1e5, dear.index(), cost.paper_cost_model(
        gpu_hour_usd=39.3, index_passages=dear.index_passages))
    pd.testing.assert_frame_equal(pricey.to_frame(), expected.to_frame())
    panel = dimension.DimensionPanel(fit, dimension.DimensionSettings(budget_usd=1e5, gpu_hour_usd=39.3, utilisation=0.5))
    panel.budget.value = 1e6
    assert (panel.settings().gpu_hour_usd, panel.settings().utilisation) == (39.3, 0.5)
    assert panel.choice.z_model_per_param == pytest.approx(
        dimension.DimensionSettings(gpu_hour_usd=39.3, utilisation=0.5).cost_model().z_model_per_param(True), rel=1e-12)


@pytest.mark.bad_input
def test_a_bad_gpu_setting_is_refused_by_name(fit: FitResult) -> None:
    with pytest.raises(ValueError, match="utilisation"):
        dimension.DimensionSettings(utilisation=1.5).optimum(fit)
    with pytest.raises(ValueError, match="gpu_hour_usd"):
        dimension.DimensionSettings(gpu_hour_usd=-1.0).optimum(fit)


def test_summary_prints_each_optimum_with_its_interval_and_range(fit: FitResult) -> None:
    choice = dimension.optimal_dimension(fit, [1e3, 1e5])
    frame, table = choice.to_frame(), dimension.summary(choice)
    assert table.index.tolist() == ["1,000", "100,000"]
    row = frame.iloc[1]
    assert table.loc["100,000", "N*"] == (f"{row['encoder_params']:.3g} [{row['encoder_params_low']:.3g}, "
                                          f"{row['encoder_params_high']:.3g}]")
    assert table.loc["100,000", "d*"].startswith(f"{row['embedding_dim']:.3g} [")
    shares = [float(table.loc["100,000", f"{term} share (%)"].split()[0]) for term in ("model", "storage", "search")]
    assert sum(shares) == pytest.approx(100, abs=0.2)
    factor = row["encoder_params"] / 1e7
    assert table.loc["100,000", "N* vs measured range"] == \
        f"extrapolated {factor:.3g}-fold beyond the largest measured N (1e+07)"
    point = dimension.summary(dimension.optimal_dimension(dict(TRUE), 1e5))
    assert point.loc["100,000", "N*"] == f"{row['encoder_params']:.3g}"  # no samples, no interval
    assert point.loc["100,000", "d* vs measured range"] == "measured range of d unknown"


@pytest.mark.bad_input
def test_a_law_of_the_other_trade_is_refused_naming_both(fit):
    joint = cost.as_joint_law(fit, dimension.JOINT_DIM)
    with pytest.raises(ValueError, match=r"not those of the joint law .*pass a joint fit"):
        cost.as_joint_law(joint)
    with pytest.raises(ValueError, match=r"not those of the joint_dim law"):
        cost.as_joint_law(cost.as_joint_law(laws.get("joint").parameters(TRUE_JOINT)), dimension.JOINT_DIM)


TRUE_JOINT = {"a": 5e5, "b": 1e3, "alpha": 0.5, "beta": 0.8, "delta": 0.5}
