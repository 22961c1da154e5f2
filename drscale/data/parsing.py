"""Line-level readers and record checks shared by every format in `drscale.data.loaders`.

Every problem is reported as "<file> line <n>: <what was found>; expected <what>", so a user
can open the file at the line. Bytes are decoded strictly as UTF-8 one line at a time: a file
in another encoding stops at its first bad line instead of turning into mojibake that would
only show later as odd tokens.
"""

from __future__ import annotations

import json
from collections.abc import Container, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

# First fields that mark a header row in formats that have none (real ids are never these).
HEADER_WORDS = frozenset({"id", "_id", "pid", "qid", "docid", "query-id", "query_id", "corpus-id", "passage_id"})


@dataclass(frozen=True)
class Where:
    """A file or table being read, and whether its positions are lines or rows."""

    name: str
    unit: str = "line"

    def error(self, position: int, found: str, expected: str) -> ValueError:
        return ValueError(f"{self.name} {self.unit} {position}: {found}; expected {expected}")


class Pair(NamedTuple):
    """A positive (query, passage) label and where it was read, for later error messages."""

    query_id: str
    passage_id: str
    where: Where
    position: int


def data_folder(folder: str | Path, layout: str) -> Path:
    """`folder` as a Path, refused with its name when it is missing or is a file (a loader
    given one of the folder's files, say); `layout` says what the folder should hold."""
    folder = Path(folder)
    if folder.is_file():
        raise NotADirectoryError(f"{folder} is a file; pass the folder that holds {layout}")
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder; expected one holding {layout}")
    return folder


def read_lines(path: Path, expected: str) -> Iterator[tuple[int, str]]:
    """(1-based line number, text without line ending) of every line; `expected` describes
    the content for the messages of a missing, empty or blank-lined file. Blank lines at the
    end (an editor's extra newline) are skipped; one between lines of content is an error."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file; expected a file of {expected}")
    where = Where(str(path))
    count, blank, content = 0, None, False
    with path.open("rb") as handle:
        for count, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise where.error(count, f"invalid UTF-8 at byte {exc.start} of the line", "UTF-8 text") from exc
            text = text.rstrip("\r\n")
            if count == 1:
                text = text.removeprefix("\ufeff")  # byte-order mark of files saved on Windows
            if not text.strip():
                blank = blank or count
                continue
            if blank is not None:
                raise where.error(blank, "blank line", expected)
            content = True
            yield count, text
    if not content:
        raise where.error(1, "empty file", expected)


def read_table(
    path: Path, columns: Sequence[str], header: bool, sep: str | None = "\t"
) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of every data row of a delimited file with exactly `columns`.

    header=True: the first line must be exactly the column names and is skipped; the same
    row again further down (two files concatenated) is rejected.
    header=False: a line that starts with a column-like name is rejected, on the first line
    or further down, since reading it as data would add a passage called "pid". sep=None
    splits on any run of spaces or tabs (TREC qrels are written both ways).
    """
    where = Where(str(path))
    layout = (" " if sep is None else sep).join(columns).replace("\t", "<TAB>")
    line = 0
    for line, text in read_lines(path, layout):
        fields = text.split(sep)
        if line == 1 and header:
            if fields != list(columns):
                raise where.error(line, f"first line is {text!r}", f"the header row {layout}")
            continue
        if header and fields == list(columns):
            raise where.error(line, f"a second header row {text!r}", f"data rows ({layout}) after the one header")
        if not header and fields[0].strip().lower() in HEADER_WORDS:
            raise where.error(line, f"header row {text!r}", f"data rows only ({layout}), no header")
        if len(fields) != len(columns):
            raise where.error(line, f"{len(fields)} field(s)", f"{len(columns)} fields: {layout}")
        yield line, fields
    if header and line == 1:
        raise where.error(2, "no data rows after the header", f"rows of {layout}")


def read_jsonl(
    path: Path, required: Sequence[str], optional: Sequence[str] = ()
) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, string fields) of every JSON object line; other keys are ignored
    (BEIR corpora carry free-form metadata), missing optional keys read as ""."""
    where = Where(str(path))
    expected = f"one JSON object per line with string fields {list(required)}"
    for line, text in read_lines(path, expected):
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            first = text.replace(",", "\t").split("\t")[0].strip().strip('"').lower()
            if line == 1 and first in HEADER_WORDS:  # a table export's column names
                raise where.error(line, f"header row {text!r}", f"{expected}, no header") from exc
            raise where.error(line, f"malformed JSON ({exc.msg} at column {exc.colno})", expected) from exc
        if not isinstance(record, dict):
            raise where.error(line, f"a JSON {type(record).__name__}", expected)
        missing = [key for key in required if key not in record]
        if missing:
            raise where.error(line, f"missing field(s) {missing}", expected)
        fields = {key: record.get(key, "") for key in (*required, *optional)}
        for key, value in fields.items():
            if not isinstance(value, str):
                raise where.error(line, f"field {key!r} has type {type(value).__name__}", "a string")
        yield line, fields


def checked_texts(
    rows: Iterable[tuple[int, str, str]], where: Where, kind: str, seen: set[str]
) -> Iterator[tuple[str, str]]:
    """(id, text) of (position, id, text) rows, rejecting empty ids and texts and any id
    already in `seen` (which it extends, so several files can share one id space)."""
    for position, key, text in rows:
        if not key.strip():
            raise where.error(position, f"empty {kind} id", f"a non-empty {kind} id")
        if key in seen:
            raise where.error(position, f"duplicate {kind} id {key!r}", "each id once")
        seen.add(key)
        if not text.strip():
            raise where.error(position, f"empty {kind} text for id {key!r}", f"non-empty {kind} text")
        yield key, text


def checked_pairs(
    rows: Iterable[tuple[int, str, str, str | None]], where: Where, queries: Container[str], queries_from: str
) -> list[Pair]:
    """Positive pairs of (position, query id, passage id, relevance or None) rows.

    Relevance must be an integer; rows with relevance <= 0 are dropped before any id check,
    as they add nothing to the data. A query id must be in `queries` (read from
    `queries_from`); passage ids are checked by the caller once the corpus is read. A
    repeated pair is rejected, as it would count twice in the data size D.
    """
    pairs: list[Pair] = []
    seen: set[tuple[str, str]] = set()
    for position, qid, pid, relevance in rows:
        if relevance is not None:
            try:
                grade = int(relevance)
            except ValueError as exc:
                raise where.error(position, f"relevance {relevance!r}", "an integer relevance") from exc
            if grade <= 0:
                continue
        if qid not in queries:
            raise where.error(position, f"unknown query id {qid!r}", f"an id from {queries_from}")
        if (qid, pid) in seen:
            raise where.error(position, f"duplicate pair ({qid!r}, {pid!r})", "each pair once")
        seen.add((qid, pid))
        pairs.append(Pair(qid, pid, where, position))
    return pairs
