import json
import re

import pytest

from drscale.sweep.store import ResultsStore
from drscale.common.files import config_hash
from drscale.measure.config import EvalConfig
from samples import FINGERPRINT, failed_record, finished_record


def write_lines(store: ResultsStore, *records: dict) -> None:
    """Write records as another writer (or a hand edit) would: no checks, NaN allowed."""
    with open(store.path, "a") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")


def test_config_hash_ignores_key_order_and_sees_values():
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})
    assert len(config_hash({"a": 1})) == 16


def test_a_torn_last_line_is_ignored_and_earlier_runs_survive(tmp_path):
    store = ResultsStore(tmp_path / "runs.jsonl")
    store.append(finished_record("a", 1.0))
    with open(store.path, "a") as handle:
        handle.write('{"run_id": "b", "status": "fini')
    assert [r["run_id"] for r in store.records()] == ["a"]


def test_failed_runs_are_kept_but_not_finished(tmp_path):
    store = ResultsStore(tmp_path / "runs.jsonl")
    store.append(failed_record("a", "loss became nan"))
    store.append(finished_record("b", 2.0))
    assert set(store.finished()) == {"b"}
    assert list(store.to_frame()["status"]) == ["failed", "finished"]


@pytest.mark.bad_input
def test_records_need_an_id_and_a_status_and_finite_numbers(tmp_path):
    store = ResultsStore(tmp_path / "runs.jsonl")
    with pytest.raises(ValueError, match="needs a 'status' field"):
        store.append({"run_id": "a"})
    with pytest.raises(ValueError, match=r"field 'ce' of finished run 'a' is nan; expected a finite number"):
        store.append(finished_record("a", float("nan")))
    assert not store.path.exists() or store.records() == []


def test_every_line_is_plain_json(tmp_path):
    store = ResultsStore(tmp_path / "runs.jsonl")
    record = finished_record("a")
    store.append(record)
    assert json.loads(store.path.read_text()) == record
    frame = store.to_frame()
    assert {"run_id", "status", "ce", "data.fingerprint", "config.evaluation.pool_size"} <= set(frame.columns)
    assert frame.loc[0, "data.fingerprint"] == FINGERPRINT


def test_records_written_as_a_sweep_writes_them_read_back_unchanged(tmp_path):
    store = ResultsStore(tmp_path / "runs.jsonl")
    written = [finished_record("a", ranking={"ndcg@10": 0.5}), failed_record("b"),
               finished_record("c", evaluation=EvalConfig(pool_size=4096), dev_ce=None, dev_curve=[])]
    for record in written:
        store.append(record)
    assert store.records() == written


BAD_RECORDS = [
    # (case, record, the field named, what was found, what was expected)
    ("only-id-and-status", {"run_id": "x", "status": "finished"}, "model", "has no field", "a non-empty string"),
    ("nan-ce", finished_record("x", float("nan")), "ce", "is nan", r"a finite number >= 0"),
    ("infinite-ce", finished_record("x", float("inf")), "ce", "is inf", r"a finite number >= 0"),
    ("string-ce", finished_record("x", "3.1"), "ce", "is the string '3.1'", r"a finite number >= 0"),
    ("negative-ce", finished_record("x", -0.5), "ce", r"is -0.5", r"a finite number >= 0"),
    ("no-ce", {k: v for k, v in finished_record("x").items() if k != "ce"}, "ce", "has no field", "a finite number"),
    ("zero-data-size", finished_record("x", data_size=64) | {"data_size": 0}, "data_size", "is 0", "a positive integer"),
    ("float-n-params", finished_record("x", n_params=1.5e4), "n_params", r"is 15000.0", "a positive integer"),
    ("bool-n-params", finished_record("x", n_params=True), "n_params", "is True", "a positive integer"),
    ("no-fingerprint", finished_record("x", data={"name": "docstrings"}), "data.fingerprint", "has no field",
     "a non-empty string"),
    ("no-evaluation", finished_record("x", config={"model": "L1_H16"}), "config.evaluation", "has no field",
     "a JSON object"),
    ("string-pool", finished_record("x") | {"config": {"evaluation": {"negatives": 256, "repeats": 10, "seed": 1,
                                                                      "pool_size": "4096"}}},
     "config.evaluation.pool_size", "is the string '4096'", "a positive integer or null"),
    ("nan-metric", finished_record("x", ranking={"ndcg@10": float("nan")}), "ranking", "is {'ndcg@10': nan}",
     "finite numbers"),
    ("curve-without-steps", finished_record("x", dev_curve=[{"dev_ce": 3.0}]), "dev_curve", "is [{'dev_ce': 3.0}]",
     "integer 'step'"),
    ("failed-without-error", {k: v for k, v in failed_record("x").items() if k != "error"}, "error", "has no field",
     "a non-empty string"),
    ("failed-without-model", {"run_id": "x", "status": "failed", "error": "boom", "data_size": 64}, "model",
     "has no field", "a non-empty string"),
]


@pytest.mark.bad_input
@pytest.mark.parametrize(("case", "record", "field", "found", "expected"), BAD_RECORDS, ids=[c[0] for c in BAD_RECORDS])
def test_a_bad_record_is_refused_on_read_naming_file_line_field_and_expectation(tmp_path, case, record, field, found,
                                                                                 expected):
    """A record another writer (or a hand edit) left incomplete or with a NaN or a string
    where a number belongs is refused when read, at its line, not later as a KeyError or a
    NaN in a table; the good records around it do not hide it."""
    store = ResultsStore(tmp_path / "runs.jsonl")
    write_lines(store, finished_record("good"), record, finished_record("also-good"))
    with pytest.raises(ValueError) as caught:
        store.records()
    message = str(caught.value)
    assert message.startswith(f"{store.path} line 2: "), message
    assert f"'{field}'" in message and "'x'" in message, message
    found_part, separator, expected_part = message.partition("; expected ")
    assert separator, message
    assert found in found_part, message
    assert re.search(expected, expected_part), message
    other = ResultsStore(tmp_path / "other.jsonl")
    with pytest.raises(ValueError, match=rf"^{re.escape(str(other.path))}: refusing to append a bad run record: .*'{field}'"):
        other.append(record)  # nor can a writer store it
    assert not other.path.exists()


@pytest.mark.bad_input
def test_an_unknown_status_is_refused(tmp_path):
    store = ResultsStore(tmp_path / "runs.jsonl")
    write_lines(store, finished_record("a", status="running"))
    with pytest.raises(ValueError, match=r"line 1: run 'a' has status 'running'; expected one of \['failed', 'finished'\]"):
        store.records()


def test_a_bad_torn_last_line_is_still_only_a_crash_and_skipped(tmp_path):
    """Validation does not touch the crash tolerance: a last line without its newline is skipped
    whatever it holds, even a record that would be refused whole."""
    store = ResultsStore(tmp_path / "runs.jsonl")
    store.append(finished_record("a"))
    with open(store.path, "a") as handle:
        handle.write(json.dumps({"run_id": "b", "status": "finished"}))  # no newline: torn
    assert [r["run_id"] for r in store.records()] == ["a"]


@pytest.mark.bad_input
def test_a_bare_record_stops_a_sweep_table_at_its_line_not_with_a_key_error(tmp_path):
    """The failure this check exists for: a record holding only run_id and status used to
    pass the store and crash `results_table` with KeyError: 'model'."""
    from drscale.sweep.records import results_table

    store = ResultsStore(tmp_path / "runs.jsonl")
    write_lines(store, finished_record("a"), {"run_id": "b", "status": "finished"})
    with pytest.raises(ValueError, match=rf"^{re.escape(str(store.path))} line 2: finished run 'b' has no field 'model'"):
        results_table(store, ["a", "b"])
