"""Predict, then verify: a law fitted without the largest sizes predicts them with intervals that mean what they say."""

import numpy as np
import pandas as pd
import pytest

from drscale.fit import laws
from drscale.measure.config import EvalConfig
from drscale.studies import prediction
from drscale.sweep.config import RunConfig
from drscale.train.config import CPU_PRESET

TRUE = {"a": 5e5, "alpha": 0.5, "delta": 1.0}


def sweep(sizes: np.ndarray, seeds: int = 1, noise: float = 0.02, seed: int = 0) -> pd.DataFrame:
    n = np.repeat(sizes, seeds)
    ce = laws.model_size_law(n, **TRUE) * np.exp(np.random.default_rng(seed).normal(0, noise, n.size))
    return pd.DataFrame({"n_params": n, "data_size": 1000, "ce": ce})


def test_split_largest_holds_out_every_run_at_the_largest_values():
    table = sweep(np.array([10.0, 20.0, 30.0, 40.0]), seeds=2)
    fitted, held = prediction.split_largest(table, "n_params", held_out=2)
    assert sorted(fitted.n_params.unique()) == [10.0, 20.0] and sorted(held.n_params.unique()) == [30.0, 40.0]
    assert len(held) == 4


@pytest.mark.bad_input
@pytest.mark.parametrize("held_out", [0, 4, 1.5, True])
def test_a_held_out_count_that_leaves_nothing_to_fit_or_nothing_to_check_is_named(held_out):
    with pytest.raises(ValueError, match=f"held_out must be an integer from 1 to 3 .*got {held_out!r}"):
        prediction.split_largest(sweep(np.array([10.0, 20.0, 30.0, 40.0])), "n_params", held_out)


def test_a_law_that_holds_predicts_its_held_out_point_inside_both_intervals_and_the_measurement_interval_is_wider():
    table = sweep(np.geomspace(2e4, 2e6, 9), seeds=3, noise=0.02)
    fitted, held = prediction.split_largest(table, "n_params")
    check = prediction.HeldOutCheck.prepare("model_size", fitted, held[["n_params", "data_size"]], n_bootstrap=400)
    (row,) = check.predictions.to_dict("records")
    assert row["runs"] == 3
    assert row["predicted"] == pytest.approx(laws.model_size_law(2e6, **TRUE), rel=0.03)
    assert row["interval low"] <= row["band low"] <= row["predicted"] <= row["band high"] <= row["interval high"]
    (result,) = check.verify(held).to_dict("records")
    assert result["inside"] and result["observed"] == pytest.approx(np.exp(np.log(held.ce).mean()))
    assert result["error / interval width"] == pytest.approx(abs(result["observed"] - result["predicted"])
                                                             / (result["interval high"] - result["interval low"]))
    everything = np.concatenate([fitted.ce, held.ce])
    assert result["interval width / CE range"] == pytest.approx(
        (result["interval high"] - result["interval low"]) / (everything.max() - everything.min()))


def test_over_many_studies_the_prediction_interval_covers_the_held_out_measurement_near_its_level():
    covered = []
    for study in range(60):
        table = sweep(np.geomspace(2e4, 2e6, 9), seeds=1, noise=0.02, seed=100 + study)
        fitted, held = prediction.split_largest(table, "n_params")
        check = prediction.HeldOutCheck.prepare("model_size", fitted, held, n_bootstrap=200, seed=study,
                                                cross_check=False)
        covered.append(bool(check.verify(held).inside.iloc[0]))
    assert 0.85 <= np.mean(covered) <= 1.0


def test_a_law_that_breaks_beyond_the_fitted_range_is_caught():
    table = sweep(np.geomspace(2e4, 2e6, 9), noise=0.005)
    table.loc[table.n_params == table.n_params.max(), "ce"] *= 1.5  # the largest model does far worse than the law
    fitted, held = prediction.split_largest(table, "n_params")
    results = prediction.HeldOutCheck.prepare("model_size", fitted, held, n_bootstrap=200).verify(held)
    assert not results.inside.iloc[0]
    assert "0 of 1 held-out point(s) inside" in prediction.verdict(results)


@pytest.mark.bad_input
def test_verifying_before_the_held_out_runs_exist_names_the_missing_point():
    table = sweep(np.geomspace(2e4, 2e6, 6))
    fitted, held = prediction.split_largest(table, "n_params")
    check = prediction.HeldOutCheck.prepare("model_size", fitted, held, n_bootstrap=50)
    with pytest.raises(ValueError, match="no measured run at held-out point"):
        check.verify(held.iloc[0:0])


def test_planned_runs_count_n_before_training_as_the_runs_will():
    train = CPU_PRESET
    configs = [RunConfig("L1_H16", 64, train, EvalConfig()), RunConfig("L1_H32", 64, train, EvalConfig(), embedding_dim=8)]
    planned = prediction.planned_runs(configs)
    assert planned.n_params.tolist() == [16_608, 39_104 - 32 * 768 - 768 + 32 * 8 + 8]
    assert planned["index"].tolist() == [0, 1] and planned.embedding_dim.tolist() == [768, 8]


@pytest.mark.bad_input
@pytest.mark.parametrize("at, runs, level, message", [
    ({"n_params": [1e6, -1.0]}, None, None, "`at` must give every one of \\['n_params'\\] as positive values"),
    ({"data_size": [1e6]}, None, None, "need values of \\['n_params'\\]; missing \\['n_params'\\]"),
    ({"n_params": [1e6, 2e6]}, [1], None, "`runs` must be one positive integer per point \\(2\\); got \\[1\\]"),
    ({"n_params": 1e6}, [0], None, "`runs` must be one positive integer per point \\(1\\); got \\[0\\]"),
    ({"n_params": 1e6}, None, 0.0, "level must lie in \\(0, 1\\); got 0.0"),
])
def test_predictions_at_bad_points_are_refused_naming_the_argument(at, runs, level, message):
    table = sweep(np.geomspace(2e4, 2e6, 6))
    fit = prediction.HeldOutCheck.prepare("model_size", *prediction.split_largest(table, "n_params"), n_bootstrap=20).fit
    with pytest.raises(ValueError, match=message):
        prediction.predict(fit, at, runs=runs, level=level)


def test_a_single_value_is_predicted_as_one_point():
    table = sweep(np.geomspace(2e4, 2e6, 6))
    fit = prediction.HeldOutCheck.prepare("model_size", *prediction.split_largest(table, "n_params"), n_bootstrap=20).fit
    assert prediction.predict(fit, {"n_params": 2e6}).n_params.tolist() == [2e6]
