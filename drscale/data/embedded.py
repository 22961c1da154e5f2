"""The embedded default data: docstrings of Python code as a retrieval task.

Every install of drscale has real, human-written text with real query-passage relations:
the docstrings of the standard library and of the project's own dependencies. A docstring's
summary line is a natural query ("Compute the frequency response of a digital filter") and
the rest of the docstring is its passage. Sources are parsed with `ast` (nothing is
imported), so building is safe and offline.

Built from installed code, the corpus would differ between installs (other Python or package
versions give other pairs), and so would every number computed on it. The default is
therefore a snapshot shipped in the package, `resources/docstrings.jsonl.xz`: the pairs
`build_docstring_data` produced once, on the install its manifest
(`resources/docstrings.manifest.json`: Python and package versions, filters, pair count)
records, in the same order and with passages kept whole (no truncation: the xz file is
about 3.3 MB). `load_docstring_snapshot` checks the decompressed content against the pinned
`SNAPSHOT_SHA256` and refuses a damaged or edited file, so every install trains and tests on
the same pairs, with the same fingerprint. `build_docstring_data` still builds from the
installed sources (other package lists, or a new snapshot: `write_docstring_snapshot`, or
`python -m drscale.data.embedded --write-snapshot`).

The snapshot redistributes documentation text of the Python standard library (PSF licence)
and of NumPy, SciPy, pandas, matplotlib, PyTorch, transformers, datasets, huggingface_hub and
IPython (BSD-style, PSF-based and Apache-2.0 licences): `resources/NOTICE.md` names each
source with its version, licence and copyright lines, and
`resources/THIRD_PARTY_LICENSES.txt` holds the licence texts, copied from the installed
distributions.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import importlib.metadata
import importlib.util
import json
import multiprocessing
import os
import platform
import re
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from drscale import __version__
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

RESOURCES = Path(__file__).resolve().parent / "resources"
SNAPSHOT_PATH = RESOURCES / "docstrings.jsonl.xz"
"""The shipped snapshot: xz-compressed JSON lines, one {"id", "query", "passage"} per pair."""
SNAPSHOT_PAIRS = 18481
"""Pairs in the shipped snapshot."""
SNAPSHOT_SHA256 = "5cd22ac9449a306788bdb6f802c0d77a0d301769f08ea2204db2d5b224995e97"
"""sha256 of the shipped snapshot's decompressed content. Loading refuses any other content:
changing the snapshot (and so every number computed on the default data) means changing this."""
SNAPSHOT_FINGERPRINT = "348895cbdb822574"
"""`RetrievalData.fingerprint()` of `load_docstring_snapshot()` (1000 test queries, seed 0)."""


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
    sources: list[tuple[str, Path, list[tuple[Path, str]]]] | None = None,
) -> list[tuple[str, str, str]]:
    """(id, query, passage) of every pair of the docstring task, in build order.

    Duplicated summaries or bodies (inherited or copied docstrings) are kept once, the first
    met, so no query has two answers and no passage two queries. Files are parsed by
    `workers` processes (default: one per core); the result does not depend on it.
    `sources` ((label, root, files) of each source) spares listing the files again.
    """
    if sources is None:
        sources = _sources(packages)
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


def _sources(packages: tuple[str, ...]) -> list[tuple[str, Path, list[tuple[Path, str]]]]:
    return [(label, root, source_files(root, label)) for label, root in source_roots(packages)]


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
    drscale is the shipped snapshot instead (`load_docstring_snapshot`).
    """
    records = docstring_records(packages, workers)
    return docstring_task(records, test_queries, seed, f"docstrings of stdlib + {', '.join(packages)}")


# The snapshot -----------------------------------------------------------------------------


def snapshot_content(records: list[tuple[str, str, str]]) -> bytes:
    """The decompressed snapshot: one JSON object per line (UTF-8, keys id, query, passage).

    JSON escapes line breaks inside strings, so b"\\n" only ever ends a record."""
    return b"".join(
        json.dumps({"id": key, "query": query, "passage": passage}, ensure_ascii=False).encode() + b"\n"
        for key, query, passage in records
    )


def _lzma():
    """The lzma module, imported when needed: a Python built without liblzma can still build
    the docstring data from its sources, and is told why it cannot read the snapshot."""
    try:
        import lzma
    except ImportError as error:
        raise ImportError(
            f"reading or writing the docstring snapshot needs Python's lzma module, which this Python "
            f"lacks ({error}); rebuild Python with liblzma, or build the data from the installed "
            f"sources: build_docstring_data(), or prepare_data('docstrings', snapshot=False)"
        ) from error
    return lzma


def manifest_path(path: str | os.PathLike) -> Path:
    """The manifest beside a snapshot: docstrings.jsonl.xz -> docstrings.manifest.json."""
    path = Path(path)
    return path.with_name(path.name.split(".")[0] + ".manifest.json")


def read_docstring_snapshot(path: str | os.PathLike | None = None, sha256: str | None = None) -> list[tuple[str, str, str]]:
    """(id, query, passage) records of a snapshot, after checking its content.

    `path` defaults to the shipped snapshot and `sha256` (of the decompressed content) to the
    pinned `SNAPSHOT_SHA256`; for a snapshot you wrote yourself, pass its manifest's sha256.
    A missing, unreadable, damaged or edited file is refused with an error naming it.
    """
    path = Path(SNAPSHOT_PATH if path is None else path)
    expected = SNAPSHOT_SHA256 if sha256 is None else sha256
    try:
        compressed = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(
            f"docstring snapshot {path} is missing: the package data of drscale was not installed "
            f"(reinstall drscale), or rebuild it with `python -m drscale.data.embedded --write-snapshot`"
        ) from None
    lzma = _lzma()
    try:
        content = lzma.decompress(compressed)
    except (lzma.LZMAError, EOFError) as error:
        raise ValueError(f"docstring snapshot {path} is damaged: not a complete xz file ({error})") from None
    digest = hashlib.sha256(content).hexdigest()
    if digest != expected:
        raise ValueError(
            f"docstring snapshot {path} is damaged or edited: its content has sha256 {digest}, "
            f"expected {expected}. Reinstall drscale; a deliberately rebuilt snapshot needs "
            f"SNAPSHOT_SHA256 (or the `sha256` argument) changed to match its manifest"
        )
    records = []
    for line_number, line in enumerate(content.split(b"\n")[:-1], start=1):
        try:
            record = json.loads(line)
            records.append((record["id"], record["query"], record["passage"]))
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"docstring snapshot {path}: line {line_number} is not an id/query/passage record ({error})") from None
    if content and not content.endswith(b"\n"):
        raise ValueError(f"docstring snapshot {path}: the last record is not terminated by a line break")
    return records


def load_docstring_snapshot(
    test_queries: int = 1000,
    seed: int = 0,
    path: str | os.PathLike | None = None,
    sha256: str | None = None,
) -> RetrievalData:
    """The default docstring task, from the shipped snapshot: the same pairs, split and
    fingerprint on every install (see `read_docstring_snapshot` for `path` and `sha256`).

    With the defaults of `build_docstring_data` on the install the manifest records, both
    give the same data; loading takes about a second instead of half a minute of parsing.
    """
    path = Path(SNAPSHOT_PATH if path is None else path)
    records = read_docstring_snapshot(path, sha256)
    digest = SNAPSHOT_SHA256 if sha256 is None else sha256
    return docstring_task(records, test_queries, seed, f"docstring snapshot {path.name} (sha256 {digest[:16]})")


def write_docstring_snapshot(
    path: str | os.PathLike | None = None,
    packages: tuple[str, ...] = DEFAULT_PACKAGES,
    workers: int | None = None,
) -> dict:
    """Build the docstring pairs from the installed sources and write them as a snapshot at
    `path` (default: the shipped one), with its manifest, NOTICE.md and
    THIRD_PARTY_LICENSES.txt beside it. Returns the manifest.

    Loading the new shipped snapshot needs `SNAPSHOT_PAIRS`, `SNAPSHOT_SHA256` and
    `SNAPSHOT_FINGERPRINT` set to the manifest's values: a new default corpus changes every
    number computed on it, so that is a deliberate edit, not a side effect.
    """
    path = Path(SNAPSHOT_PATH if path is None else path)
    sources = _sources(packages)
    records = docstring_records(packages, workers, sources)
    content = snapshot_content(records)
    lzma = _lzma()
    compressed = lzma.compress(content, preset=9 | lzma.PRESET_EXTREME)
    digest = hashlib.sha256(content).hexdigest()
    split = docstring_task(records, 1000, 0, "") if len(records) > 1000 else None  # the default split
    infos = [_source_info(label, root, files, records) for label, root, files in sources]
    manifest = {
        "file": path.name,
        "format": "xz-compressed UTF-8 JSON lines, one {\"id\", \"query\", \"passage\"} object per pair, "
        "in the order build_docstring_data produces them; query and passage ids are 'q:' and 'p:' + id",
        "pairs": len(records),
        "sha256": digest,
        "uncompressed_bytes": len(content),
        "compressed_bytes": len(compressed),
        "passage_max_chars": None,
        "passage_truncation": "none: passages are whole docstring bodies",
        "built_with": {
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "platform": f"{platform.system()}-{platform.machine()}",
            "drscale": __version__,
            "function": "drscale.data.embedded.write_docstring_snapshot",
        },
        "sources": [
            {key: info[key] for key in ("name", "distribution", "version", "licence", "files_parsed", "pairs")}
            for info in infos
        ],
        "filters": {
            "documented": "functions, async functions and classes whose docstring (ast.get_docstring) has a blank line",
            "query": "the docstring up to its first blank line, whitespace runs collapsed to one space",
            "passage": "the rest of the docstring, whitespace runs collapsed to one space",
            "summary_words": list(SUMMARY_WORDS),
            "min_body_words": MIN_BODY_WORDS,
            "skipped": "files under test/ or tests/ folders, site-packages inside the stdlib folder, files ast cannot parse",
            "deduplication": "a repeated query or passage is dropped, the first met kept (files in sorted order, sources in the order listed)",
        },
        "default_split": split and {
            "test_queries": 1000,
            "seed": 0,
            "train_pairs": len(split.train_qrels),
            "test_pairs": len(split.test_qrels),
            "fingerprint": split.fingerprint(),
        },
        "notices": ["NOTICE.md", "THIRD_PARTY_LICENSES.txt"],
        "rebuild": "python -m drscale.data.embedded --write-snapshot",
    }
    _write_atomic(path, compressed)
    _write_atomic(manifest_path(path), (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode())
    notice, licences = _licence_notices(infos, path.name, len(records))
    _write_atomic(path.parent / "NOTICE.md", notice.encode())
    _write_atomic(path.parent / "THIRD_PARTY_LICENSES.txt", licences.encode())
    return manifest


def _write_atomic(path: Path, data: bytes) -> None:
    """Write through a temporary file and a rename, readable by all (package data)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(staging, 0o666 & ~umask)  # mkstemp makes it private
        os.replace(staging, path)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise


# Licence notices of the snapshot's sources ------------------------------------------------

_LICENCE_FILE = re.compile(r"^(LICEN[CS]E|COPYING|NOTICE|AUTHORS)", re.IGNORECASE)
_COPYRIGHT = re.compile(r"Copyright\s*(?:\([cC]\)|©)?\s*\d{4}")

_LICENCE_NAMES = {
    "stdlib": "PSF-2.0 (Python Software Foundation License Version 2)",
    "scipy": "BSD-3-Clause",
    "matplotlib": "Matplotlib License (PSF-based)",
    "transformers": "Apache-2.0",
    "datasets": "Apache-2.0",
    "huggingface_hub": "Apache-2.0",
}
"""Licence names where the distribution's metadata has no SPDX expression."""

_COPYRIGHT_NOTES = {
    "datasets": ["Copyright The HuggingFace Datasets Authors (AUTHORS: Google Inc., HuggingFace Inc.); "
                 "source file headers: \"Copyright 2020 The HuggingFace Datasets Authors and the TensorFlow Datasets Authors\""],
    "huggingface_hub": ["Copyright 2019-present, the HuggingFace Inc. team (source file headers; the LICENSE file names no holder)"],
}
"""Copyright holders of sources whose licence files name none."""


def _source_info(label: str, root: Path, files: list[tuple[Path, str]], records: list[tuple[str, str, str]]) -> dict:
    """Name, version, licence, copyright lines and licence files ((shown path, text)) of one source."""
    licence_files: list[tuple[str, str]] = []
    primary: list[str] = []
    if label == "stdlib":
        distribution, version = f"{platform.python_implementation()} standard library", platform.python_version()
        licence = _LICENCE_NAMES["stdlib"]
        shown_root = root.name
    else:
        names = importlib.metadata.packages_distributions().get(label) or [label]
        dist = importlib.metadata.distribution(names[0])
        distribution, version = dist.metadata["Name"], dist.version
        licence = _LICENCE_NAMES.get(label) or dist.metadata.get("License-Expression") or _short_licence(dist)
        shown_root = label
        for file in dist.files or []:
            parts = file.parts
            inside = [i for i, part in enumerate(parts) if part.endswith(".dist-info")]
            if not inside:
                continue
            below = parts[inside[0] + 1:]
            # the distribution's own licence files (and pandas-style LICENSES/ of vendored code),
            # not the licence trees of compiled third-party code (torch third_party/, ...)
            if len(below) == 1 and _LICENCE_FILE.match(below[0]) or below[:1] == ("licenses",) and len(below) <= 3:
                text = Path(file.locate()).read_text(encoding="utf-8", errors="replace")
                licence_files.append((str(file), text))
                if len(below) <= 2:
                    primary.append(text)
    # licence files beside the parsed sources (vendored modules: numpy/ma, scipy/_lib/_uarray, ...)
    for folder in sorted({path.parent for path, _ in files}):
        for candidate in sorted(folder.iterdir()):
            if candidate.is_file() and _LICENCE_FILE.match(candidate.name):
                text = candidate.read_text(encoding="utf-8", errors="replace")
                licence_files.append((f"{shown_root}/{candidate.relative_to(root).as_posix()}", text))
                if label == "stdlib":
                    primary.append(text)
    unique, seen = [], set()
    for shown, text in licence_files:
        if text not in seen:
            seen.add(text)
            unique.append((shown, text))
    copyright_lines = list(dict.fromkeys(line for text in primary for line in _copyright_lines(text)))
    return {
        "name": label,
        "distribution": distribution,
        "version": version,
        "licence": licence,
        "files_parsed": len(files),
        "pairs": sum(key.startswith(f"{label}.") for key, _, _ in records),
        "copyright": copyright_lines or _COPYRIGHT_NOTES.get(label, ["(no copyright line in its licence files)"]),
        "licence_files": unique,
    }


def _short_licence(dist: importlib.metadata.Distribution) -> str:
    field = (dist.metadata.get("License") or "").strip()
    if field and "\n" not in field and len(field) <= 60:
        return field
    classifiers = [c.split(" :: ")[-1] for c in dist.metadata.get_all("Classifier") or [] if c.startswith("License ::")]
    return ", ".join(classifiers) or "see its licence texts"


def _copyright_lines(text: str) -> list[str]:
    """Copyright statements of a licence text, before any section on bundled software."""
    lines = text.splitlines()
    found = []
    row = 0
    while row < len(lines):
        line = lines[row]
        if line.startswith("Name:"):
            break  # sections on bundled third-party software follow (numpy, scipy, matplotlib wheels)
        # a statement broken after "Copyright (c)", a comma, a semicolon or "All Rights" goes on
        while row + 1 < len(lines) and re.search(r"(Copyright\s*\([cC]\)|[,;]|All Rights)\s*$", line) and "Copyright" in line:
            row += 1
            line = line.rstrip() + " " + lines[row].strip()
        match = _COPYRIGHT.search(line)
        if match:
            statement = line[match.start():].split('"')[0].strip().rstrip(".")
            found.append(" ".join(statement.split()))
        row += 1
    return found


def _licence_notices(infos: list[dict], snapshot: str, pairs: int) -> tuple[str, str]:
    """NOTICE.md and THIRD_PARTY_LICENSES.txt for the snapshot's sources."""
    notice = [
        "# Notices: the docstring snapshot",
        "",
        f"`{snapshot}` (beside this file) holds {pairs:,} (query, passage) pairs taken from the",
        "docstrings of the sources below, as installed when the snapshot was built (see its",
        "manifest). Each docstring was split at its first blank line into a summary (the query)",
        "and the rest (the passage), and runs of whitespace were collapsed to one space; the text",
        "was not otherwise changed. It remains under its authors' copyright and licences, listed",
        "here; drscale's own MIT licence does not cover it.",
        "",
        "The full licence texts, copied verbatim from the installed distributions (and any NOTICE",
        "file one ships), are in `THIRD_PARTY_LICENSES.txt`.",
        "",
    ]
    licences = [
        f"Licence texts of the sources of drscale's docstring snapshot ({snapshot}), copied verbatim",
        "from the installed distributions it was built from. See NOTICE.md.",
        "",
    ]
    for info in infos:
        title = f"{info['name']}: {info['distribution']} {info['version']}"
        notice += [
            f"## {title}",
            "",
            f"- Licence: {info['licence']}",
            f"- Pairs in the snapshot: {info['pairs']:,}",
            "- Copyright:",
            *(f"  - {line}" for line in info["copyright"]),
            f"- Licence texts reproduced: {', '.join(f'`{shown}`' for shown, _ in info['licence_files'])}",
            "",
        ]
        for shown, text in info["licence_files"]:
            licences += ["=" * 78, f"{title} -- {shown}", "=" * 78, "", text.rstrip("\n"), ""]
    return "\n".join(notice), "\n".join(licences) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m drscale.data.embedded", description=__doc__.split("\n")[0])
    parser.add_argument("--write-snapshot", action="store_true", help="rebuild the docstring snapshot from the installed sources")
    parser.add_argument("--path", default=None, help=f"where to write it (default: {SNAPSHOT_PATH})")
    parser.add_argument("--workers", type=int, default=None, help="parsing processes (default: one per core)")
    args = parser.parse_args(argv)
    if not args.write_snapshot:
        parser.print_help()
        return
    manifest = write_docstring_snapshot(args.path, workers=args.workers)
    print(json.dumps({key: manifest[key] for key in ("file", "pairs", "sha256", "uncompressed_bytes", "compressed_bytes")}, indent=2))
    if manifest["default_split"]:
        print(f"default split fingerprint: {manifest['default_split']['fingerprint']}")
    if manifest["sha256"] != SNAPSHOT_SHA256:
        print("The snapshot changed: set SNAPSHOT_PAIRS, SNAPSHOT_SHA256 and SNAPSHOT_FINGERPRINT in "
              "drscale/embedded.py to the manifest's values to load it.", file=sys.stderr)


if __name__ == "__main__":
    from drscale.data import embedded  # the importable module, so that parsing processes can pickle its functions

    embedded.main()
