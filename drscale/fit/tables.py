"""The runs a law is fitted to: sweep tables read from a study, failed runs left out, one study checked.

A law is fitted to finished runs of one data set measured one way. Everything here guards
that before any fitting starts, and names what it leaves out or refuses.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from drscale.study import Study

SWEEP_COLUMNS = ("run_id", "model", "n_params", "data_size", "seed", "ce")
SWEEP_NOTEBOOKS = {"model_size": "02_model_size_sweep", "data_size": "03_data_size_sweep", "joint": "04_joint_sweep",
                   "embedding_dim": "10_embedding_dim_sweep"}
STUDY_COLUMNS = ("data_fingerprint", "evaluation")
"""Sweep-table columns saying what each CE was measured on and how (`drscale.sweep.records.TABLE_COLUMNS`)."""
STORE_STUDY_COLUMNS = ("data.fingerprint", "config.evaluation.negatives", "config.evaluation.repeats",
                       "config.evaluation.pool_size", "config.evaluation.seed")
"""The same, as `ResultsStore.to_frame()` spells them."""


def usable_runs(runs: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """(the runs that can carry a law, a description of each one left out).

    A run is left out when it did not finish (a `status` column other than "finished", as in
    `ResultsStore.to_frame()`) or its CE is missing or not finite: a diverged run has no CE,
    and fitting on a stand-in value would bend the law silently.
    """
    ce = pd.to_numeric(runs["ce"], errors="coerce") if "ce" in runs else pd.Series(np.nan, index=runs.index)
    failed = ~np.isfinite(ce.to_numpy(dtype=float))
    if "status" in runs:
        failed |= (runs["status"] != "finished").to_numpy()
    described = []
    for _, row in runs[failed].iterrows():
        name = ", ".join(f"{key}={row[key]}" for key in ("model", "data_size") if key in row and pd.notna(row[key]))
        error = row.get("error") if isinstance(row.get("error"), str) else f"ce is {row.get('ce')}"
        described.append(f"{row.get('run_id', '?')} ({name}): {error}")
    return runs[~failed], list(dict.fromkeys(described))  # a run that failed twice is named once


POINT_SETTINGS = ("model", "n_params", "data_size", "embedding_dim", "steps")
"""Run settings that the runs of one point (the same values of a law's variables) must share:
only their seeds may differ, or a point's mean would average other settings as if they were
seed noise (a whole results store mixes the model-size and data-size sweeps)."""


def check_points_differ_only_in_seed(runs: pd.DataFrame, variables: Sequence[str], source: str) -> None:
    """Refuse runs that fall on one point of the law (equal `variables`) but differ in a
    setting of `POINT_SETTINGS` other than the law's own variables, naming the point, the
    setting and its values. `source` begins the error (which fit)."""
    settings = [c for c in POINT_SETTINGS if c in runs and c not in variables]
    for point, group in runs.groupby(list(variables), sort=True):
        for setting in settings:
            values = group[setting].dropna().unique()
            if len(values) > 1:
                at = ", ".join(f"{v}={_shown(x)}" for v, x in zip(variables, point if isinstance(point, tuple) else (point,)))
                raise ValueError(f"{source}: the runs at {at} differ in {setting} ({', '.join(str(_shown(x)) for x in sorted(values))}); "
                                 f"the runs of one point may differ only in seed: fit one sweep's table, or select "
                                 f"the runs of one {setting} first")


def check_one_study(runs: pd.DataFrame, source: str) -> None:
    """Refuse runs of several data sets or CE measurements, naming each group and its runs.

    A law is fitted to runs of one data set measured one way: CE depends on the data and on
    W, R and the pool as well as on N and D, so a table mixing them would bend the law by the
    difference between measurements. The groups are read from the columns of `STUDY_COLUMNS`
    or `STORE_STUDY_COLUMNS` present (missing values count as a group of their own); a table
    with none of them (a sweep table written before they were recorded) passes unchecked.
    `source` begins the error (a file, or which fit).
    """
    columns = [c for c in (*STUDY_COLUMNS, *STORE_STUDY_COLUMNS) if c in runs]
    if not columns:
        return
    counts = runs.groupby(columns, dropna=False, sort=False).size().sort_values(ascending=False, kind="stable")
    if len(counts) > 1:
        keys = [key if isinstance(key, tuple) else (key,) for key in counts.index]
        described = "; ".join(", ".join(f"{c}={_shown(v)}" for c, v in zip(columns, key)) + f": {n} run(s)"
                              for key, n in zip(keys, counts))
        tests = [f"runs[{c!r}].isna()" if _shown(v) is None else f"(runs[{c!r}] == {_shown(v)!r})"
                 for c, v in zip(columns, keys[0]) if runs[c].nunique(dropna=False) > 1]
        example = f"runs[{' & '.join(tests)}]"
        raise ValueError(f"{source}: the runs span {len(counts)} groups of data set and CE measurement ({described}); "
                         f"expected the runs of one data set measured one way: select one group first, e.g. {example}")


def _shown(value: object) -> object:
    """A group's value as a reader would write it: whole floats as ints (a pool size read back
    from a CSV column with gaps is a float), missing as None."""
    if isinstance(value, float):
        return None if math.isnan(value) else int(value) if value.is_integer() else value
    return value.item() if isinstance(value, np.generic) else value


def read_sweep_table(data_dir: str | os.PathLike, sweep: str, required: bool = True) -> pd.DataFrame | None:
    """Read the table of `sweep` in the study at `data_dir` (`Study.table`), written by that sweep's notebook.

    A missing optional table gives None; a missing required one says which notebook makes it.
    Failed runs are left out, named in a warning. A table whose runs span several data sets
    or CE measurements is refused (`check_one_study`); one written before sweep tables
    recorded them still loads, with a warning that this could not be checked.
    """
    if sweep not in SWEEP_NOTEBOOKS:
        raise ValueError(f"sweep={sweep!r} is unknown; choose one of {sorted(SWEEP_NOTEBOOKS)}")
    path = Study(data_dir).table(sweep)
    if not path.exists():
        if not required:
            return None
        raise FileNotFoundError(f"{path} does not exist: run notebooks/{SWEEP_NOTEBOOKS[sweep]}.ipynb first")
    table = pd.read_csv(path)
    missing = [c for c in SWEEP_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected {list(SWEEP_COLUMNS)}")
    kept, excluded = usable_runs(table)
    if excluded:
        warnings.warn(f"{path}: {len(excluded)} failed run(s) left out: {'; '.join(excluded)}", stacklevel=2)
    check_one_study(kept, str(path))
    unrecorded = [c for c in STUDY_COLUMNS if c not in table.columns]
    if unrecorded:
        warnings.warn(f"{path}: no column(s) {unrecorded} (a table written before sweeps recorded them), so whether "
                      f"its runs share one data set and one CE measurement cannot be checked; re-run "
                      f"notebooks/{SWEEP_NOTEBOOKS[sweep]}.ipynb to rewrite it with them", stacklevel=2)
    return kept.reset_index(drop=True)


def read_sweep_tables(data_dir: str | os.PathLike) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
    """The model-size, data-size and (optional, else None) joint sweep tables of the study at `data_dir`.

    The laws fitted to them are used together (notebook 06), so their runs must all share one
    data set and one CE measurement; tables that do not are refused (`check_one_study`).
    """
    model_size, data_size = read_sweep_table(data_dir, "model_size"), read_sweep_table(data_dir, "data_size")
    joint = read_sweep_table(data_dir, "joint", required=False)
    together = pd.concat([t for t in (model_size, data_size, joint) if t is not None])
    check_one_study(together, f"{Study(data_dir).results} (the tables fitted together)")
    return model_size, data_size, joint


def within_hidden_size(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs of an embedding-dimension sweep whose projection is no wider than the encoder's
    hidden size H: beyond it a Linear(H, d) adds no rank, so the scores it can express do not
    change with d, and what CE still gains there comes from optimisation (the scale of the
    initial scores grows with d), not from the vectors' capacity. H is read from the table:
    the projection has H * d + d parameters, N less the encoder's (`encoder_params`)."""
    hidden = (runs.n_params - runs.encoder_params) / runs.embedding_dim - 1
    unknown = runs[hidden.isna()]
    if len(unknown):
        raise ValueError(f"{len(unknown)} run(s) have no encoder_params ({', '.join(map(str, unknown.model.unique()))}), "
                         f"so their hidden size is unknown: re-run them with this version of drscale")
    return runs[runs.embedding_dim <= hidden.round()].reset_index(drop=True)
