"""Inverse Cloze Task pre-training as a start, and the regimes chosen on dev."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from drscale.train import pretrain as pretrain_module
from drscale.data.corpus import column
from drscale.train.pretrain import Pretraining
from drscale.sweep.regime import (
    CHOSEN_REGIME,
    CPU_LEARNING_RATES,
    TARGETS,
    Regime,
    candidate_regimes,
    choose_regime,
    chosen_rates,
    learning_rate_search,
    score_sweeps,
    study_regime,
    targets_met,
)
from drscale.sweep.store import ResultsStore
from drscale.sweep.runner import EvalConfig, RunConfig, run_sweep
from drscale.train.config import CPU_PRESET, PAPER_PRESET

TINY = replace(CPU_PRESET, steps=4, warmup_steps=1, epochs=None, batch_size=8, negatives=16, passage_max_length=24, query_max_length=12,
               eval_points=3, dev_pairs=20, dev_pool_size=64)
QUICK = EvalConfig(negatives=16, repeats=1, pool_size=64, ranking=False)


@pytest.fixture(scope="module")
def dev_data(small_data):
    return small_data.with_dev_split(30, seed=0)


@pytest.mark.slow
def test_runs_of_one_size_share_one_pretrained_start(dev_data, tmp_path, monkeypatch):
    trained = []
    real = pretrain_module.train
    monkeypatch.setattr(pretrain_module, "train", lambda *a, **k: trained.append(1) or real(*a, **k))
    start = Pretraining(epochs=0.05)
    grid = [RunConfig("L1_H16", d, TINY, QUICK, pretraining=start) for d in (32, 64)]
    store = ResultsStore(tmp_path / "runs" / "results.jsonl")
    table = run_sweep(grid, dev_data, store, progress=False)
    assert len(trained) == 1 and len(table) == 2
    records = store.records()
    assert len({r["pretrained_from"] for r in records}) == 1
    folder = tmp_path / "runs" / "pretrained" / records[0]["pretrained_from"]
    assert (folder / "modules.json").exists()
    run_sweep([RunConfig("L1_H16", 48, TINY, QUICK, pretraining=start)], dev_data, store, progress=False)
    assert len(trained) == 1  # the saved start is reused, not trained again
    assert grid[0].run_id("x") != replace(grid[0], pretraining=None).run_id("x")


def test_pretraining_never_reads_a_dev_or_test_positive(dev_data):
    from drscale.annotate.sources import InverseClozeTask, annotate

    ict = annotate(dev_data, InverseClozeTask())
    held_out = set(column(dev_data.test_qrels, "passage_id")) | set(column(dev_data.dev_qrels, "passage_id"))
    origins = {qid.split(":", 2)[2] for qid in column(ict.train_qrels, "query_id")}
    assert origins and not origins & held_out


def test_pretraining_settings_leave_dev_selection_out():
    config = Pretraining(epochs=2.0, learning_rate=1e-3).train_config(CPU_PRESET)
    assert (config.eval_points, config.selection, config.epochs, config.learning_rate) == (0, "last", 2.0, 1e-3)
    with pytest.raises(ValueError, match="Pretraining.epochs must be positive"):
        Pretraining(epochs=0)


def test_study_regime_takes_the_preset_and_replaces_what_is_asked():
    cpu = study_regime("cpu")
    assert cpu.train.selection == "best_dev" and cpu.train.epochs == 1.0 and cpu.name == "cpu"
    assert study_regime("cpu", learning_rate=1e-4).learning_rates is None
    assert study_regime("cpu+lr").learning_rates == CPU_LEARNING_RATES
    assert study_regime("cpu+lr").run_config("L2_H128", 64, QUICK).train.learning_rate == 1e-3
    assert study_regime("cpu", learning_rate=1e-4).run_config("L1_H8", 64, QUICK).train.learning_rate == 1e-4
    assert study_regime("cpu", pretraining="ict").pretraining == Pretraining()
    assert study_regime("cpu", pretraining="none").pretraining is None
    assert study_regime("cpu", selection="last", eval_points=0).train.selection == "last"
    paper = study_regime("paper")
    assert paper.train.selection == "best_dev" and paper.train.steps == PAPER_PRESET.steps
    with pytest.raises(ValueError, match="pretraining must be None, 'none' or 'ict'"):
        study_regime("cpu", pretraining="mlm")
    with pytest.raises(ValueError, match="unknown training preset"):
        study_regime("gpu")


def test_a_regime_gives_each_size_its_own_rate():
    regime = Regime("r", "", TINY, learning_rates={"L1_H8": 1e-3})
    assert regime.run_config("L1_H8", 64, QUICK).train.learning_rate == 1e-3
    assert regime.run_config("L1_H16", 64, QUICK).train.learning_rate == TINY.learning_rate
    assert [c.model for c in regime.model_size_grid(["minilm"], 64, QUICK)][:2] == ["MiniLM_L1", "MiniLM_L2"]


@pytest.mark.slow
def test_the_rate_search_chooses_on_dev_alone(dev_data, tmp_path):
    trials = learning_rate_search(dev_data, ResultsStore(tmp_path / "results.jsonl"), models=["L1_H8", "L1_H16"],
                                  rates=[1e-4, 3e-3], base=TINY, evaluation=QUICK)
    assert len(trials) == 4 and trials.dev_ce.notna().all()
    for model, rows in trials.groupby("model"):
        assert rows.loc[rows.dev_ce.idxmin(), "chosen"] and rows.chosen.sum() == 1
    assert set(chosen_rates(trials)) == {"L1_H8", "L1_H16"}


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


def test_the_choice_rule_counts_targets_then_prefers_the_cheaper():
    good = {"N falls": "6/6", "D falls": "7/7", "N below chance": "7/7", "D below chance": "8/8", "N R2": 0.99,
            "D R2": 0.985, "alpha hi/lo": 3.0, "beta hi/lo": 2.0, "N extrap. err": 0.01, "D extrap. err": 0.02,
            "train time (s)": 900.0}
    worse = {**good, "D below chance": "6/8", "D R2": 0.97, "train time (s)": 10.0}
    assert all(targets_met(good).values()) and sum(targets_met(worse).values()) == len(TARGETS) - 2
    scores = pd.DataFrame({"slow-but-lawful": good, "fast": worse}).T
    assert choose_regime(scores) == "slow-but-lawful"
    assert choose_regime(pd.DataFrame({"a": good, "b": {**good, "train time (s)": 5.0}}).T) == "b"
    assert CHOSEN_REGIME in candidate_regimes(CPU_LEARNING_RATES)
