"""Notebook 09 compares training regimes on dev, end to end, on a small corpus and four sizes of each sweep."""

from __future__ import annotations

import pandas as pd
import pytest

from drscale.data.prepare import load_prepared
from drscale.suite import run_notebook
from drscale.sweep.store import study_store

pytestmark = pytest.mark.notebook


def test_regime_notebook_searches_rates_scores_regimes_on_dev_and_draws_curves(tmp_path):
    dirs = {"data_dir": str(tmp_path / "data"), "figures_dir": str(tmp_path / "figures")}
    executed = tmp_path / "executed"
    run_notebook("01_prepare_data", {**dirs, "packages": [], "test_queries": 100, "dev_queries": 100}, output_dir=executed)
    params = {**dirs, "models": ["L1_H4", "L1_H8", "L1_H16", "L1_H32"], "data_sizes": [128, 256, 512, 1024], "data_model": "L1_H8",
              "rates": [1e-3, 3e-3], "regimes": ["fixed-200", "best-dev+lr"], "n_bootstrap": 50, "ce_pool_size": 256}
    run_notebook("09_training_regime", params, output_dir=executed)

    scores = pd.read_csv(tmp_path / "data" / "results" / "regimes.csv", index_col=[0, 1])
    assert sorted(scores.index.get_level_values(0).unique()) == ["dev", "test"]
    assert list(scores.loc["dev"].index) == ["fixed-200", "best-dev+lr"]
    for column in ("N falls", "D below chance", "N R2", "alpha 95%", "beta hi/lo", "train time (s)"):
        assert scores[column].notna().all(), column
    assert "D extrap. err" in scores  # NaN here: four sizes leave three to refit, too few for three parameters
    records = study_store(dirs["data_dir"]).records()
    n_train = load_prepared(dirs["data_dir"], "docstrings").n_train_pairs
    search = [r for r in records if r["data_size"] == n_train and r["config"]["train"]["selection"] == "best_dev"]
    assert sorted({r["config"]["train"]["learning_rate"] for r in search}) == [1e-3, 3e-3] and len(search) == 8
    assert all(r["dev_curve"] for r in records)
    assert (tmp_path / "figures" / "regime_curves_model_size.png").stat().st_size > 10_000
    assert (tmp_path / "figures" / "regime_curves_data_size.png").stat().st_size > 10_000
