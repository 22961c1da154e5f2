"""The cost model's constants and the budget-optimal allocation under the paper's laws."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from drscale.budget import cost
from drscale.fit import laws
from budget.v1_fit import V1, v1_fit

# (budget in USD, include inference cost, N* of the published recomputation)
PUBLISHED_OPTIMA = [(1e4, False, 8.6e9), (1e5, False, 2.1e11), (1e6, True, 2.1e6), (1e7, True, 2.2e7)]


def test_paper_preset_gives_published_z_constants() -> None:
    model = cost.paper_cost_model()
    assert model.z_data_per_pair == 0.6
    assert float(f"{model.z_train_per_param:.3g}") == 3.22e-8
    assert float(f"{model.z_infer_per_param:.3g}") == 0.430


def test_each_assumption_moves_z_as_its_formula_says() -> None:
    base = cost.paper_cost_model()
    pricier = cost.paper_cost_model(gpu_hour_usd=2 * 3.93)
    assert pricier.z_train_per_param == pytest.approx(2 * base.z_train_per_param)
    assert pricier.z_infer_per_param == pytest.approx(2 * base.z_infer_per_param)
    assert cost.paper_cost_model(utilisation=0.5).z_train_per_param == pytest.approx(base.z_train_per_param / 2)
    assert cost.paper_cost_model(train_steps=20_000).z_train_per_param == pytest.approx(2 * base.z_train_per_param)
    assert cost.paper_cost_model(index_passages=30e9).z_infer_per_param == pytest.approx(base.z_infer_per_param / 1e3)
    assert cost.paper_cost_model(index_passages=30e9).z_train_per_param == base.z_train_per_param
    assert base.cost_usd(1e6, 1e3, include_inference=False) == pytest.approx(1e6 * base.z_train_per_param + 600)


@pytest.mark.parametrize(("budget", "include_inference", "published_n"), PUBLISHED_OPTIMA)
def test_published_optima_are_reproduced(budget: float, include_inference: bool, published_n: float) -> None:
    optimum = cost.optimal_allocation(V1, budget, include_inference=include_inference)
    assert optimum.n_params[0] == pytest.approx(published_n, rel=0.05)


@pytest.mark.parametrize(("budget", "include_inference", "published_n"), PUBLISHED_OPTIMA)
def test_our_optimum_is_not_worse_than_the_published_one(budget: float, include_inference: bool, published_n: float) -> None:
    model = cost.paper_cost_model()
    published_d = (budget - model.z_model_per_param(include_inference) * published_n) / model.z_data_per_pair
    published_loss = laws.joint_law(published_n, published_d, **V1.params)
    ours = cost.optimal_allocation(V1, budget, model, include_inference)
    assert ours.loss[0] <= published_loss


def test_optimum_spends_the_whole_budget_and_the_split_adds_up() -> None:
    frame = cost.optimal_allocation(V1, [1e4, 1e6], include_inference=True).to_frame()
    model = cost.paper_cost_model()
    spent = model.cost_usd(frame["n_params"], frame["data_size"], include_inference=True)
    np.testing.assert_allclose(spent, frame["budget_usd"], rtol=1e-9)
    np.testing.assert_allclose(frame[["data_share", "train_share", "infer_share"]].sum(axis=1), 1.0, rtol=1e-9)


def test_optimum_beats_every_other_point_of_the_budget_line() -> None:
    budget, model = 1e5, cost.paper_cost_model()
    optimum = cost.optimal_allocation(V1, budget, model, include_inference=False)
    n = np.geomspace(1, budget / model.z_train_per_param, 100_000)[:-1]
    line_loss = laws.joint_law(n, (budget - model.z_train_per_param * n) / model.z_data_per_pair, **V1.params)
    assert optimum.loss[0] <= line_loss.min()


def test_vectorised_budgets_equal_per_budget_calls() -> None:
    budgets = np.geomspace(1e3, 1e9, 7)
    together = cost.optimal_allocation(V1, budgets, include_inference=True).to_frame()
    apart = pd.concat([cost.optimal_allocation(V1, b, include_inference=True).to_frame() for b in budgets], ignore_index=True)
    pd.testing.assert_frame_equal(together, apart, rtol=1e-9)


def test_law_may_be_a_published_law_a_mapping_or_a_fit_result() -> None:
    expected = cost.optimal_allocation(V1, 1e5).n_params
    assert cost.optimal_allocation(dict(V1.params), 1e5).n_params == pytest.approx(expected, rel=1e-12)
    fit = v1_fit()
    assert cost.optimal_allocation(fit, 1e5).n_params == pytest.approx(expected, rel=1e-12)


def test_bootstrap_interval_contains_the_point_estimate() -> None:
    frame = cost.optimal_allocation(v1_fit(), [1e4, 1e5, 1e6, 1e7], include_inference=True).to_frame()
    for column in ("n_params", "data_size", "loss"):
        assert (frame[f"{column}_low"] < frame[column]).all()
        assert (frame[column] < frame[f"{column}_high"]).all()


def test_bootstrap_as_list_of_records_gives_the_same_interval() -> None:
    fit = v1_fit()

    class Records:
        params = fit.params
        bootstrap = fit.bootstrap.to_dict(orient="records")

    a = cost.optimal_allocation(fit, 1e6).intervals
    b = cost.optimal_allocation(Records(), 1e6).intervals
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: cost.optimal_allocation(V1, 0.0), "budget_usd"),
        (lambda: cost.optimal_allocation(V1, [1e5, -1.0]), "budget_usd"),
        (lambda: cost.optimal_allocation(V1, float("nan")), "budget_usd"),
        (lambda: cost.optimal_allocation(V1, 1.0, include_inference=True), "min_n_params"),
        (lambda: cost.optimal_allocation(V1, 1e3, min_n_params=1e4, include_inference=True), "min_n_params"),
        (lambda: cost.optimal_allocation(V1, 1e5, min_data_size=0.0), "min_data_size"),
        (lambda: cost.optimal_allocation(V1, 1e5, interval=1.5), "interval"),
        (lambda: cost.optimal_allocation({"a": 1.0}, 1e5), "law"),
        (lambda: cost.paper_cost_model(gpu_hour_usd=0.0), "gpu_hour_usd"),
        (lambda: cost.paper_cost_model(gpu_hour_usd=-3.93), "gpu_hour_usd"),
        (lambda: cost.paper_cost_model(annotation_usd_per_pair=0.0), "annotation_usd_per_pair"),
        (lambda: cost.paper_cost_model(utilisation=1.5), "utilisation"),
        (lambda: cost.paper_cost_model(index_passages=-1.0), "index_passages"),
        (lambda: cost.paper_cost_model(gpu_price=2.0), "gpu_price"),
    ],
)
def test_bad_input_raises_an_error_naming_it(call: object, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        call()


def test_bootstrap_intervals_of_the_optimum_and_its_split_contain_the_point_estimate() -> None:
    budgets = [1e4, 1e6, 1e8]
    for inference in (False, True):
        frame = cost.optimal_allocation(v1_fit(n_samples=200), budgets, include_inference=inference).to_frame()
        for name in ("n_params", "data_size", "loss", "data_share", "train_share", "infer_share"):
            assert (frame[f"{name}_low"] <= frame[name] * (1 + 1e-9)).all(), name
            assert (frame[name] <= frame[f"{name}_high"] * (1 + 1e-9)).all(), name
        assert (frame["n_params_high"] > frame["n_params_low"]).all()


def test_extrapolation_factor_says_how_far_outside_the_measured_span() -> None:
    factors = cost.extrapolation_factor([1e2, 1e4, 1e7], (1e3, 1e6))
    assert factors.tolist() == pytest.approx([0.1, 1.0, 10.0])
    assert cost.extrapolation_factor([1.0, 1e9], (None, 1e6)).tolist() == pytest.approx([1.0, 1e3])
    assert cost.describe_extrapolation("data_size", 10.0, (1e3, 1e6)) == \
        "extrapolated 10-fold beyond the largest measured D (1e+06)"
    assert cost.describe_extrapolation("n_params", 0.1, (1e3, 1e6)) == \
        "extrapolated 10-fold below the smallest measured N (1e+03)"
    assert cost.describe_extrapolation("data_size", 1.0, (None, 5.32e5)) == \
        "within the measured D (up to 5.32e+05; the smallest measured is not known)"


def test_a_resample_that_could_not_be_refitted_is_left_out_of_the_optimum_intervals() -> None:
    fit = v1_fit(n_samples=100)
    clean = cost.optimal_allocation(fit, [1e5, 1e7]).intervals
    fit.bootstrap.iloc[[3, 50]] = np.nan  # as the fit leaves an underdetermined resample
    with_failed = cost.optimal_allocation(fit, [1e5, 1e7]).intervals
    clean_without = cost.optimal_allocation(cost.JointLaw(fit.params, fit.bootstrap.dropna()), [1e5, 1e7]).intervals
    for name in clean:
        np.testing.assert_array_equal(with_failed[name], clean_without[name])
        np.testing.assert_allclose(with_failed[name], clean[name], rtol=0.2)


def test_a_joint_law_s_bootstrap_is_read_by_column_name_not_position() -> None:
    fit = v1_fit(n_samples=50)
    in_order = cost.optimal_allocation(cost.JointLaw(fit.params, fit.bootstrap), 1e6).intervals
    shuffled = fit.bootstrap[["delta", "beta", "a", "alpha", "b"]]
    other_order = cost.optimal_allocation(cost.JointLaw(fit.params, shuffled), 1e6).intervals
    for name in in_order:
        np.testing.assert_array_equal(in_order[name], other_order[name])
