import json

import pytest

from drscale.store import ResultsStore, config_hash


def test_config_hash_ignores_key_order_and_sees_values():
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})
    assert len(config_hash({"a": 1})) == 16


def test_a_torn_last_line_is_ignored_and_earlier_runs_survive(tmp_path):
    store = ResultsStore(tmp_path / "runs.jsonl")
    store.append({"run_id": "a", "status": "finished", "ce": 1.0})
    with open(store.path, "a") as handle:
        handle.write('{"run_id": "b", "status": "fini')
    assert [r["run_id"] for r in store.records()] == ["a"]


def test_failed_runs_are_kept_but_not_finished(tmp_path):
    store = ResultsStore(tmp_path / "runs.jsonl")
    store.append({"run_id": "a", "status": "failed", "error": "loss became nan"})
    store.append({"run_id": "b", "status": "finished", "ce": 2.0})
    assert set(store.finished()) == {"b"}
    assert list(store.to_frame()["status"]) == ["failed", "finished"]


@pytest.mark.bad_input
def test_records_need_an_id_and_a_status_and_finite_numbers(tmp_path):
    store = ResultsStore(tmp_path / "runs.jsonl")
    with pytest.raises(ValueError, match="needs a 'status' field"):
        store.append({"run_id": "a"})
    with pytest.raises(ValueError):
        store.append({"run_id": "a", "status": "finished", "ce": float("nan")})
    assert not store.path.exists() or store.records() == []


def test_every_line_is_plain_json(tmp_path):
    store = ResultsStore(tmp_path / "runs.jsonl")
    store.append({"run_id": "a", "status": "finished", "config": {"x": 1}})
    assert json.loads(store.path.read_text()) == {"config": {"x": 1}, "run_id": "a", "status": "finished"}
    assert sorted(store.to_frame().columns) == ["config.x", "run_id", "status"]
