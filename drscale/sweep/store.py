"""An append-only results store: one JSON line per finished (or failed) training run.

Why JSON lines: a record is appended with a single `write` + `fsync`, so a crash can at worst
leave one partial last line, which `records` skips and the next `append` cuts off before
writing; finished runs are never rewritten. Any other damage (an edited or corrupted line in
the middle) is an error naming the line, never a silently shorter table.
Every record read is checked against what its status promises (`RECORD_FIELDS`): a record
that lacks a field, or holds a NaN or a string where a number belongs, is refused naming the
file, the line and the field, instead of surfacing later as a `KeyError` or a NaN in a table.
Each record is keyed by `run_id`, a stable hash of the run's full configuration, which is
how a restarted sweep knows what it has already done.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


FieldCheck = tuple[Callable[[Any], bool], str]
"""A test of one field's value and what it expects, in words."""

_TEXT: FieldCheck = (lambda v: isinstance(v, str) and v != "", "a non-empty string")
_COUNT: FieldCheck = (lambda v: _is_int(v) and v > 0, "a positive integer")
_INT: FieldCheck = (_is_int, "an integer")
_OBJECT: FieldCheck = (lambda v: isinstance(v, dict), "a JSON object")
_CE: FieldCheck = (lambda v: _is_finite(v) and v >= 0, "a finite number >= 0")
_COUNT_OR_NULL: FieldCheck = (lambda v: v is None or (_is_int(v) and v > 0), "a positive integer or null")
_STEP_OR_NULL: FieldCheck = (lambda v: v is None or (_is_int(v) and v >= 0), "a step (an integer >= 0) or null")
_NUMBER_OR_NULL: FieldCheck = (lambda v: v is None or _is_finite(v), "a finite number or null")
_METRICS: FieldCheck = (lambda v: isinstance(v, dict) and all(_is_finite(x) for x in v.values()),
                        "a JSON object of finite numbers (metric name: value)")
_CURVE: FieldCheck = (lambda v: isinstance(v, list) and all(isinstance(p, dict) and _is_int(p.get("step")) for p in v),
                      "a list of JSON objects, each with an integer 'step'")

RECORD_FIELDS: dict[str, dict[str, FieldCheck]] = {
    "finished": {
        "model": _TEXT, "n_params": _COUNT, "data_size": _COUNT, "ce": _CE,
        "data": _OBJECT, "data.fingerprint": _TEXT,
        "config": _OBJECT, "config.evaluation": _OBJECT, "config.evaluation.negatives": _COUNT,
        "config.evaluation.repeats": _COUNT, "config.evaluation.seed": _INT,
    },
    "failed": {"model": _TEXT, "data_size": _COUNT, "error": _TEXT},
}
"""The fields a record of each status must carry (dotted names reach into nested objects) and
what each must hold: what the tables, fits and notebooks read from it (`drscale.sweep.runner.run_one`
writes them all)."""

OPTIONAL_FIELDS: dict[str, FieldCheck] = {
    "n_params": _COUNT, "seed": _INT, "steps": _COUNT, "best_step": _STEP_OR_NULL, "dev_ce": _NUMBER_OR_NULL,
    "train_time_s": _NUMBER_OR_NULL, "ranking": _METRICS, "dev_curve": _CURVE,
    "data.fingerprint": _TEXT, "config.evaluation.pool_size": _COUNT_OR_NULL,
}
"""Fields a record may lack, checked where present (tables and learning curves read them)."""


LINE_EXPECTED = "one JSON run record per line with 'run_id' and 'status' (only a last line cut short by a crash is skipped)"
"""What a line of a store must be, as its errors say."""


def record_problem(record: Any) -> str | None:
    """What is wrong with a run record, as "<what was found>; expected <what>", or None.

    The one check of a record's shape: `ResultsStore.records` applies it to every line read
    and `ResultsStore.append` to every record written, so nothing a store writes is refused
    when read back.
    """
    if not isinstance(record, dict) or not {"run_id", "status"} <= set(record):
        found = sorted(record) if isinstance(record, dict) else f"a JSON {type(record).__name__}"
        return f"{found}; expected {LINE_EXPECTED}"
    run_id, status = record["run_id"], record["status"]
    if not _TEXT[0](run_id):
        return f"run_id {run_id!r}; expected {_TEXT[1]}"
    if not isinstance(status, str) or status not in RECORD_FIELDS:
        return f"run {run_id!r} has status {status!r}; expected one of {sorted(RECORD_FIELDS)}"
    required = RECORD_FIELDS[status]
    checks = {**required, **{name: check for name, check in OPTIONAL_FIELDS.items() if name not in required}}
    for name, (check, expected) in checks.items():
        present, value = _field(record, name)
        if not present and name in required:
            carried = ", ".join(n for n in required if not any(m.startswith(n + ".") for m in required))
            return (f"{status} run {run_id!r} has no field {name!r}; expected {expected} there "
                    f"(a {status} record carries {carried})")
        if present and not check(value):
            return f"field {name!r} of {status} run {run_id!r} is {_shown(value)}; expected {expected}"
    return None


def _field(record: Mapping[str, Any], dotted: str) -> tuple[bool, Any]:
    """(present, value) of a dotted field name; absent when an object on the way is missing or not an object."""
    value: Any = record
    for key in dotted.split("."):
        if not isinstance(value, dict) or key not in value:
            return False, None
        value = value[key]
    return True, value


def _shown(value: Any, limit: int = 80) -> str:
    """A value as found, shortened for a message; a string says so (the string '3.1' is no number)."""
    text = repr(value)
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return f"the string {text}" if isinstance(value, str) else text


class ResultsStore:
    """Run records in `path` (a .jsonl file), appended atomically, read tolerantly."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def append(self, record: Mapping[str, Any]) -> None:
        """Append one record; it must pass `record_problem` (a `run_id`, a `status` and that
        status's fields), so that nothing is written that `records` would refuse."""
        for key in ("run_id", "status"):
            if key not in record:
                raise ValueError(f"a run record needs a {key!r} field; got keys {sorted(record)}")
        problem = record_problem(dict(record))
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

    def records(self) -> list[dict[str, Any]]:
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
