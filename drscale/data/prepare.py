"""Prepare a data set once and keep it under the data folder, keyed by what it was prepared from.

The sweep notebooks and the command line read prepared data by name, so a slow build (the
docstring corpus parses thousands of files; MS MARCO has 8.8M passages) happens once. Beside
the tables, `provenance.json` records what they were prepared from (source, resolved path,
options, dev split and a fingerprint of the input files). A later call under the same name
reuses them only when all of that agrees; any other input is refused with the way out
(`overwrite=True`, or another `name`), so a name never silently stands for stale data.
The tables, `provenance.json` and `summary.json` are written whole or not at all: staged in
a folder under a temporary name that then replaces the prepared folder
(`RetrievalData.save`), so provenance never describes tables it was not written with.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import inspect
import json
import numbers
import os
import platform
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from drscale.common.progress import progress_bar
from drscale.data import loaders
from drscale.data.assembly import check_options
from drscale.common.values import check_int
from drscale.data.corpus import RetrievalData
from drscale.data.docstrings import DEFAULT_PACKAGES, build_docstring_data
from drscale.data.hf import load_hf
from drscale.data.snapshot import SNAPSHOT_SHA256, load_docstring_snapshot
from drscale.study import Study

SOURCES = ("docstrings", "msmarco", "beir", "t2ranking", "hf")
"""`docstrings` is the embedded default; the others read files from `path`."""

LOADERS: Mapping[str, Callable[..., RetrievalData]] = {
    "msmarco": loaders.load_msmarco,
    "beir": loaders.load_beir,
    "t2ranking": loaders.load_t2ranking,
    "hf": load_hf,
}

DOCSTRING_OPTIONS = {"packages": None, "snapshot": None, "test_queries": 1000, "seed": 0, "workers": None}
"""Options of the docstring source and their defaults (`snapshot`: True for the default packages)."""

UNKEYED_OPTIONS = ("workers", "local_files_only")
"""Options that say how to read, not what: they do not change the data, so not its key."""

PROVENANCE = "provenance.json"
PROVENANCE_FORMAT = 1
KEY_FIELDS = ("source", "path", "options", "dev_queries", "dev_seed", "pool_queries", "inputs")
"""What a preparation is keyed by; the same name with any of these different is other data."""
KEY_DEFAULTS = {"pool_queries": 0}
"""The value of a key field that provenance written before the field existed stands for."""
SNAPSHOT_POOL_QUERIES = 4096
"""The pool split the embedded docstring snapshot gets unless told (every other preparation:
none). Every docstring passage is some query's positive, so without one the contrastive-entropy
pool would be the training positives; 4,096 queries give the demo's 4,096-passage pool and
leave 12,885 training pairs. A docstring corpus built from other packages may be too small for
as many: pass `pool_queries` for it."""

_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")


def prepared_folder(data_dir: str | Path, name: str) -> Path:
    """Where the data prepared as `name` lives in the study under `data_dir` (`Study.prepared`);
    `name` must be one folder name, so that no name reaches outside the study's prepared
    folder or collides with the hidden staging folders."""
    if not isinstance(name, str) or not name.strip() or name.startswith(".") or any(sep in name for sep in ("/", "\\", os.sep)):
        raise ValueError(f"name must be a folder name (no path separators, not starting with '.'); got {name!r}")
    if not isinstance(data_dir, (str, os.PathLike)):
        raise ValueError(f"data_dir must be a path; got {data_dir!r}")
    return Study(data_dir).prepared(name)


def prepare_data(
    source: str = "docstrings",
    data_dir: str | Path = "data",
    path: str | Path | None = None,
    name: str | None = None,
    overwrite: bool = False,
    dev_queries: int = 500,
    dev_seed: int = 0,
    pool_queries: int | None = None,
    progress: bool = True,
    **options: Any,
) -> RetrievalData:
    """Build `source` (from `path` for file formats), carve a dev split of `dev_queries`
    training queries (0: none) and a pool split of `pool_queries` more (0: none; None: the
    embedded docstring snapshot's `SNAPSHOT_POOL_QUERIES`, none for anything else; both drawn with `dev_seed`), save it as `name` (default: the source) and return it. A pool split's
    passages, which no model trains on as positives, become the contrastive-entropy pool
    (`RetrievalData.with_pool_split` says when that matters).

    `options` go to the builder: `packages`, `snapshot`, `test_queries`, `seed`, `workers` for
    docstrings (the default packages load from the shipped snapshot); the loader's keyword
    arguments for the others (`test_queries`, `seed`, `max_passages`, `max_queries`, ...). An
    option given as None takes the builder's default, so one call can serve every source.

    Everything is checked before any data is read: the source, that `path` exists (for "hf",
    a string that is not an existing path is a hub dataset id), the name, and every option's
    name, type and range. A preparation under `name` is reused when it was made from the same
    input (`KEY_FIELDS`, see `preparation_key`) and refused otherwise, unless `overwrite`
    replaces it. One made before provenance was recorded is
    reused only for the docstring snapshot, whose build takes a second and is compared by
    fingerprint; for any other source its input cannot be told, so it is refused.
    `progress` shows the steps of a build (reading, dev split, saving) in a bar.
    """
    if not isinstance(overwrite, bool):
        raise ValueError(f"overwrite must be True or False; got {overwrite!r}")
    name = source if name is None else name
    key, options = preparation_key(source, data_dir, path, name, dev_queries, dev_seed, options, pool_queries)
    folder = prepared_folder(data_dir, name)
    existing = (folder / "NAME").exists() and not overwrite
    if existing:
        stored = read_provenance(folder)
        if stored is not None:
            differences = _differences({k: stored.get(k, KEY_DEFAULTS.get(k)) for k in KEY_FIELDS}, key)
            if not differences:
                return RetrievalData.load(folder)
            raise ValueError(_refusal(folder, name, "was prepared from other input: " + "; ".join(differences)))
        if not (key["source"] == "docstrings" and key["options"]["snapshot"]):
            raise ValueError(_refusal(folder, name, f"has no {PROVENANCE}, so what it was prepared from is unknown"))
    with progress_bar(total=3, desc=f"preparing {name}", enabled=progress) as bar:
        data = _build(source, key["path"], name, dev_queries, dev_seed, key["pool_queries"], options, bar)
        if existing and data.fingerprint() != RetrievalData.load(folder).fingerprint():
            raise ValueError(_refusal(folder, name, f"has no {PROVENANCE} and holds other data than the docstring "
                                                    f"snapshot with these settings"))
        bar.set_postfix(step="saving")
        summary = data.summary()
        provenance = {"format": PROVENANCE_FORMAT, "name": name, **key, "fingerprint": summary["fingerprint"]}
        data.save(folder, extra_files={PROVENANCE: _json(provenance), "summary.json": _json(summary)})
        bar.update()
    return data


def preparation_key(
    source: str,
    data_dir: str | Path,
    path: str | Path | None,
    name: str,
    dev_queries: int,
    dev_seed: int,
    options: Mapping[str, Any],
    pool_queries: int | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(key, options for the builder) of one request, every argument checked first.

    The key holds the source, the resolved path (or hub id), the builder's options with its
    defaults filled in (so leaving an option out and passing its default agree), the dev
    and pool splits, and `inputs`: the size and modification time (ns) of every file under the path
    (and of each `*_file` option), not a hash of their content. The check runs on every
    call, notebook 01 included; hashing MS MARCO's 3 GB would cost seconds each time, a stat
    costs microseconds, and any write to a file changes its mtime. A file touched or copied without its times is a false alarm that asks
    for `overwrite=True`; it never serves stale data. The docstring snapshot is keyed by its
    pinned sha256, a build from installed sources by the Python and package versions, a hub
    dataset by its id only (to refresh one updated upstream, pass `overwrite=True`).
    """
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; choose one of {SOURCES}")
    resolved = _resolved_path(source, path)
    prepared_folder(data_dir, name)  # checks both
    check_int("dev_queries", dev_queries, 0)
    check_int("dev_seed", dev_seed, 0)
    if pool_queries is not None:
        check_int("pool_queries", pool_queries, 0)
    given = {option: value for option, value in options.items() if value is not None}
    if source == "docstrings":
        options = _docstring_options(given)
        if pool_queries is None and options["snapshot"]:
            pool_queries = SNAPSHOT_POOL_QUERIES
        inputs = _docstring_inputs(options)
    else:
        options = _loader_options(source, given)
        files = [resolved] if isinstance(resolved, Path) else []
        files += [Path(value) for option, value in options.items() if option.endswith("_file") and value is not None]
        inputs = input_files(files, exclude=Path(data_dir)) if files else None
    key = {
        "source": source,
        "path": str(resolved) if resolved is not None else None,
        "options": _jsonable({option: value for option, value in options.items() if option not in UNKEYED_OPTIONS}),
        "dev_queries": int(dev_queries),
        "dev_seed": int(dev_seed),
        "pool_queries": int(pool_queries or 0),
        "inputs": inputs,
    }
    return key, options


def input_files(paths: list[Path], exclude: Path | None = None) -> dict[str, list[int]]:
    """{file: [size in bytes, modification time in ns]} of every regular file at or under
    `paths` (folders are walked). Files under `exclude` (the data folder, whose prepared data
    and results change as the study runs) are skipped when it lies inside an input folder.
    Names are relative to the first path where they lie under it."""
    root = paths[0] if paths[0].is_dir() else paths[0].parent
    skip = exclude.resolve() if exclude is not None else None
    if skip is not None and root.resolve().is_relative_to(skip):
        skip = None  # the input lies inside the data folder (data/raw/msmarco): every file counts
    found: dict[str, list[int]] = {}
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file or folder")
        for file in sorted(path.rglob("*")) if path.is_dir() else [path]:
            resolved = file.resolve()
            if not resolved.is_file() or skip is not None and resolved.is_relative_to(skip):
                continue
            stat = resolved.stat()
            shown = file.relative_to(root).as_posix() if file.is_relative_to(root) else str(resolved)
            found[shown] = [stat.st_size, stat.st_mtime_ns]
    return found


def read_provenance(folder: str | Path) -> dict[str, Any] | None:
    """What the preparation in `folder` was made from (None for one made before it was recorded)."""
    path = Path(folder) / PROVENANCE
    if not path.exists():
        return None
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: unreadable ({exc}); prepare the data again with overwrite=True") from exc
    if not isinstance(stored, dict):
        raise ValueError(f"{path}: a JSON {type(stored).__name__}; expected an object. Prepare again with overwrite=True")
    return stored


def load_prepared(data_dir: str | Path, name: str = "docstrings") -> RetrievalData:
    """Prepared data by name; the error says how to prepare it when it is missing."""
    folder = prepared_folder(data_dir, name)
    if not (folder / "NAME").exists():
        raise FileNotFoundError(
            f"no prepared data {name!r} under {folder.parent}: run notebooks/01_prepare_data.ipynb "
            f"(or drscale.data.prepare.prepare_data) first"
        )
    return RetrievalData.load(folder)


def _build(source: str, path: Path | str | None, name: str, dev_queries: int, dev_seed: int, pool_queries: int,
           options: Mapping[str, Any], bar: Any) -> RetrievalData:
    """The data of a checked request, named `name`, with its dev and pool splits; each step advances `bar`."""
    bar.set_postfix(step=f"reading {source}")
    if source == "docstrings":
        # The default packages come from the shipped snapshot (the same pairs on every install);
        # another list, or snapshot=False, builds from the installed sources.
        split = {"test_queries": options["test_queries"], "seed": options["seed"]}
        if options["snapshot"]:
            data = load_docstring_snapshot(**split)
        else:
            data = build_docstring_data(packages=options["packages"], workers=options["workers"], **split)
        data = dataclasses.replace(data, name=name)
    else:
        data = LOADERS[source](path, **{**options, "name": name})
    bar.update()
    bar.set_postfix(step="dev and pool splits")
    data = data.with_dev_split(dev_queries, seed=dev_seed) if dev_queries else data
    data = data.with_pool_split(pool_queries, seed=dev_seed) if pool_queries else data
    bar.update()
    return data


def _resolved_path(source: str, path: str | Path | None) -> Path | str | None:
    """The absolute path of an existing input, a hub id for "hf", or an error naming the path."""
    if source == "docstrings":
        if path is not None:
            raise ValueError(f"source 'docstrings' reads no files (it is embedded); got path={str(path)!r}. "
                             f"Pass path=None, or a file source such as 'beir' with this path")
        return None
    if path is None:
        raise ValueError(f"source {source!r} reads files: pass `path`")
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"path must be a folder path; got {path!r}")
    local = Path(path).expanduser()
    if local.exists():
        return local.resolve()
    if source == "hf" and isinstance(path, str) and _HUB_ID.fullmatch(path):
        return path  # a hub dataset id; load_hf says so if it cannot be loaded
    raise FileNotFoundError(f"{path}: no such file or folder (path of source {source!r}, resolved to {local.resolve()})")


def _docstring_options(given: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(given) - set(DOCSTRING_OPTIONS))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for source 'docstrings'; its options: {sorted(DOCSTRING_OPTIONS)}")
    options = {**DOCSTRING_OPTIONS, **given}
    packages = options["packages"]
    if packages is None:
        packages = DEFAULT_PACKAGES
    elif not isinstance(packages, (list, tuple)) or not all(isinstance(p, str) and p for p in packages):
        raise ValueError(f"packages must be a list of package names; got {packages!r}")
    options["packages"] = tuple(packages)
    if options["snapshot"] is None:
        options["snapshot"] = options["packages"] == DEFAULT_PACKAGES
    if not isinstance(options["snapshot"], bool):
        raise ValueError(f"snapshot must be True or False; got {options['snapshot']!r}")
    if options["snapshot"] and options["packages"] != DEFAULT_PACKAGES:
        raise ValueError(f"the docstring snapshot holds the default packages {DEFAULT_PACKAGES}; packages="
                         f"{options['packages']} needs snapshot=False (a build from the installed sources)")
    check_int("test_queries", options["test_queries"], 1)
    check_int("seed", options["seed"], 0)
    check_int("workers", options["workers"], 1, optional=True)
    return options


def _docstring_inputs(options: Mapping[str, Any]) -> dict[str, str]:
    if options["snapshot"]:
        return {"snapshot_sha256": SNAPSHOT_SHA256}
    versions = {"python": platform.python_version()}
    distributions = importlib.metadata.packages_distributions()
    for package in options["packages"]:
        try:
            versions[package] = importlib.metadata.version((distributions.get(package) or [package])[0])
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "not installed"  # the build says so with its own error
    return versions


def _loader_options(source: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """The loader's keyword options with defaults filled in, checked (`drscale.data.assembly.check_options`)."""
    parameters = list(inspect.signature(LOADERS[source]).parameters.values())[1:]
    accepted = {p.name: p.default for p in parameters if p.name != "name"}
    unknown = sorted(set(given) - set(accepted))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for source {source!r}; its options: {sorted(accepted)}")
    options = {**accepted, **given}
    check_options(**options)
    for option, value in options.items():
        if option.endswith("_file") and value is not None:
            options[option] = Path(value).expanduser().resolve()
    return options


def _jsonable(value: Any) -> Any:
    """`value` as it reads back from JSON (tuples as lists, paths as text, NumPy integers as ints)."""
    return json.loads(json.dumps(value, default=lambda v: int(v) if isinstance(v, numbers.Integral) else str(v)))


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def _differences(stored: Mapping[str, Any], asked: Mapping[str, Any]) -> list[str]:
    """One line per key field that differs: "<field> <stored> (asked: <asked>)"."""
    lines = []
    for field in KEY_FIELDS:
        before, after = stored.get(field), asked.get(field)
        if before == after or field == "inputs" and stored.get("path") != asked.get("path"):
            continue  # the files of another path differ as a matter of course
        if isinstance(before, dict) and isinstance(after, dict):
            keys = sorted(set(before) | set(after))
            changed = [k for k in keys if before.get(k) != after.get(k)]
            shown = ", ".join(f"{k} {before.get(k, '(none)')!r} (asked: {after.get(k, '(none)')!r})" for k in changed[:4])
            more = f" and {len(changed) - 4} more" if len(changed) > 4 else ""
            if field == "inputs":
                shown = ", ".join(f"{k} {'added' if k not in before else 'gone' if k not in after else 'changed'}"
                                  for k in changed[:4])
            lines.append(f"{field}: {shown}{more}")
        else:
            lines.append(f"{field} {before!r} (asked: {after!r})")
    return lines


def _refusal(folder: Path, name: str, why: str) -> str:
    return (f"prepared data {name!r} in {folder} {why}. Pass overwrite=True to replace it, or choose another name "
            f"to keep both")
