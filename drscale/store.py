"""An append-only results store: one JSON line per finished (or failed) training run.

Why JSON lines: a record is appended with a single `write` + `fsync`, so a crash can at worst
leave one partial last line, which `read_records` skips; finished runs are never rewritten.
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
        line = json.dumps(record, sort_keys=True, allow_nan=False) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
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
        with open(self.path, encoding="utf-8") as handle:
            for line in handle:
                if not line.endswith("\n"):
                    break  # a write cut short by a crash: the run will simply be redone
                records.append(json.loads(line))
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
