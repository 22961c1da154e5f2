"""The shipped snapshot of the docstring pairs: the default data, the same on every install.

Built from installed code, the docstring task (`drscale.data.docstrings`) would differ
between installs, and so would every number computed on it. The default is therefore a
snapshot shipped in the package, `resources/docstrings.jsonl.xz`: the pairs
`build_docstring_data` produced once, on the install its manifest
(`resources/docstrings.manifest.json`: Python and package versions, filters, pair count)
records, in the same order and with passages kept whole (no truncation: the xz file is
about 3.3 MB). `load_docstring_snapshot` checks the decompressed content against the pinned
`SNAPSHOT_SHA256` and refuses a damaged or edited file, so every install trains and tests on
the same pairs, with the same fingerprint. A new snapshot is written by
`write_docstring_snapshot`, or `python -m drscale.data.snapshot --write-snapshot`, with the
licence notices of its sources beside it (`drscale.data.notices`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
from pathlib import Path

from drscale import __version__
from drscale.common.files import write_bytes_atomic, write_text_atomic
from drscale.data import docstrings
from drscale.data.corpus import RetrievalData
from drscale.data.notices import licence_notices, source_info

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
REBUILD = "python -m drscale.data.snapshot --write-snapshot"
"""The command that rebuilds the shipped snapshot from the installed sources."""


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
            f"(reinstall drscale), or rebuild it with `{REBUILD}`"
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
    return docstrings.docstring_task(records, test_queries, seed, f"docstring snapshot {path.name} (sha256 {digest[:16]})")


def write_docstring_snapshot(
    path: str | os.PathLike | None = None,
    packages: tuple[str, ...] = docstrings.DEFAULT_PACKAGES,
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
    sources = docstrings.docstring_sources(packages)
    records = docstrings.docstring_records(packages, workers, sources)
    content = snapshot_content(records)
    lzma = _lzma()
    compressed = lzma.compress(content, preset=9 | lzma.PRESET_EXTREME)
    split = docstrings.docstring_task(records, 1000, 0, "") if len(records) > 1000 else None  # the default split
    infos = [source_info(label, root, files, records) for label, root, files in sources]
    manifest = {
        "file": path.name,
        "format": "xz-compressed UTF-8 JSON lines, one {\"id\", \"query\", \"passage\"} object per pair, "
        "in the order build_docstring_data produces them; query and passage ids are 'q:' and 'p:' + id",
        "pairs": len(records),
        "sha256": hashlib.sha256(content).hexdigest(),
        "uncompressed_bytes": len(content),
        "compressed_bytes": len(compressed),
        "passage_max_chars": None,
        "passage_truncation": "none: passages are whole docstring bodies",
        "built_with": {
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "platform": f"{platform.system()}-{platform.machine()}",
            "drscale": __version__,
            "function": "drscale.data.snapshot.write_docstring_snapshot",
        },
        "sources": [
            {key: info[key] for key in ("name", "distribution", "version", "licence", "files_parsed", "pairs")}
            for info in infos
        ],
        "filters": {
            "documented": "functions, async functions and classes whose docstring (ast.get_docstring) has a blank line",
            "query": "the docstring up to its first blank line, whitespace runs collapsed to one space",
            "passage": "the rest of the docstring, whitespace runs collapsed to one space",
            "summary_words": list(docstrings.SUMMARY_WORDS),
            "min_body_words": docstrings.MIN_BODY_WORDS,
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
        "rebuild": REBUILD,
    }
    notice, licences = licence_notices(infos, path.name, len(records))
    texts = {manifest_path(path): json.dumps(manifest, indent=2, ensure_ascii=False) + "\n",
             path.parent / "NOTICE.md": notice, path.parent / "THIRD_PARTY_LICENSES.txt": licences}
    write_bytes_atomic(path, compressed)
    for file, text in texts.items():
        write_text_atomic(file, text)
    return manifest


def main(argv: list[str] | None = None) -> None:
    """`python -m drscale.data.snapshot --write-snapshot`: rebuild the shipped snapshot."""
    parser = argparse.ArgumentParser(prog="python -m drscale.data.snapshot", description=__doc__.split("\n")[0])
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
              "drscale/data/snapshot.py to the manifest's values to load it.", file=sys.stderr)


if __name__ == "__main__":
    main()
