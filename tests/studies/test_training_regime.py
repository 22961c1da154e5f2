"""The regime chosen on dev: the rate search, the scores and the choice rule see dev alone."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from drscale.sweep.regime import CHOSEN_REGIME, CPU_LEARNING_RATES, RECORDED_DEV_SCORES, Regime, candidate_regimes
from drscale.studies.training_regime import TARGETS, choose_regime, chosen_rates, learning_rate_search, score_sweeps, targets_met
from drscale.sweep.store import ResultsStore
from drscale.measure.config import EvalConfig
from drscale.train.config import CPU_PRESET


TINY = replace(CPU_PRESET, steps=4, warmup_steps=1, epochs=None, batch_size=8, negatives=16, passage_max_length=24, query_max_length=12,
               eval_points=3, dev_pairs=20, dev_pool_size=64)
QUICK = EvalConfig(negatives=16, repeats=1, pool_size=64, ranking=False)


@pytest.mark.slow
def test_the_rate_search_chooses_on_dev_alone(dev_data, tmp_path):
    trials = learning_rate_search(dev_data, ResultsStore(tmp_path / "results.jsonl"), models=["L1_H8", "L1_H16"],
                                  rates=[1e-4, 3e-3], base=TINY, evaluation=QUICK)
    assert len(trials) == 4 and trials.dev_ce.notna().all()
    for model, rows in trials.groupby("model"):
        assert rows.loc[rows.dev_ce.idxmin(), "chosen"] and rows.chosen.sum() == 1
    assert set(chosen_rates(trials)) == {"L1_H8", "L1_H16"}


@pytest.mark.slow
def test_a_rate_that_diverges_stays_in_the_search_unchosen(dev_data, tmp_path):
    with pytest.warns(UserWarning, match="failed run\\(s\\) left out"):
        trials = learning_rate_search(dev_data, ResultsStore(tmp_path / "results.jsonl"), models=["L1_H8"],
                                      rates=[1e30, 3e-3], base=TINY, evaluation=QUICK)
    assert trials.learning_rate.tolist() == [1e30, 3e-3]
    assert np.isnan(trials.dev_ce[0]) and not trials.chosen[0] and trials.chosen[1]
    assert trials.n_params[0] == trials.n_params[1]  # the diverged trial keeps its model's size (notebook 09 pivots on it)
    assert chosen_rates(trials) == {"L1_H8": 3e-3}
    with (pytest.warns(UserWarning, match=r"every rate diverged for \['L1_H8'\]: no rate is chosen"),
          pytest.warns(UserWarning, match=r"1 failed run\(s\) left out of the table: L1_H8 D=\d+: training loss became nan")):
        learning_rate_search(dev_data, ResultsStore(tmp_path / "results.jsonl"), models=["L1_H8"], rates=[1e30],
                             base=TINY, evaluation=QUICK)

def test_scores_count_monotone_steps_and_points_below_chance():
    n = np.array([1e4, 3e4, 1e5, 3e5, 1e6, 3e6])
    d = np.array([128, 512, 2048, 8192, 32768])
    law = lambda x, a, e: (a / x) ** e + 1.0  # noqa: E731
    sweeps = {
        "model_size": pd.DataFrame({"n_params": n, "dev_ce": law(n, 3e3, 0.4), "train_time_s": 1.0}),
        "data_size": pd.DataFrame({"data_size": d, "dev_ce": law(d, 50.0, 0.5), "train_time_s": 2.0}),
    }
    scores = score_sweeps(sweeps, n_bootstrap=50)
    assert scores["N falls"] == "5/5" and scores["D falls"] == "4/4"
    assert scores["N below chance"] == "6/6" and scores["D below chance"] == "5/5"
    assert scores["alpha"] == pytest.approx(0.4, rel=1e-3) and scores["beta"] == pytest.approx(0.5, rel=1e-3)
    assert scores["N R2"] > 0.999 and scores["train time (s)"] == 16.0
    seeds = {**sweeps, "model_size": pd.concat([sweeps["model_size"], sweeps["model_size"].assign(dev_ce=lambda t: t.dev_ce + 0.01)])}
    replicated = score_sweeps(seeds, n_bootstrap=50)
    assert replicated["N falls"] == "5/5" and replicated["N below chance"] == "6/6"  # counted over sizes, not seeds

def test_the_choice_rule_counts_targets_then_prefers_the_cheaper():
    good = {"N falls": "6/6", "D falls": "7/7", "N below chance": "7/7", "D below chance": "8/8", "N R2": 0.99,
            "D R2": 0.985, "alpha hi/lo": 3.0, "beta hi/lo": 2.0, "N extrap. err": 0.01, "D extrap. err": 0.02,
            "train time (s)": 900.0}
    worse = {**good, "D below chance": "6/8", "D R2": 0.97, "train time (s)": 10.0}
    assert all(targets_met(good).values()) and sum(targets_met(worse).values()) == len(TARGETS) - 2
    watched = Regime("w", "", TINY)
    regimes = {name: watched for name in ("slow-but-lawful", "fast", "a", "b")}
    scores = pd.DataFrame({"slow-but-lawful": good, "fast": worse}).T
    assert choose_regime(scores, regimes) == "slow-but-lawful"
    assert choose_regime(pd.DataFrame({"a": good, "b": {**good, "train time (s)": 5.0}}).T, regimes) == "b"


def test_a_regime_reporting_its_last_checkpoint_is_scored_but_not_chosen():
    candidates = candidate_regimes(CPU_LEARNING_RATES)
    good = {"N falls": "6/6", "D falls": "7/7", "N below chance": "7/7", "D below chance": "8/8", "N R2": 0.99,
            "D R2": 0.985, "alpha hi/lo": 3.0, "beta hi/lo": 2.0, "N extrap. err": 0.01, "D extrap. err": 0.02,
            "train time (s)": 10.0}
    scores = pd.DataFrame({"fixed-200": good, "best-dev": {**good, "N falls": "5/6", "train time (s)": 900.0}}).T
    assert choose_regime(scores, candidates) == "best-dev"
    with pytest.raises(ValueError, match="no regime among \\['fixed-200'\\] selects its checkpoint on dev"):
        choose_regime(scores.loc[["fixed-200"]], candidates)
    assert CHOSEN_REGIME in candidates and candidates[CHOSEN_REGIME].train.selection == "best_dev"


def test_the_recorded_dev_scores_choose_the_regime_the_cpu_preset_runs():
    """The decision, replayed: the amended rule on the recorded scores gives `CHOSEN_REGIME`; the
    rule without its eligibility condition would have given fixed-200 (the README says so)."""
    scores = pd.DataFrame(RECORDED_DEV_SCORES).T
    candidates = candidate_regimes(CPU_LEARNING_RATES)
    assert choose_regime(scores, candidates) == CHOSEN_REGIME == "best-dev+lr"
    assert {name: sum(targets_met(row).values()) for name, row in scores.iterrows()} == {
        "fixed-200": 5, "best-dev": 4, "best-dev+lr": 4, "ict+best-dev+lr": 2}
    with pytest.raises(ValueError, match=r"dev scores of regimes \['mystery'\] that are not among the candidates"):
        choose_regime(pd.DataFrame({**RECORDED_DEV_SCORES, "mystery": RECORDED_DEV_SCORES["best-dev"]}).T, candidates)
