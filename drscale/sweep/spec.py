"""A sweep described by its knobs: which data, which training preset, which grid of runs.

A spec file runs from the command line on a cluster (`python -m drscale sweep SPEC`), and the
sweep notebooks' parameters are the same keys (`SweepSpec.for_data`), so a study is
reproducible from one small file and a notebook's knobs mean what a spec's mean. JSON works
everywhere; TOML needs Python 3.11+ (tomllib).

    {
      "data_dir": "data", "dataset": "docstrings", "store": "data/runs/results.jsonl",
      "preset": "cpu", "train": {"steps": 200},
      "evaluation": {"negatives": 256, "repeats": 10},
      "grid": {"models": ["L1_H16", "L1_H32"], "data_sizes": [1024, 4096], "seeds": [521],
               "embedding_dims": [768], "replicates": 1}
    }

`embedding_dims` makes the embedding dimension an axis (768 when left out). `replicates`
repeats every point that many times, replicate r with training seed and init seed both
moved by r: seed noise of the whole run (initial weights, batch order, dropout), which the
fits carry into their intervals through each point's mean (`drscale.fit.points`; replicate 0
is the run a sweep without replicates makes).
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import pandas as pd

from drscale.common.device import device_named
from drscale.common.values import is_integer
from drscale.data.corpus import RetrievalData
from drscale.measure.config import EvalConfig
from drscale.model.encoder import OUTPUT_DIM, expand_models
from drscale.study import Study
from drscale.sweep.config import RunConfig
from drscale.sweep.executors import Backend, LocalBackend
from drscale.sweep.regime import Regime, study_regime
from drscale.sweep.runner import run_sweep

GRID_KEYS = {"models", "data_sizes", "seeds", "init_seeds", "embedding_dims", "replicates"}
TOP_KEYS = {"data_dir", "dataset", "store", "preset", "pretraining", "train", "evaluation", "grid", "workers", "threads",
            "device", "save_models"}


@dataclass(frozen=True)
class SweepSpec:
    """A parsed, validated sweep spec; `configs()` expands its grid into runs."""

    data_dir: str
    dataset: str
    store: str
    preset: str = "cpu"
    pretraining: str | None = None  # None: the preset's start; "none" or "ict" (drscale.sweep.regime.study_regime)
    train: dict[str, Any] = field(default_factory=dict)
    evaluation: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, list] = field(default_factory=dict)
    workers: int | None = None
    threads: int = 1  # torch threads of each run (part of its id when not 1)
    device: str | None = None
    save_models: bool = False  # keep every model trained as a sentence-transformers folder (`checkpoint_dir`)

    @classmethod
    def from_file(cls, path: str | Path) -> SweepSpec:
        """Read a .json or .toml spec; paths inside it are relative to the spec's folder."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"sweep spec {path} does not exist")
        if path.is_dir():
            raise ValueError(f"sweep spec {path} is a folder; pass the spec file in it")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as error:
            raise ValueError(f"sweep spec {path} is not UTF-8 text (byte {error.start}); save it as UTF-8") from None
        if path.suffix == ".toml":
            try:
                import tomllib  # Python 3.11+
            except ModuleNotFoundError:
                raise ValueError(f"sweep spec {path}: TOML needs Python 3.11+; write the same keys as JSON") from None
            try:
                raw = tomllib.loads(text)
            except tomllib.TOMLDecodeError as error:
                raise ValueError(f"{path}: not valid TOML ({error})") from None
        else:
            try:
                raw = json.loads(text)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path} line {error.lineno}: not valid JSON ({error.msg})") from None
        return cls.from_dict(raw, base=path.parent, source=str(path))

    @classmethod
    def from_dict(cls, raw: dict[str, Any], base: Path = Path("."), source: str = "sweep spec") -> SweepSpec:
        _check_types(raw, source)
        unknown = sorted(set(raw) - TOP_KEYS)
        if unknown:
            raise ValueError(f"{source}: unknown key(s) {unknown}; known: {sorted(TOP_KEYS)}")
        grid = raw.get("grid", {})
        unknown = sorted(set(grid) - GRID_KEYS)
        if unknown:
            raise ValueError(f"{source}: unknown grid key(s) {unknown}; known: {sorted(GRID_KEYS)}")
        for key in ("models", "data_sizes"):
            if not isinstance(grid.get(key), list) or not grid[key]:
                raise ValueError(f"{source}: grid.{key} must be a non-empty list; got {grid.get(key)!r}")
        replicates = grid.get("replicates", 1)
        if not is_integer(replicates) or replicates < 1:
            raise ValueError(f"{source}: grid.replicates must be a positive integer; got {replicates!r}")
        for key in ("seeds", "init_seeds", "embedding_dims"):
            if key in grid and (not isinstance(grid[key], list) or not grid[key]):
                raise ValueError(f"{source}: grid.{key} must be a non-empty list when given (leave it out for the "
                                 f"default); got {grid[key]!r}")
        unknown = sorted(set(raw.get("evaluation", {})) - {f.name for f in fields(EvalConfig)})
        if unknown:
            raise ValueError(f"{source}: unknown evaluation key(s) {unknown}")
        data_dir = base / raw.get("data_dir", "data")
        spec = cls(
            data_dir=str(data_dir),
            dataset=raw.get("dataset", "docstrings"),
            store=str(base / raw["store"]) if "store" in raw else str(Study(data_dir).store_path),
            preset=raw.get("preset", "cpu"),
            pretraining=raw.get("pretraining"),
            train=dict(raw.get("train", {})),
            evaluation=dict(raw.get("evaluation", {})),
            grid={k: v if k == "replicates" else list(v) for k, v in grid.items()},
            workers=raw.get("workers"),
            threads=raw.get("threads", 1),
            device=raw.get("device"),
            save_models=raw.get("save_models", False),
        )
        if not isinstance(spec.save_models, bool):
            raise ValueError(f"{source}: save_models must be true or false; got {spec.save_models!r}")
        try:
            spec.configs()  # every run is built once here, so a bad value fails before any training
            if spec.workers is not None:
                LocalBackend(spec.workers)
            if spec.device is not None:
                device_named(spec.device)  # whether this machine has it is checked where the sweep runs
        except ValueError as error:
            raise ValueError(f"{source}: {error}") from None
        return spec

    @classmethod
    def for_data(cls, study: Study, data: RetrievalData, **keys: Any) -> SweepSpec:
        """The spec a sweep notebook's parameters describe: `keys` as in a spec file, over the
        results store of `study`, on `data` (the prepared set `keys["dataset"]`); a data size of
        None in the grid is every training pair of `data`."""
        grid = dict(keys.pop("grid", {}))
        if isinstance(grid.get("data_sizes"), list):
            grid["data_sizes"] = [data.n_train_pairs if size is None else size for size in grid["data_sizes"]]
        return cls.from_dict({"data_dir": str(study.root), "store": str(study.store_path), **keys, "grid": grid},
                             source="notebook parameters")

    def regime(self) -> Regime:
        """The preset's regime with the spec's `train` settings (a `learning_rate` sets one rate for every size)."""
        overrides = dict(self.train)
        return study_regime(self.preset, learning_rate=overrides.pop("learning_rate", None),
                            pretraining=self.pretraining, **overrides)

    def eval_config(self) -> EvalConfig:
        """How the runs' contrastive entropy is measured: the spec's `evaluation` over EvalConfig's defaults."""
        return EvalConfig(**self.evaluation)

    def configs(self) -> list[RunConfig]:
        """One run per (model, data size, embedding dimension, training seed, init seed,
        replicate) of the grid, each model at the preset's rate for its size unless `train`
        sets `learning_rate` for all."""
        for key in ("models", "data_sizes", "embedding_dims", "seeds", "init_seeds"):
            repeated = [value for value, count in Counter(map(str, self.grid.get(key, []))).items() if count > 1]
            if repeated:
                raise ValueError(f"grid.{key} lists {', '.join(repeated)} more than once; list each value once "
                                 f"(grid.replicates repeats every run with other seeds)")
        regime = self.regime()
        evaluation = self.eval_config()
        seeds = self.grid.get("seeds", [regime.train.seed])
        init_seeds = self.grid.get("init_seeds", [0])
        dims = self.grid.get("embedding_dims", [OUTPUT_DIM])
        runs = []
        for model, size, dim, seed, init, replicate in itertools.product(
            expand_models(self.grid["models"]), self.grid["data_sizes"], dims, seeds, init_seeds,
            range(self.grid.get("replicates", 1)),
        ):
            run = regime.run_config(model, size, evaluation)
            runs.append(replace(run, train=replace(run.train, seed=seed + replicate), init_seed=init + replicate,
                                threads=self.threads, embedding_dim=dim))
        twice = [f"{r.model} D={r.data_size} d={r.embedding_dim} seed {r.train.seed} init {r.init_seed}"
                 for r, count in Counter(runs).items() if count > 1]
        if twice:
            raise ValueError(f"the grid makes the same run more than once ({'; '.join(twice)}): replicate r moves the "
                             f"training and init seeds by r, so seeds and init_seeds must not be r apart")
        return runs

    @property
    def checkpoint_dir(self) -> Path | None:
        """Where trained models are kept when `save_models` (the study's checkpoints folder), else None."""
        return Study(self.data_dir).checkpoints if self.save_models else None

    def run(self, data: RetrievalData, progress: bool = True, backend: Backend | None = None,
            configs: Sequence[RunConfig] | None = None) -> pd.DataFrame:
        """Run the grid (or those of its `configs` given) on `data` (the prepared set `dataset`)
        into the spec's store, on a local pool of `workers` unless `backend` says otherwise;
        return the sweep's table."""
        return run_sweep(self.configs() if configs is None else list(configs), data, self.store, device=self.device,
                         progress=progress, backend=backend or LocalBackend(self.workers),
                         checkpoint_dir=self.checkpoint_dir)


def _check_types(raw: Any, source: str) -> None:
    """Refuse a spec whose keys hold the wrong kind of value, naming the key, before anything
    reads them (a list where an object belongs, a number where a path or a model name does)."""
    if not isinstance(raw, dict):
        raise ValueError(f"{source}: a spec is an object of keys ({', '.join(sorted(TOP_KEYS))}); got {type(raw).__name__}")
    for key in ("grid", "train", "evaluation"):
        if key in raw and not isinstance(raw[key], dict):
            raise ValueError(f"{source}: {key} must be an object of settings; got {raw[key]!r}")
    for key in ("data_dir", "dataset", "store", "preset", "pretraining", "device"):
        may_be_null = key in ("pretraining", "device")  # null: the preset's start, the best device here
        if key in raw and not isinstance(raw[key], str) and not (may_be_null and raw[key] is None):
            raise ValueError(f"{source}: {key} must be text{' or null' if may_be_null else ''}; got {raw[key]!r}")
    grid = raw.get("grid", {})
    for key in ("models", "data_sizes", "seeds", "init_seeds", "embedding_dims"):
        values = grid.get(key)
        if not isinstance(values, list):
            continue  # missing or not a list: from_dict says which
        wanted, ok = ("model names", lambda v: isinstance(v, str)) if key == "models" else ("integers", is_integer)
        bad = [v for v in values if not ok(v)]
        if bad:
            raise ValueError(f"{source}: grid.{key} must list {wanted}; got {bad[0]!r}")
