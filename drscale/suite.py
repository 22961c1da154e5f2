"""Run the notebook suite headless through papermill, in order, and keep the executed copies.

`python -m drscale.suite` is the project's demo: every notebook runs on its default
(embedded) parameters. Tests call `run_notebook` with tiny parameters. Papermill only logs
unknown parameter names, so `run_notebook` checks them against the `parameters` cell first.
"""

from __future__ import annotations

import argparse
import ast
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import papermill

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
EXECUTED_DIR = REPO_ROOT / "data" / "executed"

NOTEBOOKS = (
    "01_prepare_data",
    "02_model_size_sweep",
    "03_data_size_sweep",
    "05_fit_scaling_laws",
    "06_budget_allocation",
    "07_annotation_quality",
    "08_metric_agreement",
)
"""The demo suite, in the order the data flows: each notebook reads what earlier ones wrote."""

REGIME_NOTEBOOKS = ("09_training_regime",)
"""The comparison of training regimes on dev behind the demo's regime: about 90 runs, 40
minutes on two cores, so a step of its own (`python -m drscale.suite --regime`)."""

JOINT_NOTEBOOKS = ("04_joint_sweep", "05_fit_scaling_laws", "06_budget_allocation")
"""The joint (N, D) grid and the fits and budgets that use it: about three minutes more on
two cores, so a step of its own (`python -m drscale.suite --joint`) after the demo."""


def notebook_path(name: str) -> Path:
    """Path of a suite notebook given its name without extension."""
    path = NOTEBOOK_DIR / f"{name}.ipynb"
    if not path.exists():
        raise FileNotFoundError(f"no notebook {name!r}: {path} does not exist")
    return path


def run_notebook(
    name: str,
    parameters: Mapping[str, Any] | None = None,
    output_dir: str | Path = EXECUTED_DIR,
    cell_timeout_s: int = 1800,
) -> Path:
    """Execute one notebook with `parameters`; returns the executed copy's path.

    The kernel is the running interpreter's own (`python3` kernelspec from this environment),
    and the working directory is `notebooks/`, as in JupyterLab, so relative paths agree.
    """
    source = notebook_path(name)
    parameters = dict(parameters or {})
    declared = papermill.inspect_notebook(str(source))
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        raise ValueError(f"{source.name}: unknown parameter(s) {unknown}; declared: {sorted(declared)}")
    for name, value in parameters.items():
        _check_type(source.name, name, value, declared[name]["default"])
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    target = output_dir / source.name
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


def main(argv: list[str] | None = None) -> int:
    """Run the suite (or the named notebooks) on default parameters, or on `-p NAME VALUE`."""
    names_known = sorted(p.stem for p in NOTEBOOK_DIR.glob("*.ipynb"))
    parser = argparse.ArgumentParser(
        prog="python -m drscale.suite", description=__doc__.splitlines()[0],
        epilog=f"notebooks: {', '.join(names_known)}. Executed copies go to {EXECUTED_DIR}.",
    )
    parser.add_argument("notebooks", nargs="*", metavar="NOTEBOOK", help="names to run (default: the demo suite)")
    parser.add_argument("--joint", action="store_true", help="run the joint grid and refit (after the demo)")
    parser.add_argument("--regime", action="store_true", help="compare the training regimes on dev (after notebook 01)")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="set a notebook parameter; VALUE is a Python literal (2e-3, None, [64, 256]) or else text")
    parser.add_argument("--output-dir", default=str(EXECUTED_DIR), help="where the executed copies go")
    args = parser.parse_args(argv)
    unknown = [name for name in args.notebooks if name not in names_known]
    if unknown:
        parser.error(f"no notebook {', '.join(map(repr, unknown))}; choose from {', '.join(names_known)}")
    parameters = {name: _literal(value) for name, value in args.parameter}
    names = args.notebooks or list(JOINT_NOTEBOOKS if args.joint else REGIME_NOTEBOOKS if args.regime else NOTEBOOKS)
    suite_start = time.perf_counter()
    for name in names:
        start = time.perf_counter()
        print(f"[drscale] running {name} ...", flush=True)
        target = run_notebook(name, parameters, output_dir=args.output_dir)
        print(f"[drscale] {name} done in {time.perf_counter() - start:.0f} s -> {target}", flush=True)
    print(f"[drscale] suite done in {time.perf_counter() - suite_start:.0f} s", flush=True)
    return 0


def _literal(value: str) -> Any:
    """A command-line parameter value: a Python literal where it parses as one, else the text."""
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value


if __name__ == "__main__":
    sys.exit(main())
