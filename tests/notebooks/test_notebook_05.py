"""Notebook 05 runs end to end on tiny sweep tables and stores fits the next notebook can read."""

from __future__ import annotations

import json

import nbformat
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from drscale.fit import laws
from drscale.plots import FIGURE_DPI
from drscale.suite import run_notebook

pytestmark = pytest.mark.notebook

TRUE = {"a": 5e5, "b": 1e3, "alpha": 0.5, "beta": 0.8, "delta": 0.5}


def write_sweep(path, n_params: np.ndarray, data_size: np.ndarray, seed: int) -> None:
    """A sweep table in the sweep notebooks' format, losses from the joint law with 2% noise."""
    ce = laws.joint_law(n_params, data_size, **TRUE) * np.exp(np.random.default_rng(seed).normal(0, 0.02, n_params.size))
    pd.DataFrame({"run_id": [f"r{i}" for i in range(ce.size)], "model": [f"m{int(n)}" for n in n_params],
                  "n_params": n_params, "data_size": data_size, "seed": np.arange(ce.size) % 2, "ce": ce}
                 ).to_csv(path, index=False)


def write_one_variable_sweeps(results):
    """The model-size and data-size tables, 6 sizes x 2 seeds each, in `results` (created)."""
    results.mkdir(parents=True)
    sizes = np.repeat(np.geomspace(2e4, 2e7, 6), 2)
    write_sweep(results / "model_size.csv", sizes, np.full(sizes.size, 1e9), seed=1)
    pairs = np.repeat(np.geomspace(1e2, 1e5, 6), 2)
    write_sweep(results / "data_size.csv", np.full(pairs.size, 1e12), pairs, seed=2)
    return results


def test_notebook_fits_the_sweeps_and_saves_figures(tmp_path) -> None:
    results = write_one_variable_sweeps(tmp_path / "data" / "results")
    n, d = (g.ravel() for g in np.meshgrid(np.geomspace(2e4, 2e7, 3), np.geomspace(1e2, 1e5, 3)))
    write_sweep(results / "joint.csv", n, d, seed=3)
    figures = tmp_path / "figures"

    executed = run_notebook("05_fit_scaling_laws", {"data_dir": str(tmp_path / "data"), "figures_dir": str(figures),
                                                     "n_bootstrap": 50, "n_bootstrap_joint": 20, "seed": 0},
                            output_dir=tmp_path / "executed")

    fits = json.loads((results / "fits.json").read_text())
    assert sorted(fits) == ["data_size", "joint", "model_size"]
    # with N and D this large the other variable's term is negligible: each sweep sees its 1-D law
    assert fits["model_size"]["params"]["alpha"] == pytest.approx(0.5, rel=0.1)
    assert fits["data_size"]["params"]["beta"] == pytest.approx(0.8, rel=0.1)
    assert fits["joint"]["params"]["beta"] == pytest.approx(0.8, rel=0.2)
    assert len(fits["joint"]["bootstrap"]["alpha"]) == 20  # n_bootstrap_joint
    lo, hi = fits["model_size"]["intervals"]["alpha"]
    assert lo <= fits["model_size"]["params"]["alpha"] <= hi
    for name in ("fit_model_size.png", "fit_data_size.png", "fit_joint.png", "fit_model_size_bootstrap.png"):
        assert (figures / name).stat().st_size > 10_000, name
        assert Image.open(figures / name).info["dpi"][0] == pytest.approx(FIGURE_DPI, abs=0.5), name  # plots.save_figure
    echoed = [output.get("data", {}).get("text/plain", "") for cell in nbformat.read(executed, as_version=4).cells
              for output in cell.get("outputs", [])]
    assert not any("PosixPath" in text for text in echoed)


DIM_TRUE = {"a": 2e3, "c": 8.0, "alpha": 0.4, "gamma": 0.7, "delta": 1.0}


def test_notebook_fits_the_embedding_dimension_laws_when_notebook_10_has_run(tmp_path) -> None:
    results = write_one_variable_sweeps(tmp_path / "data" / "results")
    encoder, dims = (g.ravel() for g in np.meshgrid([4e3, 1.4e4, 5e4], [2, 4, 8, 16, 32, 64]))
    ce = laws.joint_dim_law(encoder, dims, **DIM_TRUE) * np.exp(np.random.default_rng(4).normal(0, 0.01, dims.size))
    pd.DataFrame({"run_id": [f"d{i}" for i in range(ce.size)], "model": [f"m{int(n)}" for n in encoder],
                  "n_params": encoder + 769 * dims, "encoder_params": encoder, "embedding_dim": dims,
                  "data_size": 1000, "seed": 521, "ce": ce}).to_csv(results / "embedding_dim.csv", index=False)
    figures = tmp_path / "figures"
    run_notebook("05_fit_scaling_laws", {"data_dir": str(tmp_path / "data"), "figures_dir": str(figures),
                                          "n_bootstrap": 50, "n_bootstrap_joint": 10}, output_dir=tmp_path / "executed")
    fits = json.loads((results / "fits.json").read_text())
    assert sorted(fits) == ["data_size", "embedding_dim", "joint_dim", "model_size"]
    assert fits["embedding_dim"]["variables"]["embedding_dim"] == [2, 4, 8, 16, 32, 64]  # the largest model's runs
    assert fits["embedding_dim"]["params"]["gamma"] == pytest.approx(0.7, rel=0.15)
    assert fits["joint_dim"]["params"]["gamma"] == pytest.approx(0.7, rel=0.15)
    assert fits["joint_dim"]["params"]["alpha"] == pytest.approx(0.4, rel=0.25)
    for name in ("fit_embedding_dim.png", "fit_joint_dim.png"):
        assert (figures / name).stat().st_size > 10_000, name


def test_notebook_without_sweeps_says_which_notebook_to_run(tmp_path) -> None:
    from papermill.exceptions import PapermillExecutionError

    with pytest.raises(PapermillExecutionError, match="02_model_size_sweep.ipynb first"):
        run_notebook("05_fit_scaling_laws", {"data_dir": str(tmp_path), "figures_dir": str(tmp_path / "figures"),
                                              "n_bootstrap": 10}, output_dir=tmp_path / "executed")


def test_notebook_refuses_laws_from_tables_of_different_data(tmp_path) -> None:
    """The model-size and data-size laws are used together (notebook 06): tables of two data
    sets must not be fitted as one study."""
    from papermill.exceptions import PapermillExecutionError

    results = write_one_variable_sweeps(tmp_path / "data" / "results")
    for name, fingerprint in (("model_size", "0123456789abcdef"), ("data_size", "fedcba9876543210")):
        table = pd.read_csv(results / f"{name}.csv")
        table["data_fingerprint"], table["evaluation"] = fingerprint, "W256 R10 pool4096 seed1"
        table.to_csv(results / f"{name}.csv", index=False)
    with pytest.raises(PapermillExecutionError, match=r"tables fitted together"):
        run_notebook("05_fit_scaling_laws", {"data_dir": str(tmp_path / "data"), "figures_dir": str(tmp_path / "figures"),
                                              "n_bootstrap": 10}, output_dir=tmp_path / "executed")


def test_notebook_paths_do_not_depend_on_the_working_directory(tmp_path) -> None:
    """Run from an unrelated working directory with an absolute data_dir (figures_dir left at
    its default), then re-run the executed copy from where the suite keeps it, the study's
    executed/: both read the study's tables and write its fits and figures, and nothing lands
    in the working directory."""
    import papermill

    from drscale.study import Study
    from drscale.suite import notebook_path

    study = Study(tmp_path / "study" / "data")
    write_one_variable_sweeps(study.results)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    study.executed.mkdir(parents=True)
    executed = study.executed / "05_fit_scaling_laws.ipynb"
    outputs = [study.fits, study.figure("fit_model_size"), study.figure("fit_data_size")]
    assert study.figures == study.root / "figures"

    papermill.execute_notebook(str(notebook_path("05_fit_scaling_laws")), str(executed), kernel_name="python3",
                               parameters={"data_dir": str(study.root), "n_bootstrap": 10}, cwd=str(elsewhere),
                               progress_bar=False)
    assert all(path.exists() for path in outputs) and not any(elsewhere.iterdir())

    for path in outputs:
        path.unlink()
    papermill.execute_notebook(str(executed), str(elsewhere / "rerun.ipynb"), kernel_name="python3",
                               cwd=str(study.executed), progress_bar=False)
    assert all(path.exists() for path in outputs)
    assert sorted(p.name for p in elsewhere.iterdir()) == ["rerun.ipynb"]
