"""An append-only results store: one JSON line per finished (or failed) training run.

Why JSON lines: a record is appended with a single `write` + `fsync`, so a crash can at worst
leave one partial last line, which `records` skips and the next `append` cuts off before
writing; finished runs are never rewritten. Any other damage (an edited or corrupted line in
the middle) is an error naming the line, never a silently shorter table.
Each record is keyed by `run_id`, a stable hash of the run's full configuration, which is
how a restarted sweep knows what it has already done.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd


def config_hash(config: Mapping[str, Any]) -> str:
    """Stable 16-hex-digit key of a run configuration (order of keys does not matter)."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


class ResultsStore:
    """Run records in `path` (a .jsonl file), appended atomically, read tolerantly."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def append(self, record: Mapping[str, Any]) -> None:
        """Append one record; it must carry a `run_id` and a `status`."""
        for key in ("run_id", "status"):
            if key not in record:
                raise ValueError(f"a run record needs a {key!r} field; got keys {sorted(record)}")
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

    def records(self) -> list[dict[str, Any]]:
        """Every complete record, in the order written; a torn last line is ignored."""
        if not self.path.exists():
            return []
        records = []
        expected = "one JSON run record per line with 'run_id' and 'status' (only a last line cut short by a crash is skipped)"
        with open(self.path, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                if not raw.endswith(b"\n"):
                    break  # a write cut short by a crash: the run will simply be redone
                try:
                    record = json.loads(raw.decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                    raise ValueError(f"{self.path} line {number}: not a JSON record ({exc}); expected {expected}") from exc
                if not isinstance(record, dict) or not {"run_id", "status"} <= set(record):
                    found = sorted(record) if isinstance(record, dict) else f"a JSON {type(record).__name__}"
                    raise ValueError(f"{self.path} line {number}: {found}; expected {expected}")
                records.append(record)
        return records

    def finished(self) -> dict[str, dict[str, Any]]:
        """Finished records by run id (the latest wins if a run was recorded twice)."""
        return {r["run_id"]: r for r in self.records() if r["status"] == "finished"}

    def to_frame(self, run_ids: Iterable[str] | None = None) -> pd.DataFrame:
        """Records as a flat table (nested config fields become `config.<name>` columns)."""
        records = self.records()
        if run_ids is not None:
            wanted = set(run_ids)
            records = [r for r in records if r["run_id"] in wanted]
        return pd.json_normalize(records)


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
