"""Runs that share a setting (several seeds) are one point of a law: fitted at their mean, resampled together."""

import numpy as np
import pandas as pd
import pytest

from drscale.fit import estimate as fit
from drscale.fit import laws
from drscale.fit.points import Points

TRUE = {"a": 5e5, "alpha": 0.5, "delta": 1.0}
SIZES = np.geomspace(2e4, 2e6, 8)


def seeded_study(seeds: int, seed_noise: float, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    n = np.repeat(SIZES, seeds)
    clean = laws.model_size_law(n, **TRUE)
    return n, clean * np.exp(np.random.default_rng(seed).normal(0.0, seed_noise, n.size))


def test_points_group_runs_in_ascending_order_with_geometric_means():
    n = np.array([30.0, 10.0, 30.0, 20.0, 10.0])
    ce = np.array([2.0, 4.0, 8.0, 3.0, 1.0])
    points = Points.of({"n_params": n})
    assert points.x["n_params"].tolist() == [10.0, 20.0, 30.0]
    assert points.counts.tolist() == [2, 1, 2]
    assert points.mean_ce(ce) == pytest.approx([2.0, 3.0, 4.0])


@pytest.mark.parametrize("resample", ["points", "points+seeds"])
def test_a_fit_and_its_intervals_do_not_depend_on_the_order_of_the_runs(resample):
    n, ce = seeded_study(seeds=3, seed_noise=0.03)
    order = np.random.default_rng(0).permutation(n.size)
    as_listed, shuffled = (fit.fit_model_size(n[rows], ce[rows], n_bootstrap=100, resample=resample, cross_check=False)
                           for rows in (np.arange(n.size), order))
    # equal up to the rounding of sums taken in another order
    assert shuffled.params == pytest.approx(as_listed.params, rel=1e-6)
    np.testing.assert_allclose(pd.DataFrame(shuffled.intervals()), pd.DataFrame(as_listed.intervals()), rtol=1e-6)


def test_the_estimate_of_seeded_runs_is_the_fit_of_their_point_means():
    n, ce = seeded_study(seeds=3, seed_noise=0.03)
    points = Points.of({"n_params": n})
    of_runs = fit.fit_model_size(n, ce, n_bootstrap=50, cross_check=False)
    of_means = fit.fit_model_size(points.x["n_params"], points.mean_ce(ce), n_bootstrap=50, cross_check=False)
    assert of_runs.params == pytest.approx(of_means.params, rel=1e-9)
    assert of_runs.ce.size == 24  # the result keeps every run for figures


def test_with_one_run_per_point_both_resamplings_are_the_plain_bootstrap_of_runs():
    n, ce = seeded_study(seeds=1, seed_noise=0.03)
    plain = fit.fit_model_size(n, ce, n_bootstrap=200, cross_check=False)
    two_stage = fit.fit_model_size(n, ce, n_bootstrap=200, cross_check=False, resample="points+seeds")
    assert plain.bootstrap.equals(two_stage.bootstrap)


def test_seed_noise_widens_the_interval_and_resampling_seeds_too_widens_it_further():
    n, quiet = seeded_study(seeds=3, seed_noise=0.005)
    _, loud = seeded_study(seeds=3, seed_noise=0.05)

    def width(ce: np.ndarray, how: str) -> float:
        lo, hi = fit.fit_model_size(n, ce, n_bootstrap=400, cross_check=False, resample=how).intervals()["alpha"]
        return hi - lo

    assert width(loud, "points") > 3 * width(quiet, "points")
    assert width(loud, "points+seeds") > 1.1 * width(loud, "points")


def test_a_two_stage_resample_draws_seeds_only_from_the_drawn_point():
    points = Points.of({"n_params": np.array([1.0, 1.0, 2.0, 2.0])})
    ce = np.array([1.0, 2.0, 10.0, 20.0])
    drawn, resampled = points.resample(ce, 500, seed=3, how="points+seeds")
    low = resampled[drawn == 0]
    high = resampled[drawn == 1]
    assert set(np.round(low, 6)) == {1.0, np.round(np.sqrt(2.0), 6), 2.0}
    assert set(np.round(high, 6)) == {10.0, np.round(np.sqrt(200.0), 6), 20.0}


@pytest.mark.bad_input
def test_seeds_do_not_count_as_points_and_an_unknown_resampling_is_named():
    n = np.repeat(SIZES[:3], 3)
    ce = laws.model_size_law(n, **TRUE)
    with pytest.raises(ValueError, match=r"ce has 3 points \(distinct settings\); the model_size law has 3 parameters"):
        fit.fit_model_size(n, ce)
    n, ce = seeded_study(seeds=2, seed_noise=0.01)
    with pytest.raises(ValueError, match=r"resample='seeds' is unknown; choose one of \('points', 'points\+seeds'\)"):
        fit.fit_model_size(n, ce, resample="seeds")


def test_fit_each_fits_every_group_and_names_the_ones_too_small_to_fit():
    n, ce = seeded_study(seeds=1, seed_noise=0.01)
    runs = pd.DataFrame({"n_params": np.concatenate([n, n[:3]]), "ce": np.concatenate([ce, ce[:3]]),
                         "family": ["big"] * n.size + ["small"] * 3})
    fits, skipped = fit.fit_each("model_size", runs, "family", n_bootstrap=20, cross_check=False)
    assert list(fits) == ["big"] and fits["big"].ce.size == n.size
    assert skipped == ["family small: not fitted (ce has 3 points (distinct settings); the model_size law has 3 "
                       "parameters, so it needs at least 4)"]
