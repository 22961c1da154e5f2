"""Notebook 06 run headless through papermill: the optimum table and both figures it stores."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pandas as pd
import pytest

from drscale import suite
from drscale.fit.result import save_fits
from drscale.study import Study
from budget.v1_fit import v1_fit


@pytest.mark.slow
@pytest.mark.notebook
def test_notebook_06_stores_optima_and_figures(tmp_path: Path, capfd) -> None:
    study = Study(tmp_path / "data", tmp_path / "figures")
    data_dir, figures_dir = study.root, study.figures
    save_fits(study.fits, {"joint": v1_fit(n_samples=50)})

    executed = suite.run_notebook(
        "06_budget_allocation",
        {
            "data_dir": str(data_dir),
            "figures_dir": str(figures_dir),
            "budget_usd": 1e5,
            "table_budgets_usd": [1e4, 1e6, 1e7],
            "include_inference": True,
        },
        output_dir=tmp_path / "executed",
        cell_timeout_s=120,
    )
    assert "without encryption" not in capfd.readouterr().err  # the kernel's log stays out of a headless run

    table = pd.read_csv(study.table("budget_optimum")).set_index(["budget_usd", "include_inference"])
    assert len(table) == 8
    for budget, inference, published_n in [(1e4, False, 8.6e9), (1e5, False, 2.1e11), (1e6, True, 2.1e6), (1e7, True, 2.2e7)]:
        row = table.loc[(budget, inference)]
        assert row["n_params"] == pytest.approx(published_n, rel=0.05)
        assert row["n_params_low"] < row["n_params"] < row["n_params_high"]
    for name in ("budget_contours.png", "budget_optimum.png"):
        assert (figures_dir / name).read_bytes()[:4] == b"\x89PNG"

    # the law defaults to the study's joint fit, named; the table prints as a table and flags extrapolation
    outputs = [output for cell in nbformat.read(executed, as_version=4).cells if cell.cell_type == "code"
               for output in cell.get("outputs", [])]
    text = "\n".join(str(output.get("text", "")) + "".join(map(str, output.get("data", {}).values()))
                     for output in outputs)
    assert "Law: Our fit (joint law of notebook 05)" in text
    assert "Styler" not in text and "PosixPath" not in text
    assert "-fold beyond the largest measured N (1e+09)" in text
