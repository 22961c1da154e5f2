"""A run's record: its schema, the `RunRecord` type the results store returns, and the tables made from records.

A record is the JSON object one run leaves in the store: what ran (`RecordHead`: the run id,
config, model, data, versions), then either its measurements (status "finished") or why it
failed. Whether a run finished is decided here once (`RunRecord.finished`), and every table
of runs (`records_table`, `results_table`, `learning_curves`) is made here from records, so
the readers of a store (sweeps, fits, studies, notebooks) agree on what a run is.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import pandas as pd

from drscale.common.files import write_text_atomic
from drscale.common.values import geometric_mean
from drscale.model.encoder import MODEL_SIZES, OUTPUT_DIM, encoder_params
from drscale.study import Study


def _is_int(value: Any) -> bool:
    """A JSON integer: stricter than `values.is_integer`, since a numpy integer is no JSON and the store could not write it."""
    return isinstance(value, int) and not isinstance(value, bool)


def _is_finite(value: Any) -> bool:
    """A finite JSON number (Python int or float only, as `_is_int`)."""
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
what each must hold: what the tables, fits and notebooks read from it (`drscale.sweep.run.run_one`
writes them all)."""

OPTIONAL_FIELDS: dict[str, FieldCheck] = {
    "n_params": _COUNT, "encoder_params": _COUNT, "embedding_dim": _COUNT, "seed": _INT, "steps": _COUNT,
    "best_step": _STEP_OR_NULL, "dev_ce": _NUMBER_OR_NULL, "train_time_s": _NUMBER_OR_NULL, "ranking": _METRICS, "dev_curve": _CURVE,
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


@dataclass(frozen=True)
class RecordHead:
    """The fields every record of a run carries, finished or failed: what ran, on which data, with what."""

    run_id: str
    config: dict[str, Any]
    model: str
    data_size: int
    seed: int
    threads: int
    data: dict[str, Any]  # name, fingerprint, test_fingerprint
    versions: dict[str, str]

    @classmethod
    def of(cls, record: Mapping[str, Any]) -> dict[str, Any]:
        """The head fields of `record` (those it has)."""
        return {f.name: record[f.name] for f in fields(cls) if f.name in record}


class RunRecord(Mapping[str, Any]):
    """One run's record as the store holds it: read like the JSON object it is
    (`record["ce"]`), with the facts every reader needs as properties."""

    __slots__ = ("_fields",)

    def __init__(self, fields: Mapping[str, Any]) -> None:
        self._fields = dict(fields)

    def __getitem__(self, key: str) -> Any:
        return self._fields[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __repr__(self) -> str:
        return f"RunRecord({self.status} {self.model} D={self.data_size} run {self.run_id})"

    @property
    def run_id(self) -> str:
        return self._fields["run_id"]

    @property
    def status(self) -> str:
        return self._fields["status"]

    @property
    def finished(self) -> bool:
        """The run trained and was measured; a failed run has an `error` instead of a CE."""
        return self._fields["status"] == "finished"

    @property
    def model(self) -> str:
        return self._fields["model"]

    @property
    def data_size(self) -> int:
        return self._fields["data_size"]

    @property
    def ce(self) -> float | None:
        """Contrastive entropy on the test pairs; None for a failed run."""
        return self._fields.get("ce")

    @property
    def error(self) -> str | None:
        return self._fields.get("error")

    @property
    def data_fingerprint(self) -> str | None:
        return (self._fields.get("data") or {}).get("fingerprint")

    @property
    def test_fingerprint(self) -> str | None:
        """The fingerprint of what the run was tested on (corpus, test queries and positives),
        which runs of other training pairs over the same data share."""
        data = self._fields.get("data") or {}
        return data.get("test_fingerprint") or data.get("fingerprint")

    @property
    def evaluation(self) -> str:
        """The measurement settings, e.g. "W256 R10 pool4096 seed1" (`evaluation_label`)."""
        return evaluation_label(self._fields["config"]["evaluation"])

    def row(self) -> dict[str, Any]:
        """The run as a row of a sweep table (`TABLE_COLUMNS`)."""
        row = {column: self._fields.get(column) for column in TABLE_COLUMNS}
        config = self._fields["config"]
        row["init_seed"] = config.get("init_seed", 0)
        row["embedding_dim"] = config.get("embedding_dim", OUTPUT_DIM)  # records from before d was a setting
        if row["encoder_params"] is None and row["model"] in MODEL_SIZES:  # and before runs counted it
            row["encoder_params"] = encoder_params(row["model"])
        row["data_fingerprint"] = self.data_fingerprint
        row["evaluation"] = self.evaluation
        return row


TABLE_COLUMNS = ("run_id", "model", "n_params", "data_size", "seed", "init_seed", "embedding_dim", "encoder_params",
                 "steps", "best_step", "dev_ce", "ce", "train_time_s", "data_fingerprint", "evaluation")
"""A sweep table's columns; the last two say what a CE was measured on and how, so runs of
other data or other measurement settings are never compared unawares. `encoder_params` (N
without the projection) of a run recorded before runs counted it is counted from its size
name, and is empty for other models."""


def evaluation_label(evaluation: Mapping[str, Any]) -> str:
    """The measurement settings of a record in one short string, e.g. "W256 R10 pool4096 seed1"."""
    pool = evaluation.get("pool_size") or "all"
    return f"W{evaluation['negatives']} R{evaluation['repeats']} pool{pool} seed{evaluation['seed']}"


def latest_finished(records: Iterable[RunRecord]) -> dict[str, RunRecord]:
    """Finished records by run id; a run recorded twice keeps its latest record."""
    return {r.run_id: r for r in records if r.finished}


def records_table(records: Iterable[RunRecord], run_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """The finished runs among `records` (those of `run_ids`, in that order, when given) as a
    sweep table, one row each with the columns of `TABLE_COLUMNS`."""
    finished = latest_finished(records)
    wanted = finished if run_ids is None else [i for i in dict.fromkeys(run_ids) if i in finished]
    return pd.DataFrame([finished[run_id].row() for run_id in wanted], columns=list(TABLE_COLUMNS))


def results_table(store, run_ids: Sequence[str]) -> pd.DataFrame:
    """`records_table` of the runs `run_ids` in `store` (a `ResultsStore`).

    Runs that failed and never finished are left out, with a warning that names them, so no
    fit is ever given a diverged run without the reader knowing.
    """
    records = store.records()
    finished = latest_finished(records)
    failed = {r.run_id: r for r in records if not r.finished and r.run_id not in finished}
    left_out = [failed[run_id] for run_id in dict.fromkeys(run_ids) if run_id in failed]
    if left_out:
        described = "; ".join(f"{r.model} D={r.data_size}: {r.error or 'failed'}" for r in left_out)
        warnings.warn(f"{len(left_out)} failed run(s) left out of the table: {described}", stacklevel=2)
    return records_table(records, run_ids)


CURVE_COLUMNS = ("run_id", "model", "n_params", "data_size", "step", "dev_ce", "train_loss", "wall_s", "selected")


def learning_curves(store, run_ids: Sequence[str]) -> pd.DataFrame:
    """Dev learning curves of the finished runs among `run_ids` in `store`, one row per dev
    measurement; `selected` marks the measurement whose checkpoint the run reports."""
    finished = store.finished()
    rows = [
        {"run_id": run_id, "model": record.model, "n_params": record["n_params"], "data_size": record.data_size,
         **point, "selected": point["step"] == record.get("best_step")}
        for run_id in dict.fromkeys(run_ids) if run_id in finished
        for record in (finished[run_id],)
        for point in record.get("dev_curve") or []
    ]
    return pd.DataFrame(rows, columns=list(CURVE_COLUMNS))


def save_table(table: pd.DataFrame, data_dir: str | os.PathLike | None, name: str) -> Path:
    """Write a sweep table where the fitting notebook reads it (`Study.table`), atomically: a
    crash leaves the previous table, not half of the new one."""
    return write_text_atomic(Study(data_dir).table(name), table.to_csv(index=False))


def trend_summary(table: pd.DataFrame, x: str, chance: float) -> str:
    """One sentence on a sweep table along `x` ("n_params", "data_size" or "embedding_dim", the
    only setting that varies in `table`): how often CE falls as `x` grows, the runs at one `x`
    (seeds) taken at their geometric mean, from what to what, how many runs beat chance
    (`chance`, ln(W + 1)), and the training time, so a reader sees at once whether the sweep
    looks like a law."""
    symbol = {"n_params": "N", "data_size": "D", "embedding_dim": "d"}.get(x, x)
    by_x = table.groupby(x).ce
    means = by_x.apply(geometric_mean)  # the runs of one x: one point
    falls = int((means.diff().dropna() < 0).sum())
    seeds = by_x.size()
    per_point = f" (the mean of {seeds.min()}{'' if seeds.min() == seeds.max() else f'-{seeds.max()}'} runs each)" \
        if seeds.max() > 1 else ""
    return (f"CE falls at {falls} of {len(means) - 1} steps up in {symbol}{per_point}; from {means.iloc[0]:.3f} "
            f"({symbol}={means.index[0]:,}) to {means.iloc[-1]:.3f} ({symbol}={means.index[-1]:,}); "
            f"{int((table.ce < chance).sum())} of {len(table)} runs below chance (ln {math.exp(chance):.0f} = "
            f"{chance:.3f}); training took {table.train_time_s.sum():.0f} s in all")
