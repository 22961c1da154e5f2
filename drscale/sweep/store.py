"""An append-only results store: one JSON line per finished (or failed) training run.

Why JSON lines: a record is appended with a single `write` + `fsync`, so a crash can at worst
leave one partial last line, which `records` skips and the next `append` cuts off before
writing; finished runs are never rewritten. Any other damage (an edited or corrupted line in
the middle) is an error naming the line, never a silently shorter table.
Every record read is checked against what its status promises (`drscale.sweep.records`): a
record that lacks a field, or holds a NaN or a string where a number belongs, is refused naming
the file, the line and the field, instead of surfacing later as a `KeyError` or a NaN in a table.
Each record is keyed by `run_id`, a stable hash of the run's full configuration, which is
how a restarted sweep knows what it has already done.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from drscale.study import Study
from drscale.sweep.records import LINE_EXPECTED, RunRecord, latest_finished, record_problem


class ResultsStore:
    """Run records in `path` (a .jsonl file), appended atomically, read tolerantly."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise ValueError(f"results store {self.path} is a folder; name a file in it, such as {self.path / 'results.jsonl'}")

    def append(self, record: Mapping[str, Any]) -> None:
        """Append one record; it must pass `record_problem` (a `run_id`, a `status` and that
        status's fields), so that nothing is written that `records` would refuse."""
        for key in ("run_id", "status"):
            if key not in record:
                raise ValueError(f"a run record needs a {key!r} field; got keys {sorted(record)}")
        record = dict(record)
        problem = record_problem(record)
        if problem is not None:
            raise ValueError(f"{self.path}: refusing to append a bad run record: {problem}")
        line = (json.dumps(record, sort_keys=True, allow_nan=False) + "\n").encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                _cut_torn_tail(handle)
                handle.write(line)
                handle.flush()
                os.fsync(handle.fileno())
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def records(self) -> list[RunRecord]:
        """Every complete record, in the order written, each checked by `record_problem`; a torn
        last line is ignored, any other bad line is a `ValueError` naming the file, line and field."""
        if not self.path.exists():
            return []
        records = []
        with open(self.path, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                if not raw.endswith(b"\n"):
                    break  # a write cut short by a crash: the run will simply be redone
                try:
                    record = json.loads(raw.decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                    raise ValueError(f"{self.path} line {number}: not a JSON record ({exc}); expected {LINE_EXPECTED}") from exc
                problem = record_problem(record)
                if problem is not None:
                    raise ValueError(f"{self.path} line {number}: {problem}")
                records.append(RunRecord(record))
        return records

    def finished(self) -> dict[str, RunRecord]:
        """Finished records by run id (the latest wins if a run was recorded twice)."""
        return latest_finished(self.records())

    def to_frame(self, run_ids: Iterable[str] | None = None) -> pd.DataFrame:
        """Records as a flat table (nested config fields become `config.<name>` columns)."""
        records = self.records()
        if run_ids is not None:
            wanted = set(run_ids)
            records = [r for r in records if r["run_id"] in wanted]
        return pd.json_normalize([dict(r) for r in records])


def study_store(data_dir: str | os.PathLike | None = None) -> ResultsStore:
    """The results store every notebook of the study in `data_dir` shares (`Study.store_path`)."""
    return ResultsStore(Study(data_dir).store_path)


def _cut_torn_tail(handle) -> None:
    """Drop a last line left without its newline by a crash, so the next record starts on a
    line of its own instead of gluing onto the fragment (which would corrupt both)."""
    size = handle.seek(0, os.SEEK_END)
    if size == 0:
        return
    handle.seek(size - 1)
    if handle.read(1) == b"\n":
        return
    handle.seek(0)
    handle.truncate(handle.read().rfind(b"\n") + 1)  # rare (after a crash), so one whole read is fine
