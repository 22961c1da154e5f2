"""Docstrings of installed Python code as a retrieval task.

Every install of drscale has real, human-written text with real query-passage relations:
the docstrings of the standard library and of the project's own dependencies. A docstring's
summary line is a natural query ("Compute the frequency response of a digital filter") and
the rest of the docstring is its passage. Sources are parsed with `ast` (nothing is
imported), so building is safe and offline.

Built from installed code, the pairs differ between installs (other Python or package
versions give other pairs), and so would every number computed on them: the default data is
therefore the shipped snapshot of one build (`drscale.data.snapshot`). This module builds
the pairs, for a new snapshot or for other package lists.
"""

from __future__ import annotations

import ast
import importlib.util
import multiprocessing
import os
import sysconfig
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from drscale.data.corpus import RetrievalData, split_qrels_by_query, table

DEFAULT_PACKAGES = (
    "numpy",
    "scipy",
    "pandas",
    "matplotlib",
    "torch",
    "transformers",
    "datasets",
    "huggingface_hub",
    "IPython",
)
"""Dependencies of drscale (so present on every install) whose docstrings join the stdlib's."""

SUMMARY_WORDS = (3, 40)
"""A query is a summary of 3 to 40 words: shorter ones ("Return x.") carry no information."""
MIN_BODY_WORDS = 15
"""A passage needs 15+ words to describe what it documents."""

Source = tuple[str, Path, list[tuple[Path, str]]]
"""(label, root folder, (file, dotted module name) of each source file) of one parsed source."""


def source_roots(packages: tuple[str, ...] = DEFAULT_PACKAGES) -> Iterator[tuple[str, Path]]:
    """(name, folder) of the standard library and of each installed package in `packages`."""
    yield "stdlib", Path(sysconfig.get_paths()["stdlib"])
    for name in packages:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise ValueError(f"package {name!r} is not installed; remove it from `packages` or install it")
        yield name, Path(next(iter(spec.submodule_search_locations)))


def source_files(root: Path, label: str) -> list[tuple[Path, str]]:
    """(file, dotted module name) of every Python source under `root`, sorted.

    Test folders and installed third-party packages inside the stdlib folder are skipped.
    """
    files = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        if relative.parts[0] in ("site-packages", "dist-packages") or {"test", "tests"} & set(relative.parts):
            continue
        files.append((path, ".".join((label, *relative.with_suffix("").parts))))
    return files


def docstring_sources(packages: tuple[str, ...] = DEFAULT_PACKAGES) -> list[Source]:
    """The standard library and each package in `packages`, with the files to parse."""
    return [(label, root, source_files(root, label)) for label, root in source_roots(packages)]


def file_docstrings(path: Path, module: str) -> list[tuple[str, str, str]]:
    """(id, summary, body) of each documented function or class in one source file."""
    try:
        tree = ast.parse(path.read_bytes())
    except (SyntaxError, ValueError):
        return []  # sources for other Python versions or templates: not documentation we can read
    pairs = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        doc = ast.get_docstring(node)
        if not doc or "\n\n" not in doc:
            continue
        summary, body = (" ".join(part.split()) for part in doc.split("\n\n", 1))
        pairs.append((f"{module}:{node.name}:{node.lineno}", summary, body))
    return pairs


def docstring_pairs(files: list[tuple[Path, str]], workers: int = 1) -> Iterator[tuple[str, str, str]]:
    """(id, summary, body) over `files`, in file order; parsing is spread over `workers`
    processes (parsing thousands of files is the slow part of building the corpus)."""
    if workers <= 1:
        for path, module in files:
            yield from file_docstrings(path, module)
        return
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        for pairs in pool.map(file_docstrings, *zip(*files), chunksize=32):
            yield from pairs


def docstring_records(
    packages: tuple[str, ...] = DEFAULT_PACKAGES,
    workers: int | None = None,
    sources: list[Source] | None = None,
) -> list[tuple[str, str, str]]:
    """(id, query, passage) of every pair of the docstring task, in build order.

    Duplicated summaries or bodies (inherited or copied docstrings) are kept once, the first
    met, so no query has two answers and no passage two queries. Files are parsed by
    `workers` processes (default: one per core); the result does not depend on it.
    `sources` (from `docstring_sources`) spares listing the files again.
    """
    if sources is None:
        sources = docstring_sources(packages)
    records = []
    seen_queries: set[str] = set()
    seen_passages: set[str] = set()
    files = [file for _, _, source in sources for file in source]
    for key, summary, body in docstring_pairs(files, workers or os.cpu_count() or 1):
        words = len(summary.split())
        if not SUMMARY_WORDS[0] <= words <= SUMMARY_WORDS[1] or len(body.split()) < MIN_BODY_WORDS:
            continue
        if summary in seen_queries or body in seen_passages:
            continue
        seen_queries.add(summary)
        seen_passages.add(body)
        records.append((key, summary, body))
    return records


def docstring_task(records: list[tuple[str, str, str]], test_queries: int, seed: int, source: str) -> RetrievalData:
    """The retrieval task of (id, query, passage) records: one query per record, its passage
    as the one positive, test queries drawn by `split_qrels_by_query`."""
    query_ids = [f"q:{key}" for key, _, _ in records]
    passage_ids = [f"p:{key}" for key, _, _ in records]
    qrels = table({"query_id": query_ids, "passage_id": passage_ids})
    train, test = split_qrels_by_query(qrels, test_queries=test_queries, seed=seed)
    return RetrievalData(
        name="docstrings",
        corpus=table({"id": passage_ids, "text": [passage for _, _, passage in records]}),
        queries=table({"id": query_ids, "text": [query for _, query, _ in records]}),
        train_qrels=train,
        test_qrels=test,
        source=source,
    )


def build_docstring_data(
    packages: tuple[str, ...] = DEFAULT_PACKAGES,
    test_queries: int = 1000,
    seed: int = 0,
    workers: int | None = None,
) -> RetrievalData:
    """The docstring retrieval task built from the installed sources (see `docstring_records`).

    Its pairs depend on the installed Python and package versions; the default data of
    drscale is the shipped snapshot instead (`drscale.data.snapshot.load_docstring_snapshot`).
    """
    records = docstring_records(packages, workers)
    return docstring_task(records, test_queries, seed, f"docstrings of stdlib + {', '.join(packages)}")
