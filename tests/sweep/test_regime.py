"""Training regimes by preset name: the preset's settings, replaced where asked, a rate per size."""

from dataclasses import replace

import pytest

from drscale.train.pretrain import Pretraining
from drscale.sweep.regime import CHOSEN_REGIME, CPU_LEARNING_RATES, Regime, candidate_regimes, study_regime
from drscale.measure.config import EvalConfig
from drscale.train.config import CPU_PRESET, PAPER_PRESET


TINY = replace(CPU_PRESET, steps=4, warmup_steps=1, epochs=None, batch_size=8, negatives=16, passage_max_length=24, query_max_length=12,
               eval_points=3, dev_pairs=20, dev_pool_size=64)
QUICK = EvalConfig(negatives=16, repeats=1, pool_size=64, ranking=False)


def test_study_regime_takes_the_preset_and_replaces_what_is_asked():
    cpu = study_regime("cpu")
    assert cpu.train == CPU_PRESET and cpu.name == "cpu" and cpu.pretraining is None
    assert cpu.train.selection == "best_dev" and cpu.train.steps_for(8192) == 256 and cpu.learning_rates == CPU_LEARNING_RATES
    assert cpu.run_config("L1_H4", 64, QUICK).train.learning_rate == 4e-3
    assert cpu.run_config("L2_H128", 64, QUICK).train.learning_rate == 2e-3
    assert cpu.run_config("L4_H256", 64, QUICK).train.learning_rate == CPU_PRESET.learning_rate  # a size with no rate of its own
    assert study_regime("cpu", learning_rate=1e-4).learning_rates is None
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

def test_the_cpu_preset_is_the_regime_chosen_on_dev_and_train_presets_agree():
    chosen = candidate_regimes(CPU_LEARNING_RATES)[CHOSEN_REGIME]
    assert study_regime("cpu").train == chosen.train == CPU_PRESET
    assert study_regime("cpu").learning_rates == chosen.learning_rates and study_regime("cpu").pretraining == chosen.pretraining
    assert candidate_regimes(CPU_LEARNING_RATES)["fixed-200"].train.steps_for(8192) == 200


def test_a_regime_gives_each_size_its_own_rate():
    regime = Regime("r", "", TINY, learning_rates={"L1_H8": 1e-3})
    assert regime.run_config("L1_H8", 64, QUICK).train.learning_rate == 1e-3
    assert regime.run_config("L1_H16", 64, QUICK).train.learning_rate == TINY.learning_rate
    assert [c.model for c in regime.model_size_grid(["minilm"], 64, QUICK)][:2] == ["MiniLM_L1", "MiniLM_L2"]
