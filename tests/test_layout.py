"""The package's layout holds: each stage imports only the stages before it (pyproject's import-linter contract)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parent.parent


def test_no_stage_imports_a_later_stage_and_nothing_imports_in_a_circle(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True) == 0, capsys.readouterr().out


def test_a_stage_reaching_up_breaks_the_contract(tmp_path):
    """The contract can fail: a copy of the package whose data stage imports the sweep stage breaks it."""
    package = tmp_path / "drscale"
    for source in (ROOT / "drscale").rglob("*.py"):
        target = package / source.relative_to(ROOT / "drscale")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source.read_text())
    corpus = package / "data" / "corpus.py"
    corpus.write_text(corpus.read_text() + "\nfrom drscale.sweep import runner  # noqa: E402\n")
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    check = "from importlinter.cli import lint_imports; raise SystemExit(lint_imports(no_cache=True, no_logo=True))"
    result = subprocess.run([sys.executable, "-c", check], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "drscale.data.corpus -> drscale.sweep.runner" in result.stdout
