import json
import math
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from drscale.studies.metric_agreement import (
    agreement_table,
    correlations,
    discordant_pairs,
    enough_runs,
    figure_name,
    measurement_groups,
    monotone_fit,
    plot_agreement,
    save_agreement,
)
from drscale.measure.config import EvalConfig
from samples import FINGERPRINT, failed_record, finished_record

OTHER_DATA = "fedcba9876543210"
POOL_4096 = EvalConfig(pool_size=4096)


def record(run_id: str, ce: float, ranking: dict | None, status: str = "finished", model: str = "L1_H16",
           fingerprint: str = FINGERPRINT, evaluation: EvalConfig = POOL_4096) -> dict:
    if status != "finished":
        return failed_record(run_id, "diverged", model=model, data_size=100)
    return finished_record(run_id, ce, model=model, n_params=1000, data_size=100, ranking=ranking,
                           fingerprint=fingerprint, evaluation=evaluation)


def mixed_store() -> list[dict]:
    """Six runs of the study (this data, pool 4096) whose NDCG@10 falls as CE rises, and runs
    that must not join them: pool 128 (CE lower, NDCG higher: a smaller pool is easier on both)
    and another data set whose CE sits low while its NDCG is poor."""
    study = [record(f"s{i}", ce, {"ndcg@10": 0.5 - 0.05 * i}) for i, ce in enumerate(np.linspace(3.0, 4.0, 6))]
    small_pool = [record(f"p{i}", ce, {"ndcg@10": 0.8 - 0.05 * i}, evaluation=EvalConfig(pool_size=128))
                  for i, ce in enumerate(np.linspace(1.0, 1.5, 3))]
    other_data = [record(f"o{i}", ce, {"ndcg@10": 0.05 - 0.01 * i}, fingerprint=OTHER_DATA)
                  for i, ce in enumerate(np.linspace(1.2, 2.0, 4))]
    return study + small_pool + other_data


def synthetic_table(ce: np.ndarray, **metrics: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"run_id": [f"r{i}" for i in range(len(ce))], "model": "m", "n_params": 1, "data_size": 1,
                         "embedding_dim": 768, "steps": 10, "source": "human", "ce": ce, **metrics})


def test_table_keeps_finished_runs_with_ranking_latest_record_first_metrics_in_order():
    records = [
        record("a", 3.0, {"recall@100": 0.5, "ndcg@10": 0.1, "map": 0.2}),
        record("b", 2.0, None),                      # ranking was off
        record("c", 0, None, status="failed"),
        record("a", 2.5, {"recall@100": 0.6, "ndcg@10": 0.2, "map": 0.3}),  # re-run: the latest wins
        record("d", 2.0, {"ndcg@10": 0.4, "recall@100": 0.7}),
    ]
    table = agreement_table(records)
    assert list(table.columns) == ["run_id", "model", "n_params", "data_size", "embedding_dim", "steps", "source",
                                   "test_fingerprint", "evaluation", "ce", "ndcg@10", "recall@100", "map"]
    assert table.embedding_dim.tolist() == [768, 768] and table.steps.tolist() == [256, 256]  # the runs' own steps
    assert set(table.evaluation) == {"W256 R10 pool4096 seed1"} and set(table.test_fingerprint) == {FINGERPRINT}
    assert table.run_id.tolist() == ["a", "d"]
    assert table.ce.tolist() == [2.5, 2.0]
    assert math.isnan(table.loc[1, "map"])


def test_an_empty_store_gives_an_empty_table_that_is_not_ready():
    table = agreement_table([])
    assert len(table) == 0 and list(table.columns) == ["run_id", "model", "n_params", "data_size", "embedding_dim",
                                                       "steps", "source", "test_fingerprint", "evaluation", "ce"]
    ok, reason = enough_runs(table)
    assert not ok and "Only 0 finished run(s)" in reason
    assert enough_runs(synthetic_table(np.arange(3.0)))[0]


def test_strictly_decreasing_relation_has_rank_correlations_of_minus_one():
    ce = np.linspace(1.0, 4.0, 8)
    table = synthetic_table(ce, **{"ndcg@10": np.exp(-ce), "recall@1000": 1 - ce / 10})
    summary = correlations(table).set_index("metric")
    assert summary.loc["ndcg@10", "spearman"] == pytest.approx(-1.0)
    assert summary.loc["ndcg@10", "kendall"] == pytest.approx(-1.0)
    assert summary.loc["ndcg@10", "spearman_p"] < 1e-3
    assert summary.loc["ndcg@10", "kendall_p"] < 1e-3
    assert summary.loc["ndcg@10", "direction"] == "decreasing"
    assert summary.loc["ndcg@10", "monotone_r2"] == pytest.approx(1.0)
    assert summary.runs.tolist() == [8, 8]


def test_a_strictly_increasing_relation_gives_plus_one():
    ce = np.linspace(1.0, 4.0, 6)
    summary = correlations(synthetic_table(ce, metric=ce ** 2)).iloc[0]
    assert (summary.spearman, summary.kendall, summary.direction) == (pytest.approx(1.0), pytest.approx(1.0), "increasing")


def test_statistics_match_scipy_on_a_noisy_relation():
    rng = np.random.default_rng(0)
    ce = rng.uniform(1, 4, 20)
    metric = np.exp(-ce) + rng.normal(0, 0.05, 20)
    row = correlations(synthetic_table(ce, metric=metric)).iloc[0]
    rho, tau = stats.spearmanr(ce, metric), stats.kendalltau(ce, metric)
    assert (row.spearman, row.spearman_p) == (pytest.approx(rho.statistic), pytest.approx(rho.pvalue))
    assert (row.kendall, row.kendall_p) == (pytest.approx(tau.statistic), pytest.approx(tau.pvalue))
    assert -1 < row.spearman < -0.5 and 0 < row.monotone_r2 < 1


def test_monotone_fit_pools_adjacent_violators():
    fit = monotone_fit(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 3.0, 2.0, 4.0]), increasing=True)
    np.testing.assert_allclose(fit.metric, [1.0, 2.5, 2.5, 4.0])
    assert fit.r2 == pytest.approx(1 - 0.5 / 5.0)
    np.testing.assert_allclose(fit.predict([0.0, 1.5, 9.0]), [1.0, 1.75, 4.0])


def test_monotone_fit_gives_runs_with_equal_ce_one_value_whatever_their_order():
    ce, metric = np.array([1.0, 2.0, 2.0, 3.0]), np.array([0.9, 0.2, 0.6, 0.1])
    for order in ([0, 1, 2, 3], [0, 2, 1, 3]):
        fit = monotone_fit(ce[order], metric[order])
        np.testing.assert_allclose(fit.ce, [1.0, 2.0, 3.0])
        np.testing.assert_allclose(fit.metric, [0.9, 0.4, 0.1])
        assert not fit.increasing


def test_a_constant_metric_has_undefined_correlations_without_warnings():
    ce = np.linspace(1.0, 4.0, 5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        row = correlations(synthetic_table(ce, **{"recall@1000": np.ones(5)})).iloc[0]
    assert math.isnan(row.spearman) and math.isnan(row.kendall_p) and math.isnan(row.monotone_r2)
    assert row.direction == "decreasing"


@pytest.mark.parametrize(
    "ce, metric, message",
    [([1.0, 2.0], [1.0], "equal-length"), ([], [], "non-empty"), ([1.0, float("nan")], [1.0, 2.0], "finite")],
)
def test_monotone_fit_refuses_bad_input(ce, metric, message):
    with pytest.raises(ValueError, match=message):
        monotone_fit(np.array(ce), np.array(metric))


def test_save_writes_statistics_runs_and_a_json_with_nan_as_null(tmp_path):
    ce = np.linspace(1.0, 4.0, 4)
    table = synthetic_table(ce, **{"ndcg@10": -ce, "recall@1000": np.ones(4)})
    paths = save_agreement(table, correlations(table), tmp_path, True, "4 finished runs carry ranking metrics.")
    summary = json.loads(paths["summary"].read_text())
    assert summary["ready"] and summary["runs"] == 4
    assert summary["metrics"]["ndcg@10"]["spearman"] == pytest.approx(-1.0)
    assert summary["metrics"]["recall@1000"]["spearman"] is None
    assert pd.read_csv(paths["statistics"]).metric.tolist() == ["ndcg@10", "recall@1000"]
    assert len(pd.read_csv(paths["runs"])) == 4


def test_figure_draws_points_and_fit():
    ce = np.linspace(1.0, 4.0, 6)
    figure = plot_agreement(synthetic_table(ce, **{"ndcg@10": np.exp(-ce)}), "ndcg@10")
    assert figure.axes[0].get_xlabel().startswith("contrastive entropy")
    assert "Spearman -1.00" in figure.axes[0].get_title()
    assert figure_name("ndcg@10") == "metric_agreement_ndcg_at_10.png"
    plt.close(figure)


def test_discordant_pairs_are_those_where_lower_ce_meets_a_lower_metric():
    table = synthetic_table(np.array([1.0, 2.0, 3.0, 4.0]), **{"ndcg@10": np.array([0.5, 0.6, 0.3, 0.3])})
    table.loc[1, ["model", "data_size", "embedding_dim", "source"]] = ["L1_H16", 12885, 4, "ict"]
    pairs = discordant_pairs(table, "ndcg@10")
    # r0 has the best CE but a lower NDCG than r1; r2 and r3 tie on NDCG and are not listed
    assert pairs.to_dict("records") == [{"lower_ce_run": "r0", "lower_ce_setting": "m, D 1, d 768, 10 steps",
                                         "higher_ce_run": "r1", "higher_ce_setting": "L1_H16, D 12,885, d 4, 10 steps, ict pairs",
                                         "ce_gap": 1.0, "ndcg@10_gap": pytest.approx(0.1)}]


def test_a_record_without_its_optional_steps_is_compared_and_described_as_such():
    old = record("a", 2.0, {"ndcg@10": 0.1})
    del old["steps"]  # optional in a store's records
    table = agreement_table([old, record("b", 3.0, {"ndcg@10": 0.2})])
    assert table.steps.isna().tolist() == [True, False]
    assert discordant_pairs(table, "ndcg@10").loc[0, "lower_ce_setting"] == "L1_H16, D 100, d 768, steps not recorded"
    assert discordant_pairs(table, "ndcg@10").loc[0, "higher_ce_setting"] == "L1_H16, D 100, d 768, 256 steps"


def test_save_without_enough_runs_writes_an_empty_statistics_file(tmp_path):
    paths = save_agreement(agreement_table([]), None, tmp_path, False, "Only 0 finished run(s)")
    assert json.loads(paths["summary"].read_text()) == {"ready": False, "reason": "Only 0 finished run(s)",
                                                         "runs": 0, "test_fingerprint": None, "evaluation": None,
                                                         "metrics": {}}
    assert pd.read_csv(paths["statistics"]).columns[0] == "metric" and len(pd.read_csv(paths["statistics"])) == 0


def test_the_selection_keeps_one_data_set_and_one_measurement_and_agrees_where_the_mix_did_not():
    records = mixed_store()
    table = agreement_table(records, test_fingerprint=FINGERPRINT, evaluation="W256 R10 pool4096 seed1")
    assert table.run_id.tolist() == [f"s{i}" for i in range(6)]
    assert correlations(table).set_index("metric").loc["ndcg@10", "spearman"] == pytest.approx(-1.0)
    everything = pd.DataFrame([{"ce": r["ce"], "ndcg@10": r["ranking"]["ndcg@10"]} for r in records])
    assert stats.spearmanr(everything.ce, everything["ndcg@10"]).statistic > -0.5  # what mixing them reported


@pytest.mark.bad_input
def test_a_selection_that_still_mixes_measurements_is_refused_naming_each_group_and_its_runs():
    with pytest.raises(ValueError) as caught:
        agreement_table(mixed_store(), test_fingerprint=FINGERPRINT)
    message = str(caught.value)
    assert "span 2 groups of data set and CE measurement" in message
    assert f"data docstrings (fingerprint {FINGERPRINT}) measured W256 R10 pool4096 seed1: 6 run(s)" in message
    assert f"data docstrings (fingerprint {FINGERPRINT}) measured W256 R10 pool128 seed1: 3 run(s)" in message
    assert "evaluation=" in message and OTHER_DATA not in message
    with pytest.raises(ValueError, match=rf"span 2 .*{OTHER_DATA}\) measured W256 R10 pool4096 seed1: 4 run\(s\)"):
        agreement_table(mixed_store(), evaluation="W256 R10 pool4096 seed1")  # the same measurement, two data sets


def test_measurement_groups_count_each_study_and_mark_the_selection():
    groups = measurement_groups(mixed_store() + [record("x", 3.0, None)], FINGERPRINT, "W256 R10 pool4096 seed1")
    assert groups.to_dict("records") == [
        {"data_name": "docstrings", "test_fingerprint": FINGERPRINT, "evaluation": "W256 R10 pool4096 seed1", "runs": 6,
         "selected": True},
        {"data_name": "docstrings", "test_fingerprint": OTHER_DATA, "evaluation": "W256 R10 pool4096 seed1", "runs": 4,
         "selected": False},
        {"data_name": "docstrings", "test_fingerprint": FINGERPRINT, "evaluation": "W256 R10 pool128 seed1", "runs": 3,
         "selected": False},
    ]


def test_the_saved_summary_names_the_data_and_measurement_of_its_runs(tmp_path):
    table = agreement_table(mixed_store(), FINGERPRINT, "W256 R10 pool4096 seed1")
    paths = save_agreement(table, correlations(table), tmp_path, True, "6 finished runs carry ranking metrics.")
    summary = json.loads(paths["summary"].read_text())
    assert (summary["test_fingerprint"], summary["evaluation"]) == (FINGERPRINT, "W256 R10 pool4096 seed1")
    assert set(pd.read_csv(paths["runs"]).evaluation) == {"W256 R10 pool4096 seed1"}


def test_runs_on_pairs_of_another_source_share_the_test_set_of_their_data(small_data):
    """Inverse Cloze Task pairs of a data set change what trains, not what is measured: the
    copy keeps the test fingerprint, so its runs join the agreement study; another test split does not."""
    from drscale.annotate.sources import InverseClozeTask, annotate

    ict = annotate(small_data, InverseClozeTask())
    assert ict.fingerprint() != small_data.fingerprint()
    assert ict.test_fingerprint() == small_data.test_fingerprint()
    other = small_data.with_dev_split(5, seed=0)
    assert other.test_fingerprint() != small_data.test_fingerprint()  # the pool now leaves the dev positives out


def test_each_run_says_the_source_of_its_training_pairs():
    """Runs on Inverse Cloze Task pairs are told from runs on the data's own labels (their colour in the figures)."""
    human = finished_record("human-run", ranking={"ndcg@10": 0.5})
    ict = finished_record("ict-run", ranking={"ndcg@10": 0.6}, data_name="docstrings+ict")
    table = agreement_table([human, ict])
    assert dict(zip(table.run_id, table.source)) == {"human-run": "human", "ict-run": "ict"}
