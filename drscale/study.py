"""A study's folders: the one place that knows where prepared data, runs, tables, fits,
annotations, checkpoints, figures and executed notebooks live.

Every stage and every notebook asks a `Study` for its paths instead of joining folder names
itself, so the layout can change in one place and a notebook finds its inputs from any
working directory. A study is only a layout: it reads and writes nothing.

    data/                      Study.root
      prepared/<name>/           prepared data sets (drscale.data.prepare)
      runs/results.jsonl         the results store every sweep appends to
      runs/pretrained/           pre-trained starts, shared by the runs of one size
      results/<table>.csv        sweep tables, fits.json, study tables
      annotations/               generated-query caches
      checkpoints/               trained models kept as sentence-transformers folders
      executed/                  executed copies of the notebooks
    figures/                   Study.figures

The project's own study (data/) keeps its figures in the project's figures/; any other study
keeps them inside its folder, <root>/figures, so two studies never overwrite each other's
figures and a study moves or travels as one folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
"""The checkout drscale runs from (its notebooks/ folder beside the package), if it is one."""


def default_root() -> Path:
    """The project's data/ in a checkout; data/ under the working directory for an installed package."""
    base = PROJECT_ROOT if (PROJECT_ROOT / "notebooks").is_dir() else Path.cwd()
    return base / "data"


@dataclass(frozen=True)
class Study:
    """The folder layout of one study, rooted at `root` (its data folder), with figures in `figures`."""

    root: Path
    figures: Path

    def __init__(self, root: str | os.PathLike | None = None, figures: str | os.PathLike | None = None) -> None:
        for name, value in (("root", root), ("figures", figures)):
            if value is not None and not isinstance(value, (str, os.PathLike)):
                raise ValueError(f"Study {name} must be a path or None; got {value!r}")
        project_data = default_root()
        default = project_data.resolve()  # data/ may be a link to a larger disk
        resolved = Path(root).resolve() if root is not None else default
        if figures is not None:
            figures_folder = Path(figures).resolve()
        elif resolved == default:
            figures_folder = project_data.parent / "figures"
        else:
            figures_folder = resolved / "figures"
        object.__setattr__(self, "root", resolved)
        object.__setattr__(self, "figures", figures_folder)

    def prepared(self, name: str) -> Path:
        """The folder of the prepared data set `name`."""
        return self.root / "prepared" / name

    @property
    def store_path(self) -> Path:
        """The results store every sweep of the study appends to."""
        return self.root / "runs" / "results.jsonl"

    @property
    def pretrained(self) -> Path:
        """Pre-trained starts of the study's runs."""
        return self.store_path.parent / "pretrained"

    @property
    def results(self) -> Path:
        """The folder of the study's tables and fits."""
        return self.root / "results"

    def table(self, name: str) -> Path:
        """The CSV of the table `name` (a sweep's, or a study's)."""
        return self.results / f"{name}.csv"

    @property
    def fits(self) -> Path:
        """The fitted laws, as notebook 05 saves them."""
        return self.results / "fits.json"

    @property
    def annotations(self) -> Path:
        """Caches of generated queries."""
        return self.root / "annotations"

    @property
    def checkpoints(self) -> Path:
        """Trained models kept as sentence-transformers folders."""
        return self.root / "checkpoints"

    @property
    def executed(self) -> Path:
        """Executed copies of the notebooks."""
        return self.root / "executed"

    def figure(self, name: str) -> Path:
        """The PNG of the figure `name`."""
        return self.figures / f"{name}.png"
