"""Training regimes: how the study's models are trained, by preset name, and the CPU study's candidates.

A regime is the training settings, a learning rate per size and a start (random or Inverse
Cloze pre-trained). This module names the regimes the CPU study has tried (a fixed 200-step
budget with the last checkpoint, best-on-dev selection with a budget that reads the data, a
learning rate per size chosen on dev, a pretrained start), the one chosen, and the preset each
notebook and spec asks for; `drscale.studies.training_regime` runs and scores them on dev to choose among them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any


from drscale.measure.config import EvalConfig
from drscale.model.encoder import expand_models
from drscale.sweep.config import RunConfig
from drscale.train.config import CPU_PRESET, PAPER_PRESET, TrainConfig, with_overrides
from drscale.train.pretrain import Pretraining

CPU_MODELS = ("L1_H4", "L1_H8", "L1_H16", "L1_H32", "L1_H64", "L2_H96", "L2_H128")
"""The model-size family of the CPU study: seven sizes, N = 4.1e3 to 5.1e5 (2.1 decades),
each about twice the last, every one trained on all pairs in under three minutes on one
core (L4_H128 took six, too long for the demo)."""

CPU_DATA_SIZES = (128, 256, 512, 1024, 2048, 4096, 8192)
"""The data-size sweep: seven nested subsets doubling from 128 to 8,192 pairs (1.8 decades);
the embedded data's 12,885 training pairs (beside its dev, test and pool splits) hold no 16,384."""

CPU_DATA_MODEL = "L1_H32"
"""The model of the data-size sweep (the paper uses one size, BERT-Base, for its D law)."""

REGIME_EVALUATION = EvalConfig(pool_size=4096, ranking=False)
"""How regime runs are measured: the demo's test pool, no ranking (regimes are scored on dev)."""

LEARNING_RATE_GRID = (1e-3, 2e-3, 4e-3)
"""Rates tried per size (at the full data, best-on-dev); the old fixed rate, 2e-3, sits in the middle."""


@dataclass(frozen=True)
class Regime:
    """A way to train the study's models: the training settings, rates per size, a start."""

    name: str
    description: str
    train: TrainConfig
    learning_rates: Mapping[str, float] | None = None  # per model; None: train.learning_rate for all
    pretraining: Pretraining | None = None

    def run_config(self, model: str, data_size: int, evaluation: EvalConfig) -> RunConfig:
        rate = (self.learning_rates or {}).get(model, self.train.learning_rate)
        return RunConfig(model=model, data_size=data_size, train=replace(self.train, learning_rate=rate),
                         evaluation=evaluation, pretraining=self.pretraining)

    def model_size_grid(self, models: Sequence[str], data_size: int, evaluation: EvalConfig) -> list[RunConfig]:
        """Runs for the model-size law: each model (family names expanded) on `data_size` pairs."""
        return [self.run_config(m, data_size, evaluation) for m in expand_models(models)]

    def data_size_grid(self, model: str, data_sizes: Sequence[int], evaluation: EvalConfig) -> list[RunConfig]:
        """Runs for the data-size law: `model` on nested subsets of each size."""
        return [self.run_config(model, int(d), evaluation) for d in data_sizes]


WATCHED = CPU_PRESET
"""Best-on-dev selection over 12 log-spaced dev measurements, at least 256 steps and at
least one epoch of the run's pairs (the largest data size is read once)."""


def candidate_regimes(learning_rates: Mapping[str, float]) -> dict[str, Regime]:
    """The regimes compared on dev, given the per-size rates a dev search chose."""
    fixed = replace(CPU_PRESET, steps=200, epochs=None, selection="last")
    return {
        regime.name: regime
        for regime in (
            Regime("fixed-200", "random init, 200 steps, last checkpoint, lr 2e-3 (the first demo's)", fixed),
            Regime("best-dev", "random init, >= 256 steps and >= 1 epoch, best-on-dev, lr 2e-3", WATCHED),
            Regime("best-dev+lr", "random init, >= 256 steps and >= 1 epoch, best-on-dev, lr per size chosen on dev", WATCHED,
                   learning_rates=dict(learning_rates)),
            Regime("ict+best-dev+lr", "Inverse Cloze Task pre-training (1 epoch), then as best-dev+lr", WATCHED,
                   learning_rates=dict(learning_rates), pretraining=Pretraining(epochs=1.0)),
        )
    }


CPU_LEARNING_RATE_TRIALS: dict[str, dict[float, float]] = {
    "L1_H4": {1e-3: 5.4081, 2e-3: 5.2024, 4e-3: 5.0859},
    "L1_H8": {1e-3: 4.9888, 2e-3: 4.6620, 4e-3: 4.5567},
    "L1_H16": {1e-3: 4.5254, 2e-3: 4.1654, 4e-3: 3.9594},
    "L1_H32": {1e-3: 3.8177, 2e-3: 3.5594, 4e-3: 3.5800},
    "L1_H64": {1e-3: 3.3413, 2e-3: 3.0223, 4e-3: 3.1512},
    "L2_H96": {1e-3: 3.1487, 2e-3: 3.0327, 4e-3: 3.3795},
    "L2_H128": {1e-3: 2.8696, 2e-3: 2.8635, 4e-3: 5.5491},
}
"""Best dev CE of each CPU size at each rate of `LEARNING_RATE_GRID`: notebook 09's
`drscale.studies.training_regime.learning_rate_search` with `WATCHED` (403 steps, one epoch
of the 12,885 training pairs of the embedded data, fingerprint b0b8c66a3918268e; 256 dev
pairs, 256 negatives from a 512-passage pool), on the development machine (2 cores). The
three smallest sizes chose the top of the grid, so a larger rate might serve them better
still; L2_H128 at 4e-3 collapsed to chance, and chose 2e-3 over 1e-3 by 0.006. On the data
as prepared before it had a pool split (fingerprint 22c4b17a299f559a) the search chose the
same rates but for L1_H32 (4e-3) and L2_H128 (1e-3). Notebook 09 repeats the search and
says whether it agrees."""

CPU_LEARNING_RATES: dict[str, float] = {
    model: min(trials, key=trials.get) for model, trials in CPU_LEARNING_RATE_TRIALS.items()
}
"""The rate each CPU size chose on dev: the lowest dev CE of its trials."""

RECORDED_DEV_SCORES: dict[str, dict[str, str | float]] = {
    "fixed-200": {"N falls": "6/6", "N below chance": "7/7", "N R2": 0.9825, "alpha hi/lo": 6.185, "N extrap. err": 0.01514,
                  "D falls": "6/6", "D below chance": "3/7", "D R2": 0.9637, "beta hi/lo": 4.707, "D extrap. err": 0.08693,
                  "train time (s)": 415.0},
    "best-dev": {"N falls": "5/6", "N below chance": "7/7", "N R2": 0.9864, "alpha hi/lo": 6.64, "N extrap. err": 0.005901,
                 "D falls": "6/6", "D below chance": "5/7", "D R2": 0.9624, "beta hi/lo": 4.469, "D extrap. err": 0.03502,
                 "train time (s)": 960.2},
    "best-dev+lr": {"N falls": "5/6", "N below chance": "7/7", "N R2": 0.9903, "alpha hi/lo": 6.303, "N extrap. err": 0.005693,
                    "D falls": "6/6", "D below chance": "5/7", "D R2": 0.9624, "beta hi/lo": 4.469, "D extrap. err": 0.03502,
                    "train time (s)": 941.5},
    "ict+best-dev+lr": {"N falls": "5/6", "N below chance": "7/7", "N R2": 0.2148, "alpha hi/lo": 21.53, "N extrap. err": 0.5092,
                        "D falls": "5/6", "D below chance": "7/7", "D R2": 0.7169, "beta hi/lo": 7.926, "D extrap. err": 0.05732,
                        "train time (s)": 449.4},
}
"""Notebook 09's dev scores of the four candidates on the embedded data (fingerprint
b0b8c66a3918268e), on the development machine: the evidence `CHOSEN_REGIME` was chosen on
(`drscale.studies.training_regime.score_sweeps`, the columns the rule reads)."""

CHOSEN_REGIME = "best-dev+lr"
"""The candidate regime `drscale.studies.training_regime.choose_regime`, as amended after a
run's test scores had been seen, picks from the dev scores of notebook 09's run on the
development machine (`RECORDED_DEV_SCORES`); the `cpu` preset runs it. Among the
candidates that report their best checkpoint on dev, as the paper does, `best-dev` and
`best-dev+lr` met the same four of the ten targets, and the tie-break took the cheaper to
train (941 s against 960 s: the same steps, so a difference of machine load). They differ
only in the rates of the three smallest sizes (4e-3 instead of 2e-3). `fixed-200` met five
targets but reports its last checkpoint, so it is scored for reference and not eligible
(README: "How the regime was chosen", which also gives what it measured as the demo)."""

PRESET_REGIMES: dict[str, Regime] = {
    "cpu": replace(candidate_regimes(CPU_LEARNING_RATES)[CHOSEN_REGIME], name="cpu"),
    "paper": Regime("paper", "the released defaults, 10,000 steps, best-on-dev checkpoint (for a GPU)", PAPER_PRESET),
}
"""The regime behind each training preset name."""


def study_regime(
    preset: str = "cpu",
    learning_rate: float | None = None,
    pretraining: str | None = None,
    **overrides: Any,
) -> Regime:
    """The regime a notebook or spec asks for: a preset's regime with some settings replaced.

    `learning_rate` None keeps the preset's rate for each size, a number sets it for every
    size; `pretraining` None keeps the preset's start, "none" starts from random weights,
    "ict" pre-trains on the Inverse Cloze Task first; `overrides` are TrainConfig fields set
    as given, None included (`"epochs": None` turns the one-epoch floor off; a field that
    takes no None refuses it by name).
    """
    if preset not in PRESET_REGIMES:
        raise ValueError(f"unknown training preset {preset!r}; choose one of {sorted(PRESET_REGIMES)}")
    base = PRESET_REGIMES[preset]
    starts = {None: base.pretraining, "none": None, "ict": base.pretraining or Pretraining()}
    if pretraining not in starts:
        raise ValueError(f"pretraining must be None, 'none' or 'ict'; got {pretraining!r}")
    train = with_overrides(base.train, **overrides)
    if learning_rate is not None:
        train = replace(train, learning_rate=learning_rate)
    return replace(base, train=train, learning_rates=None if learning_rate is not None else base.learning_rates,
                   pretraining=starts[pretraining])
