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


def package_copy(folder: Path) -> Path:
    """A copy of the package's modules under `folder`, to break on purpose."""
    package = folder / "drscale"
    for source in (ROOT / "drscale").rglob("*.py"):
        target = package / source.relative_to(ROOT / "drscale")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source.read_text())
    return package


def test_a_stage_reaching_up_breaks_the_contract(tmp_path):
    """The contract can fail: a copy of the package whose data stage imports the sweep stage breaks it."""
    package = package_copy(tmp_path)
    corpus = package / "data" / "corpus.py"
    corpus.write_text(corpus.read_text() + "\nfrom drscale.sweep import runner  # noqa: E402\n")
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    check = "from importlinter.cli import lint_imports; raise SystemExit(lint_imports(no_cache=True, no_logo=True))"
    result = subprocess.run([sys.executable, "-c", check], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "drscale.data.corpus -> drscale.sweep.runner" in result.stdout


def pieces_table(readme: str) -> list[tuple[str, str]]:
    """(stage cell, modules cell) of each row of the README's "The pieces" table."""
    section = readme.split("## The pieces", 1)[1]
    rows = [line.split("|") for line in section.splitlines() if line.startswith("| `drscale/")]
    return [(cells[1], cells[2]) for cells in rows]


def missing_from_pieces(readme: str, package: Path) -> list[str]:
    """Modules of `package` the README's package table does not name: a top-level module by
    its path, a subpackage by its folder and each of its modules (a private folder as `_name/`)
    in the row's modules cell."""
    rows = pieces_table(readme)
    missing = [f"drscale/{source.name}" for source in sorted(package.glob("*.py")) if source.name != "__init__.py"
               and not any(f"`drscale/{source.name}`" in stage for stage, _ in rows)]
    for folder in sorted(p for p in package.iterdir() if (p / "__init__.py").exists()):
        modules = next((modules for stage, modules in rows if f"`drscale/{folder.name}/`" in stage), None)
        if modules is None:
            missing.append(f"drscale/{folder.name}/")
            continue
        labelled = f"`{folder.name}/`:"  # a row of several paths names each folder's modules after its label
        if labelled in modules:
            modules = modules.split(labelled, 1)[1].split(";")[0]
        parts = [p.stem for p in folder.glob("*.py") if p.name != "__init__.py"]
        parts += [f"{p.name}/" for p in folder.iterdir() if (p / "__init__.py").exists()]
        missing += [f"drscale/{folder.name}/{part}" for part in sorted(parts) if f"`{part}`" not in modules]
    return missing


def test_the_readmes_package_table_names_every_module():
    assert missing_from_pieces((ROOT / "README.md").read_text(), ROOT / "drscale") == []


def test_a_module_the_package_table_leaves_out_is_named(tmp_path):
    package = package_copy(tmp_path)
    (package / "fit" / "extra.py").touch()
    (package / "extra.py").touch()
    (package / "common" / "study.py").touch()  # named like the top-level study module, but not in common/'s list
    readme = (ROOT / "README.md").read_text()
    assert missing_from_pieces(readme, package) == ["drscale/extra.py", "drscale/common/study", "drscale/fit/extra"]
    assert missing_from_pieces(readme.replace("`drscale/report.py`, ", ""), ROOT / "drscale") == ["drscale/report.py"]
