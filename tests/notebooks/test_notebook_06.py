"""Notebook 06 run headless through papermill: the optimum tables and the figures it stores."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

from drscale import suite
from drscale.budget import dimension
from drscale.budget.index import IndexWorkload
from drscale.fit import laws
from drscale.fit.estimate import fit_law
from drscale.fit.result import FitResult, save_fits
from drscale.study import Study
from budget.v1_fit import v1_fit

PLANTED = {"a": 2e5, "c": 60.0, "alpha": 0.4, "gamma": 0.7, "delta": 1.2}


def run(study: Study, tmp_path: Path, **parameters: object) -> Path:
    """Notebook 06 on `study`, its N-D table at three budgets, and `parameters`; the executed copy."""
    return suite.run_notebook(
        "06_budget_allocation",
        {"data_dir": str(study.root), "figures_dir": str(study.figures), "budget_usd": 1e5,
         "table_budgets_usd": [1e4, 1e6, 1e7], "include_inference": True, **parameters},
        output_dir=tmp_path / "executed",
        cell_timeout_s=120,
    )


def outputs(executed: Path) -> list[dict]:
    return [output for cell in nbformat.read(executed, as_version=4).cells if cell.cell_type == "code"
            for output in cell.get("outputs", [])]


def printed(executed: Path) -> str:
    """Everything the executed notebook printed or displayed, as one text."""
    return "\n".join(str(output.get("text", "")) + "".join(map(str, output.get("data", {}).values()))
                     for output in outputs(executed))


def joint_dim_fit() -> FitResult:
    """The joint_dim law fitted to a 4 x 4 grid of runs (N 1e4..1e7, d 16..1024) scattered 1% about a planted law."""
    n, d = (g.ravel() for g in np.meshgrid(np.geomspace(1e4, 1e7, 4), [16.0, 64.0, 256.0, 1024.0]))
    ce = laws.joint_dim_law(n, d, **PLANTED) * np.exp(np.random.default_rng(0).normal(0, 0.01, n.size))
    return fit_law("joint_dim", {"encoder_params": n, "embedding_dim": d}, ce, n_bootstrap=20)


@pytest.mark.slow
@pytest.mark.notebook
def test_notebook_06_stores_optima_and_figures(tmp_path: Path, capfd) -> None:
    study = Study(tmp_path / "data", tmp_path / "figures")
    save_fits(study.fits, {"joint": v1_fit(n_samples=50)})

    executed = run(study, tmp_path)
    assert "without encryption" not in capfd.readouterr().err  # the kernel's log stays out of a headless run

    table = pd.read_csv(study.table("budget_optimum")).set_index(["budget_usd", "include_inference"])
    assert len(table) == 8
    for budget, inference, published_n in [(1e4, False, 8.6e9), (1e5, False, 2.1e11), (1e6, True, 2.1e6), (1e7, True, 2.2e7)]:
        row = table.loc[(budget, inference)]
        assert row["n_params"] == pytest.approx(published_n, rel=0.05)
        assert row["n_params_low"] < row["n_params"] < row["n_params_high"]
    for name in ("budget_contours.png", "budget_optimum.png"):
        assert (study.figures / name).read_bytes()[:4] == b"\x89PNG"

    # the law defaults to the study's joint fit, named; the table prints as a table and flags extrapolation
    text = printed(executed)
    assert "Law: Our fit (joint law of notebook 05)" in text
    assert "Styler" not in text and "PosixPath" not in text
    assert "-fold beyond the largest measured N (1e+09)" in text

    # without a joint_dim fit the embedding-dimension section says which notebooks write one, and stops there
    assert dimension.missing_law_note(study.root) in text
    assert not (study.figures / dimension.DimensionPanel.FIGURE).exists()


@pytest.mark.slow
@pytest.mark.notebook
def test_notebook_06_trades_encoder_size_against_embedding_dimension(tmp_path: Path) -> None:
    study = Study(tmp_path / "data", tmp_path / "figures")
    fit = joint_dim_fit()
    save_fits(study.fits, {"joint": v1_fit(n_samples=50), "joint_dim": fit})
    budgets = [1e3, 1e4, 3e4, 1e5]

    executed = run(study, tmp_path, dimension_budget_usd=3e4, dimension_table_budgets_usd=[1e5, 1e3, 1e4],
                   queries_served=1e9)

    assert (study.figures / dimension.DimensionPanel.FIGURE).read_bytes()[:4] == b"\x89PNG"
    assert "No joint_dim fit" not in printed(executed)
    (table,) = [output["data"]["text/plain"] for output in outputs(executed)
                if "storage share (%)" in output.get("data", {}).get("text/plain", "")]
    expected = dimension.optimal_dimension(fit, budgets, IndexWorkload(queries_served=1e9))
    for budget, n_star in zip(budgets, expected.encoder_params):
        # each budget's row, N* first with its interval: "30,000   2.1e+08 [1.9e+08, 2.3e+08] ..."
        match = re.search(rf"^{budget:,.0f}\s+(\S+) \[(\S+), (\S+)\]", table, re.MULTILINE)
        assert match, table
        low, high = float(match.group(2)), float(match.group(3))
        assert float(match.group(1)) == pytest.approx(n_star, rel=0.01)
        assert low < n_star < high
