"""The command line: `python -m drscale` runs the notebook suite, one notebook with parameters,
or a sweep spec, writes the study's report, and lists the notebooks.

    python -m drscale suite                 the demo: every notebook on its defaults, then the report
    python -m drscale suite --joint         the joint grid, then the fits and budgets again
    python -m drscale suite --full          three seeds per point, the embedding-dimension sweep, all fits again
    python -m drscale notebook 03_data_size_sweep -p data_sizes "[256, 1024]"
    python -m drscale sweep spec.json       a sweep without Jupyter (a cluster, a GPU box)
    python -m drscale report                data/report.html from the notebooks executed so far
    python -m drscale notebooks             what there is to run

A user's mistake (a notebook that does not exist, a parameter it does not declare, a bad
spec) ends in one line naming it, not a traceback. So does a notebook that stops on an error
(the line names the cell and the executed copy that holds the traceback) and a sweep whose
runs raised (the store holds their tracebacks).
"""

from __future__ import annotations

import argparse
import ast
import sys
import time
from collections.abc import Sequence
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from papermill.exceptions import PapermillExecutionError

from drscale import report, suite
from drscale.data.prepare import load_prepared
from drscale.measure.config import EvalConfig
from drscale.model.encoder import MODEL_PRESETS, is_built_model
from drscale.study import Study
from drscale.sweep.executors import LocalBackend, RayBackend
from drscale.sweep.runner import RunsFailed
from drscale.sweep.spec import GRID_KEYS, TOP_KEYS, SweepSpec
from drscale.train import keep_freed_memory


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.command(args, parser)
    except (ValueError, OSError) as error:  # bad input, a missing or unwritable file: one line, no traceback
        parser.exit(2, f"{parser.prog} {args.name}: error: {error}\n")
    except (NotebookStopped, RunsFailed) as error:  # the traceback is kept where the message says
        parser.exit(1, f"{parser.prog} {args.name}: error: {error}\n")


class NotebookStopped(RuntimeError):
    """A notebook stopped on an error; its executed copy holds the traceback."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m drscale", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[3:10]))
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    run = commands.add_parser("suite", help="run the notebook suite headless (the demo)",
                              description=suite.__doc__.splitlines()[0])
    which = run.add_mutually_exclusive_group()
    which.add_argument("--joint", action="store_true", help="run the joint grid and refit (after the demo)")
    which.add_argument("--regime", action="store_true", help="compare the training regimes on dev (after notebook 01)")
    which.add_argument("--full", action="store_true",
                     help="seeds, the embedding-dimension sweep and every fit again (after the demo)")
    _notebook_options(run)
    run.set_defaults(command=_run_suite, name="suite")

    one = commands.add_parser("notebook", help="run one notebook, with parameters",
                              epilog=f"notebooks: {', '.join(suite.notebook_names())}")
    one.add_argument("notebook", metavar="NOTEBOOK", help="its name, e.g. 03_data_size_sweep")
    _notebook_options(one)
    one.set_defaults(command=_run_notebook, name="notebook")

    sweep = commands.add_parser("sweep", help="run a sweep spec without Jupyter", epilog=_spec_keys())
    sweep.add_argument("spec", help="sweep spec (.json, or .toml on Python 3.11+)")
    sweep.add_argument("--workers", type=_positive_int, default=None,
                       help="parallel runs (default: the spec's, else one per core)")
    sweep.add_argument("--ray", metavar="ADDRESS", nargs="?", const="local",
                       help="run on Ray: 'local', 'auto' or a cluster address")
    sweep.add_argument("--no-progress", action="store_true", help="no progress bars (for logs)")
    sweep.add_argument("--save-models", action="store_true",
                       help="keep every model trained under the study's checkpoints/ folder (as the spec's save_models)")
    sweep.set_defaults(command=_run_sweep, name="sweep")

    page = commands.add_parser("report", help="write the study's report: one HTML page of the executed notebooks, "
                                              "figures, fits, regime and versions", description=report.__doc__.splitlines()[0])
    page.add_argument("--data-dir", default=None,
                      help=f"the study's folder, whose fits, data and figures the report shows (default: {Study().root})")
    page.add_argument("--output-dir", default=None,
                      help="the folder of executed notebooks to read, and to write report.html into "
                           "(default: the study's executed/, and report.html in the study's folder)")
    page.set_defaults(command=_write_report, name="report")

    listing = commands.add_parser("notebooks", help="list the notebooks and what each suite runs")
    listing.set_defaults(command=_list_notebooks, name="notebooks")
    return parser


def _notebook_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="set a notebook parameter; VALUE is a Python literal (2e-3, None, [64, 256]) or else text")
    parser.add_argument("--output-dir", default=None,
                        help=f"where the executed copies go (default: the study's executed/, {Study().executed} "
                             f"unless -p data_dir names another study)")


def _run_suite(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.full:
        _run([name for name, _ in suite.FULL_NOTEBOOKS], args, dict(suite.FULL_NOTEBOOKS))
        return _write_report(args, parser)
    names = suite.JOINT_NOTEBOOKS if args.joint else suite.REGIME_NOTEBOOKS if args.regime else suite.NOTEBOOKS
    _run(names, args)
    return _write_report(args, parser)


def _write_report(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """The report of the study (--data-dir, or the suite's -p data_dir) from the notebooks in
    --output-dir, written there; by default the study's own."""
    study = _study(args)
    executed = Path(args.output_dir) if args.output_dir else None
    path = report.write_report(study, executed=executed, path=executed / report.REPORT_NAME if executed else None)
    print(f"[drscale] report -> {path}", flush=True)
    return 0


def _run_notebook(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.notebook not in suite.notebook_names():
        raise ValueError(f"no notebook {args.notebook!r}; choose from {', '.join(suite.notebook_names())}")
    return _run([args.notebook], args)


def _run(names: Sequence[str], args: argparse.Namespace, preset: dict[str, dict[str, Any]] | None = None) -> int:
    """Run `names` in order with the command line's parameters over each one's `preset` ones."""
    parameters = _parameters(args)
    output_dir = args.output_dir or _study(args).executed
    started = time.perf_counter()
    for name in names:
        start = time.perf_counter()
        print(f"[drscale] running {name} ...", flush=True)
        try:
            target = suite.run_notebook(name, {**(preset or {}).get(name, {}), **parameters}, output_dir=output_dir)
        except PapermillExecutionError as error:
            raise NotebookStopped(f"{name} stopped in cell {error.exec_count}: {error.ename}: {' '.join(error.evalue.split())} "
                                  f"(the traceback is in {Path(output_dir) / f'{name}.ipynb'})") from error
        print(f"[drscale] {name} done in {time.perf_counter() - start:.0f} s -> {target}", flush=True)
    if len(names) > 1:
        print(f"[drscale] suite done in {time.perf_counter() - started:.0f} s", flush=True)
    return 0


def _study(args: argparse.Namespace) -> Study:
    """The study the command works on: --data-dir (report) or -p data_dir and figures_dir (notebooks)."""
    given = _parameters(args)
    return Study(getattr(args, "data_dir", None) or given.get("data_dir"), given.get("figures_dir"))


STUDY_FOLDERS = ("data_dir", "figures_dir")
"""Parameters that always name a folder."""

INPUT_PATHS = ("path", "model", "models", "data_model", "generator")
"""Parameters that name a file or folder, or else something that is not one (a size or family
name, a hub id, a data set's name): a relative value is a path only where it exists."""


def _parameters(args: argparse.Namespace) -> dict[str, Any]:
    """The command's `-p` parameters as values (`_literal`), paths made the caller's (none for
    a command without -p, the report)."""
    return _caller_paths({name: _literal(value) for name, value in getattr(args, "parameter", [])})


def _caller_paths(parameters: dict[str, Any]) -> dict[str, Any]:
    """`parameters` with relative paths made absolute from the caller's working folder: a
    notebook runs in notebooks/, where the same relative path would name another folder.

    data_dir and figures_dir always; path, model(s), data_model and generator where the value
    (or a list's item) names an existing file or folder from the caller's folder and is not a
    model or family drscale knows by name, so "L1_H16", "minilm" and a hub id "owner/name" that
    is no folder here pass through unchanged. A leading ~ is the user's home in both."""
    def caller_path(value: Any) -> Any:
        if not isinstance(value, str) or not value or is_built_model(value) or value in MODEL_PRESETS:
            return value
        path = Path(value).expanduser()
        return str(path.resolve()) if path.exists() else value

    resolved = {}
    for name, value in parameters.items():
        if name in STUDY_FOLDERS and isinstance(value, str) and value:
            value = str(Path(value).expanduser().resolve())
        elif name in INPUT_PATHS:
            value = [caller_path(item) for item in value] if isinstance(value, (list, tuple)) else caller_path(value)
        resolved[name] = value
    return resolved


def _positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1 (argparse names the option when it is not)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1; got {text!r}")
    return value


def _literal(value: str) -> Any:
    """A command-line parameter value: a Python literal where it parses as one, else the text."""
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value


def _spec_keys() -> str:
    return (f"spec keys: {', '.join(sorted(TOP_KEYS))}; grid keys: {', '.join(sorted(GRID_KEYS))}; "
            f"train: any TrainConfig field; evaluation: {', '.join(f.name for f in fields(EvalConfig))}. "
            f"See drscale/sweep/spec.py for an example.")


def _run_sweep(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    keep_freed_memory()  # this process is drscale's own: in-process runs train faster, as pool workers do
    spec = SweepSpec.from_file(args.spec)
    if args.save_models:
        spec = replace(spec, save_models=True)
    data = load_prepared(spec.data_dir, spec.dataset)
    if args.ray:
        backend = RayBackend(address=None if args.ray == "local" else args.ray)
    else:
        backend = LocalBackend(workers=spec.workers if args.workers is None else args.workers)
    configs = spec.configs()
    table = spec.run(data, progress=not args.no_progress, backend=backend, configs=configs)
    print(table.to_string(index=False))
    failed = len(configs) - len(table)
    if failed:
        print(f"{parser.prog} {args.name}: {failed} of {len(configs)} runs failed (named above); "
              f"the store keeps them as failed, and running the spec again retries them", file=sys.stderr)
        return 1
    return 0


def _list_notebooks(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    suites = {"demo (suite)": suite.NOTEBOOKS, "suite --joint": suite.JOINT_NOTEBOOKS,
              "suite --regime": suite.REGIME_NOTEBOOKS, "suite --full": [name for name, _ in suite.FULL_NOTEBOOKS]}
    for name in suite.notebook_names():
        runs_in = [label for label, names in suites.items() if name in names]
        print(f"{name:28s} {', '.join(runs_in)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
