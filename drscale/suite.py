"""Run the notebook suite headless through papermill, in order, and keep the executed copies.

`python -m drscale suite` is the project's demo: every notebook runs on its default
(embedded) parameters. Tests call `run_notebook` with tiny parameters. Papermill only logs
unknown parameter names, so `run_notebook` checks them against the `parameters` cell first.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import papermill

from drscale.common.progress import headless_kernels
from drscale.study import PROJECT_ROOT, Study

NOTEBOOK_DIR = PROJECT_ROOT / "notebooks"

NOTEBOOKS = (
    "01_prepare_data",
    "02_model_size_sweep",
    "03_data_size_sweep",
    "05_fit_scaling_laws",
    "06_budget_allocation",
    "07_annotation_quality",
    "08_metric_agreement",
    "11_predict_then_verify",
)
"""The demo suite, in the order the data flows: each notebook reads what earlier ones wrote."""

FULL_REPLICATES = 3
"""Seeds per point in `make full`: enough for a spread and a two-stage resample, three times the training."""

FULL_NOTEBOOKS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("02_model_size_sweep", {"replicates": FULL_REPLICATES}),
    ("03_data_size_sweep", {"replicates": FULL_REPLICATES}),
    ("10_embedding_dim_sweep", {}),
    ("05_fit_scaling_laws", {}),
    ("06_budget_allocation", {}),
    ("11_predict_then_verify", {"replicates": FULL_REPLICATES}),
)
"""Beyond the demo (`python -m drscale suite --full`, after it): every point of both sweeps with
three seeds, the embedding-dimension sweep, and the fits, budgets and predict-then-verify check
again on them. The demo's runs are replicate 0, so only the new runs train."""

REGIME_NOTEBOOKS = ("09_training_regime",)
"""The comparison of training regimes on dev behind the demo's regime: about 60 runs, 40
minutes on two cores, so a step of its own (`python -m drscale suite --regime`)."""

JOINT_NOTEBOOKS = ("04_joint_sweep", "05_fit_scaling_laws", "06_budget_allocation")
"""The joint (N, D) grid and the fits and budgets that use it: about three minutes more on
two cores, so a step of its own (`python -m drscale suite --joint`) after the demo."""


def notebook_names() -> list[str]:
    """Every notebook there is to run, by name."""
    return sorted(p.stem for p in NOTEBOOK_DIR.glob("*.ipynb"))


def notebook_path(name: str) -> Path:
    """Path of a suite notebook given its name without extension."""
    path = NOTEBOOK_DIR / f"{name}.ipynb"
    if not path.exists():
        raise FileNotFoundError(f"no notebook {name!r}: {path} does not exist")
    return path


def run_notebook(
    name: str,
    parameters: Mapping[str, Any] | None = None,
    output_dir: str | Path | None = None,
    cell_timeout_s: int = 1800,
) -> Path:
    """Execute one notebook with `parameters`; returns the executed copy's path.

    The kernel is the running interpreter's own (`python3` kernelspec from this environment),
    and the working directory is `notebooks/`, as in JupyterLab, so relative paths agree. The
    kernel shows progress as plain lines, not widgets no one sees (`drscale.common.progress`).
    """
    source = notebook_path(name)
    parameters = dict(parameters or {})
    declared = papermill.inspect_notebook(str(source))
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        raise ValueError(f"{source.name}: unknown parameter(s) {unknown}; declared: {sorted(declared)}")
    for name, value in parameters.items():
        _check_type(source.name, name, value, declared[name]["default"])
    output_dir = Path(output_dir) if output_dir is not None else Study().executed
    output_dir.mkdir(parents=True, exist_ok=True)
    target = output_dir / source.name
    with headless_kernels():
        papermill.execute_notebook(
            str(source),
            str(target),
            parameters=parameters,
            kernel_name="python3",
            cwd=str(NOTEBOOK_DIR),
            execution_timeout=cell_timeout_s,
            progress_bar=False,
            # the kernel's own log (its TCP transport warning, "KeyboardInterrupt caught" at shutdown)
            # is noise in a headless run; errors still reach the log, and cell errors fail the run
            extra_arguments=["--IPKernelApp.log_level=ERROR"],
        )
    return target


def _check_type(notebook: str, name: str, value: Any, default_source: str) -> None:
    """Refuse a value whose type does not match the parameter's literal default.

    A default of None accepts anything (the notebook validates it); ints are accepted where
    the default is a float; a bool is never taken for a number.
    """
    try:
        default = ast.literal_eval(default_source)
    except (ValueError, SyntaxError):
        return  # a computed default: nothing to compare with
    if default is None or value is None:
        return
    expected = (int, float) if isinstance(default, float) else (type(default),)
    is_bool_mismatch = isinstance(value, bool) != isinstance(default, bool)
    if is_bool_mismatch or not isinstance(value, expected):
        raise ValueError(
            f"{notebook}: parameter {name!r} expects {type(default).__name__} like its default {default_source}; "
            f"got {type(value).__name__} {value!r}"
        )
