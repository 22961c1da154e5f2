"""Prepare a data set once and cache it under the data folder, whatever its source.

The sweep notebooks and the command line read prepared data by name, so a slow build (the
docstring corpus parses thousands of files; MS MARCO has 8.8M passages) happens once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from drscale import loaders
from drscale.data import RetrievalData
from drscale.embedded import DEFAULT_PACKAGES, build_docstring_data

SOURCES = ("docstrings", "msmarco", "beir", "t2ranking", "hf")
"""`docstrings` is the embedded default; the others read files from `path`."""


def prepared_folder(data_dir: str | Path, name: str) -> Path:
    return Path(data_dir) / "prepared" / name


def prepare_data(
    source: str = "docstrings",
    data_dir: str | Path = "data",
    path: str | Path | None = None,
    name: str | None = None,
    rebuild: bool = False,
    dev_queries: int = 500,
    dev_seed: int = 0,
    **options: Any,
) -> RetrievalData:
    """Build `source` (from `path` for file formats), carve a dev split of `dev_queries`
    training queries (0: none), save it as `name`, and return it.

    `options` go to the builder: `packages`, `snapshot`, `test_queries`, `seed` for
    docstrings (the default packages load from the shipped snapshot); the loader's keyword
    arguments for the others. An existing preparation is reused unless `rebuild`, or unless
    its dev split has another size.
    """
    if not isinstance(dev_queries, int) or isinstance(dev_queries, bool) or dev_queries < 0:
        raise ValueError(f"dev_queries must be a non-negative integer; got {dev_queries!r}")
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; choose one of {SOURCES}")
    if source != "docstrings" and path is None:
        raise ValueError(f"source {source!r} reads files: pass `path`")
    folder = prepared_folder(data_dir, name or source)
    if (folder / "NAME").exists() and not rebuild:
        data = RetrievalData.load(folder)
        if data.dev_queries == dev_queries:
            return data
    if source == "docstrings":
        # The default packages come from the shipped snapshot (the same pairs on every install);
        # another list, or snapshot=False, builds from the installed sources.
        from drscale.embedded import load_docstring_snapshot

        packages = options.pop("packages", None)
        packages = DEFAULT_PACKAGES if packages is None else tuple(packages)
        if options.pop("snapshot", packages == DEFAULT_PACKAGES):
            if packages != DEFAULT_PACKAGES:
                raise ValueError(f"the docstring snapshot holds the default packages {DEFAULT_PACKAGES}; "
                                 f"packages={packages} needs snapshot=False (a build from the installed sources)")
            options.pop("workers", None)  # parsing processes: a build's option only
            data = load_docstring_snapshot(**options)
        else:
            data = build_docstring_data(packages=packages, **options)
    else:
        loader = {"msmarco": loaders.load_msmarco, "beir": loaders.load_beir, "t2ranking": loaders.load_t2ranking, "hf": loaders.load_hf}
        data = loader[source](path, **options)
    if dev_queries:
        data = data.with_dev_split(dev_queries, seed=dev_seed)
    data.save(folder)
    (folder / "summary.json").write_text(json.dumps(data.summary(), indent=2) + "\n")
    return data


def load_prepared(data_dir: str | Path, name: str = "docstrings") -> RetrievalData:
    """Prepared data by name; the error says how to prepare it when it is missing."""
    folder = prepared_folder(data_dir, name)
    if not (folder / "NAME").exists():
        raise FileNotFoundError(
            f"no prepared data {name!r} under {Path(data_dir) / 'prepared'}: run notebooks/01_prepare_data.ipynb "
            f"(or drscale.prepare.prepare_data) first"
        )
    return RetrievalData.load(folder)
