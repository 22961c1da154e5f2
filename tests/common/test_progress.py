"""Progress shown to suit where it is seen: the mode each environment gets, and headless lines
that stay few however fast the updates come."""

import json
import os
import sys
from types import SimpleNamespace

import nbformat
import pytest

from drscale import suite
from drscale.common import progress
from drscale.common.progress import ENV, LineBar, headless_here, headless_kernels, mode, progress_bar

CHOOSING = (ENV, "CI", "JPY_SESSION_NAME", "VSCODE_PID")


@pytest.fixture
def plain(monkeypatch):
    """A plain interpreter, nothing chosen: no variable that decides the mode, no IPython, stderr a pipe."""
    for name in CHOOSING:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    monkeypatch.setattr(sys, "stderr", SimpleNamespace(isatty=lambda: False, write=sys.stderr.write, flush=lambda: None))
    return monkeypatch


def in_kernel(monkeypatch, kernel: bool = True):
    shell = SimpleNamespace(config={"IPKernelApp": {}} if kernel else {"TerminalInteractiveShell": {}})
    monkeypatch.setitem(sys.modules, "IPython", SimpleNamespace(get_ipython=lambda: shell))


def test_a_script_writing_to_a_pipe_or_a_log_gets_lines_and_a_terminal_gets_bars(plain):
    assert mode() == "lines"
    plain.setattr(sys, "stderr", SimpleNamespace(isatty=lambda: True))
    assert mode() == "terminal"
    in_kernel(plain, kernel=False)  # terminal IPython
    assert mode() == "terminal"


def test_a_kernel_with_a_front_end_gets_widgets_and_one_without_gets_lines(plain):
    in_kernel(plain)
    assert mode() == "lines"  # papermill, nbclient: no Jupyter server session
    plain.setenv("JPY_SESSION_NAME", "/home/me/notebooks/02_model_size_sweep.ipynb")
    assert mode() == "widgets"
    plain.setenv("CI", "true")
    assert mode() == "lines"


@pytest.mark.parametrize("chosen", ["widgets", "lines", "terminal", "off", " Lines "])
def test_the_variable_overrides_everything(plain, chosen):
    in_kernel(plain)
    plain.setenv("JPY_SESSION_NAME", "x.ipynb")
    plain.setenv("CI", "true")
    plain.setenv(ENV, chosen)
    assert mode() == chosen.strip().lower()


@pytest.mark.bad_input
def test_an_unknown_mode_is_refused_with_the_choices(plain):
    plain.setenv(ENV, "bars")
    with pytest.raises(ValueError, match=r"DRSCALE_PROGRESS must be one of \('widgets', 'lines', 'terminal', 'off'\); got 'bars'"):
        progress_bar(range(3))


def test_headless_kernels_and_workers_get_lines_unless_progress_is_off(plain):
    plain.setenv(ENV, "widgets")
    with headless_kernels():
        assert os.environ[ENV] == "lines"
    assert os.environ[ENV] == "widgets"
    plain.delenv(ENV)
    with headless_kernels():
        assert os.environ[ENV] == "lines"
    assert ENV not in os.environ
    plain.setenv(ENV, "off")
    with headless_kernels():
        assert os.environ[ENV] == "off"
    headless_here()
    assert mode() == "off"
    plain.delenv(ENV)
    headless_here()
    assert mode() == "lines"


def test_many_quick_updates_give_a_few_lines_and_a_final_one_with_the_total(monkeypatch, capsys):
    monkeypatch.setenv(ENV, "lines")
    with progress_bar(total=10_000, desc="runs") as bar:
        for _ in range(10_000):
            bar.update()
        bar.set_postfix(loss="0.123")
    assert sum(1 for _ in progress_bar(range(10_000), desc="steps")) == 10_000
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert out == "" and len(lines) <= 4, lines
    assert lines[0].startswith("runs: 0/10000")
    assert lines[1].startswith("runs: 10000/10000 [") and lines[1].endswith(", loss=0.123]")
    assert lines[-1].startswith("steps: 10000/10000 [")
    assert "\r" not in err


def test_a_line_every_interval_while_the_work_goes_on(monkeypatch, capsys):
    now = [0.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: now[0])
    bar = LineBar(total=5, desc="train", every_s=10)
    for now[0] in (4.0, 10.5, 12.0, 21.0, 22.0):
        bar.update()
    bar.close()
    bar.close()
    assert [line.split(" [")[0] for line in capsys.readouterr().err.splitlines()] == [
        "train: 0/5", "train: 2/5", "train: 4/5", "train: 5/5"]


def test_progress_off_prints_nothing(monkeypatch, capsys):
    monkeypatch.setenv(ENV, "lines")
    assert list(progress_bar(range(100), desc="off", enabled=False)) == list(range(100))
    monkeypatch.setenv(ENV, "off")
    with progress_bar(total=100, desc="off") as bar:
        for _ in range(100):
            bar.update()
            bar.set_postfix(loss=1.0)
    assert capsys.readouterr() == ("", "")


def test_a_terminal_bar_is_tqdms(monkeypatch):
    from tqdm.std import tqdm

    monkeypatch.setenv(ENV, "terminal")
    bar = progress_bar(range(3), desc="t", leave=False)
    assert isinstance(bar, tqdm) and not bar.disable
    bar.close()


@pytest.mark.slow
def test_kernels_the_suite_starts_show_lines(monkeypatch, tmp_path):
    """Through `run_notebook`'s own papermill call: the kernel sees lines even when the caller
    runs in a JupyterLab kernel (whose session variable every kernel it starts inherits)."""
    notebook = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    notebook.cells = [
        nbformat.v4.new_code_cell('out = ""', metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(
            "import json, pathlib\nfrom drscale.common.progress import mode, progress_bar\n"
            "for _ in progress_bar(range(500), desc='probe'):\n    pass\n"
            "pathlib.Path(out).write_text(json.dumps(mode()))"
        ),
    ]
    nbformat.write(notebook, tmp_path / "probe.ipynb")
    monkeypatch.setattr(suite, "NOTEBOOK_DIR", tmp_path)
    monkeypatch.setenv("JPY_SESSION_NAME", "/home/me/notebooks/caller.ipynb")
    monkeypatch.delenv(ENV, raising=False)
    executed = suite.run_notebook("probe", {"out": str(tmp_path / "mode.json")}, output_dir=tmp_path / "executed")
    assert json.loads((tmp_path / "mode.json").read_text()) == "lines"
    assert ENV not in os.environ
    outputs = [o for cell in nbformat.read(executed, 4).cells for o in cell.get("outputs", [])]
    text = "".join(o.get("text", "") for o in outputs if o.get("name") == "stderr")
    assert text.splitlines()[0].startswith("probe: 0/500") and text.splitlines()[-1].startswith("probe: 500/500")


@pytest.mark.slow
def test_pool_workers_report_each_run_by_name_in_lines(monkeypatch, capfd, tmp_path, small_data):
    from dataclasses import replace

    from drscale.measure.config import EvalConfig
    from drscale.sweep.config import model_size_grid
    from drscale.sweep.executors import LocalBackend
    from drscale.sweep.runner import run_sweep
    from drscale.train.config import CPU_PRESET

    monkeypatch.setenv(ENV, "terminal")  # what the parent shows; its workers still write lines
    train = replace(CPU_PRESET, eval_points=0, selection="last", epochs=None, steps=4, batch_size=8, negatives=16,
                    warmup_steps=1, passage_max_length=24, query_max_length=12)
    grid = model_size_grid(["L1_H16", "L1_H32"], 64, train, evaluation=EvalConfig(negatives=32, repeats=2, pool_size=128))
    run_sweep(grid, small_data, tmp_path / "results.jsonl", backend=LocalBackend(workers=2))
    err = capfd.readouterr().err
    lines = err.splitlines()
    for name in ("L1_H16", "L1_H32"):
        assert any(line.startswith(f"{name} D=64: 4/4 [") for line in lines), lines
    assert lines[-1].startswith("runs: 2/2 [") and "\r" not in err  # no terminal bar torn by the workers' lines
