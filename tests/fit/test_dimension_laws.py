"""The embedding-dimension laws: planted parameters are recovered, intervals cover them, fits survive JSON."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from drscale.fit import estimate as fit
from drscale.fit import laws

NOISE = 0.02  # log-normal noise: 2% of L, about the seed-to-seed spread of a sweep
DIMS = 2.0 ** np.arange(3, 12)  # 8 ... 2048: 2.4 decades of embedding dimension
DIM_TRUE = {"c": 40.0, "gamma": 0.6, "delta": 1.5}
JOINT_DIM_TRUE = {"a": 2e5, "c": 60.0, "alpha": 0.4, "gamma": 0.7, "delta": 1.2}


def noisy(clean: np.ndarray, seed: int) -> np.ndarray:
    return clean * np.exp(np.random.default_rng(seed).normal(0.0, NOISE, clean.size))


def dimension_study(seed: int = 11) -> tuple[np.ndarray, np.ndarray]:
    """9 embedding dimensions, 3 seeds each, one encoder."""
    d = np.repeat(DIMS, 3)
    return d, noisy(laws.embedding_dim_law(d, **DIM_TRUE), seed)


def joint_dim_study(seed: int = 12) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """5 encoder sizes over 3 decades x 5 embedding dimensions, 2 seeds each."""
    n, d = (g.ravel() for g in np.meshgrid(np.geomspace(1e4, 1e7, 5), DIMS[::2]))
    n, d = np.tile(n, 2), np.tile(d, 2)
    return n, d, noisy(laws.joint_dim_law(n, d, **JOINT_DIM_TRUE), seed)


@pytest.fixture(scope="module")
def joint_dim_fit() -> fit.FitResult:
    n, d, ce = joint_dim_study()
    return fit.fit_law("joint_dim", {"encoder_params": n, "embedding_dim": d}, ce, n_bootstrap=60)


def test_registry_holds_both_laws_with_gamma_an_exponent() -> None:
    assert laws.get("embedding_dim").variables == ("embedding_dim",)
    assert laws.get("embedding_dim").exponents == ("gamma",)
    joint = laws.get("joint_dim")
    assert joint.variables == ("encoder_params", "embedding_dim")
    assert joint.params == ("a", "c", "alpha", "gamma", "delta") and joint.exponents == ("alpha", "gamma")


def test_log_space_forms_match_the_laws() -> None:
    n, d = np.geomspace(1e4, 1e8, 7), np.geomspace(8, 4096, 7)
    p = JOINT_DIM_TRUE
    logs = {k: np.log(p[k]) for k in ("a", "c", "delta")}
    assert np.exp(laws.log_embedding_dim_law(d, logs["c"], p["gamma"], logs["delta"])) == pytest.approx(
        laws.embedding_dim_law(d, p["c"], p["gamma"], p["delta"]))
    assert np.exp(laws.log_joint_dim_law(n, d, logs["a"], logs["c"], p["alpha"], p["gamma"], logs["delta"])) == \
        pytest.approx(laws.joint_dim_law(n, d, **p))


def test_at_one_model_size_the_joint_dim_law_is_the_embedding_dim_law_with_a_higher_floor() -> None:
    p, n, d = JOINT_DIM_TRUE, 3e5, np.geomspace(8, 4096, 7)
    floor = p["delta"] + (p["a"] / n) ** p["alpha"]
    np.testing.assert_allclose(laws.joint_dim_law(n, d, **p),
                               laws.embedding_dim_law(d, p["c"], p["gamma"], floor), rtol=1e-12)


@pytest.mark.parametrize("method", ["varpro", "lmfit"])
def test_embedding_dim_fit_recovers_planted_parameters(method: str) -> None:
    d, ce = dimension_study()
    result = fit.fit_law("embedding_dim", {"embedding_dim": d}, ce, method=method, n_bootstrap=300)
    assert result.method == method and result.converged
    assert result.params["gamma"] == pytest.approx(DIM_TRUE["gamma"], rel=0.1)
    assert result.params["delta"] == pytest.approx(DIM_TRUE["delta"], rel=0.05)
    assert result.params["c"] == pytest.approx(DIM_TRUE["c"], rel=0.25)
    lo, hi = result.intervals()["gamma"]
    assert lo <= DIM_TRUE["gamma"] <= hi
    assert result.route_check.agree and result.r2["log"] > 0.98


def test_embedding_dim_fit_without_noise_is_exact() -> None:
    clean = laws.embedding_dim_law(DIMS, **DIM_TRUE)
    for method in ("varpro", "lmfit"):
        params = fit.fit_law("embedding_dim", {"embedding_dim": DIMS}, clean, method=method, n_bootstrap=10).params
        assert params == pytest.approx(DIM_TRUE, rel=1e-3)


def test_joint_dim_fit_recovers_planted_parameters(joint_dim_fit: fit.FitResult) -> None:
    result = joint_dim_fit
    assert result.method == "lmfit" and result.converged
    assert result.params["alpha"] == pytest.approx(JOINT_DIM_TRUE["alpha"], rel=0.15)
    assert result.params["gamma"] == pytest.approx(JOINT_DIM_TRUE["gamma"], rel=0.15)
    assert result.params["delta"] == pytest.approx(JOINT_DIM_TRUE["delta"], rel=0.1)
    assert result.params["c"] == pytest.approx(JOINT_DIM_TRUE["c"], rel=0.3)
    assert result.params["a"] == pytest.approx(JOINT_DIM_TRUE["a"], rel=0.5)
    intervals = result.intervals()
    for exponent in ("alpha", "gamma"):
        lo, hi = intervals[exponent]
        assert lo <= JOINT_DIM_TRUE[exponent] <= hi, f"{exponent}: true value outside [{lo}, {hi}]"
    assert result.r2["log"] > 0.98


def test_joint_dim_band_brackets_the_fit_and_the_extrapolation_check_holds_out_the_largest_encoder(
        joint_dim_fit: fit.FitResult) -> None:
    n, d = np.array([1e4, 1e6, 1e9]), np.array([16.0, 256.0, 256.0])
    lo, hi = joint_dim_fit.band(n, d)
    predicted = joint_dim_fit.predict(n, d)
    assert np.all(lo <= predicted) and np.all(predicted <= hi)
    assert (hi - lo)[2] > (hi - lo)[1]  # two decades beyond the largest encoder the band widens
    ex = joint_dim_fit.extrapolation
    assert ex.held_out == "encoder_params" and ex.held_out_value == pytest.approx(1e7)
    assert ex.max_abs_error < 0.1
    assert list(joint_dim_fit.correlations().columns) == ["log a", "log c", "alpha", "gamma", "log delta"]


def test_dimension_fits_survive_save_and_load(joint_dim_fit: fit.FitResult, tmp_path) -> None:
    d, ce = dimension_study()
    fits = {"embedding_dim": fit.fit_law("embedding_dim", {"embedding_dim": d}, ce, n_bootstrap=50),
            "joint_dim": joint_dim_fit}
    loaded = fit.load_fits(fit.save_fits(tmp_path / "fits.json", fits))
    assert sorted(loaded) == ["embedding_dim", "joint_dim"]
    for name, original in fits.items():
        assert loaded[name].params == original.params
        pd.testing.assert_frame_equal(loaded[name].bootstrap, original.bootstrap)
        assert loaded[name].intervals() == original.intervals()
        assert loaded[name].report() == original.report()
    np.testing.assert_allclose(loaded["joint_dim"].band([1e5], [128.0]), joint_dim_fit.band([1e5], [128.0]))
    np.testing.assert_allclose(loaded["embedding_dim"].band([100.0]), fits["embedding_dim"].band([100.0]))


def test_fit_runs_reads_the_dimension_columns_of_a_sweep_table() -> None:
    n, d, ce = joint_dim_study()
    table = pd.DataFrame({"run_id": [f"r{i}" for i in range(ce.size)], "encoder_params": n, "embedding_dim": d,
                          "ce": ce})
    result = fit.fit_runs("embedding_dim", table[table.encoder_params == 1e7], n_bootstrap=20)
    assert result.variables["embedding_dim"].tolist() == d[n == 1e7].tolist()


@pytest.mark.bad_input
def test_joint_dim_has_no_variable_projection_route() -> None:
    n, d, ce = joint_dim_study()
    with pytest.raises(ValueError, match="method='varpro' is not available for the joint_dim law"):
        fit.fit_law("joint_dim", {"encoder_params": n, "embedding_dim": d}, ce, method="varpro")
