from dataclasses import replace
from pathlib import Path

import pytest

from drscale.sweep import run as one_run
from drscale.sweep.executors import LocalBackend
from drscale.sweep.store import ResultsStore
from drscale.sweep.runner import run_sweep
from drscale.sweep.config import RunConfig, data_size_grid, model_size_grid
from drscale.measure.config import EvalConfig
from drscale.train.loop import TrainingDiverged
from drscale.train.config import CPU_PRESET

TINY = replace(CPU_PRESET, eval_points=0, selection="last", epochs=None, steps=4, batch_size=8, negatives=16, warmup_steps=1, passage_max_length=24, query_max_length=12)
QUICK_EVAL = EvalConfig(negatives=32, repeats=2, pool_size=128)
SEQUENTIAL = LocalBackend(workers=1)


def test_sweep_records_each_run_and_skips_finished_ones(tmp_path, small_data, monkeypatch):
    store = ResultsStore(tmp_path / "results.jsonl")
    grid = model_size_grid(["L1_H16", "L1_H32"], 64, TINY, evaluation=QUICK_EVAL)
    table = run_sweep(grid, small_data, store, progress=False, backend=SEQUENTIAL)
    assert list(table.model) == ["L1_H16", "L1_H32"]
    assert list(table.n_params) == [16_608, 39_104]
    record = store.records()[0]
    assert dict(zip(table.run_id, table.ce)) == {r["run_id"]: r["ce"] for r in store.records()} and table.ce.notna().all()
    assert record["data"]["fingerprint"] == small_data.fingerprint()
    assert {"torch", "transformers", "sentence_transformers", "python"} <= set(record["versions"])
    assert record["config"]["train"]["steps"] == 4 and len(record["train_loss_curve"]) == 4
    assert set(record["ranking"]) == {"ndcg@10", "mrr@10", "recall@100", "recall@1000"}
    assert all(0 <= value <= 1 for value in record["ranking"].values())
    positives = len(set(small_data.test_pair_rows()[:, 1].tolist()))
    assert record["ranking_corpus_passages"] == positives + 128  # test positives + the pool sample

    calls = []

    def record_call(config, data, fingerprint, device, checkpoint_dir, pretrained_dir, progress):
        calls.append(config.model)
        return {"run_id": config.run_id(fingerprint), "status": "failed", "error": "not run in this test",
                "model": config.model, "data_size": config.data_size}

    monkeypatch.setattr(one_run, "run_one", record_call)
    grown = grid + model_size_grid(["L1_H64"], 64, TINY, evaluation=QUICK_EVAL)
    with pytest.warns(UserWarning, match="L1_H64 D=64: not run in this test"):
        assert run_sweep(grown, small_data, store, progress=False, backend=SEQUENTIAL).ce.tolist() == table.ce.tolist()
    assert calls == ["L1_H64"]


def test_same_config_and_seed_give_identical_ce(tmp_path, small_data):
    grid = data_size_grid("L1_H16", [32], TINY, evaluation=QUICK_EVAL)
    first = run_sweep(grid, small_data, tmp_path / "a.jsonl", progress=False, backend=SEQUENTIAL)
    second = run_sweep(grid, small_data, tmp_path / "b.jsonl", progress=False, backend=SEQUENTIAL)
    assert first.ce.tolist() == second.ce.tolist()
    assert first.run_id.tolist() == second.run_id.tolist()


def test_a_diverged_run_is_recorded_as_failed_and_left_out_of_the_table(tmp_path, small_data, monkeypatch):
    def diverge(*args, **kwargs):
        raise TrainingDiverged(step=2, loss=float("nan"))

    monkeypatch.setattr(one_run, "train", diverge)
    store = ResultsStore(tmp_path / "results.jsonl")
    with pytest.warns(UserWarning, match=r"1 failed run\(s\) left out of the table: L1_H16 D=32: training loss became nan at step 2"):
        table = run_sweep(data_size_grid("L1_H16", [32], TINY, evaluation=QUICK_EVAL), small_data, store, progress=False, backend=SEQUENTIAL)
    assert table.empty
    (record,) = store.records()
    assert record["status"] == "failed" and record["failed_step"] == 2 and "nan" in record["error"]


@pytest.mark.bad_input
@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"model": "L3_H100"}, "'L3_H100' is neither a size name, a MiniLM_L<k> name, a local model folder nor a hub id"),
        ({"data_size": 0}, "data_size must be a positive integer; got 0"),
        ({"data_size": 12.5}, "data_size must be a positive integer; got 12.5"),
    ],
)
def test_bad_run_configs_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RunConfig(**{"model": "L1_H16", "data_size": 32, "train": TINY, **kwargs})


@pytest.mark.slow
def test_a_pool_of_workers_gives_the_same_records_as_one_process(tmp_path, small_data):
    grid = model_size_grid(["L1_H16", "L1_H32"], 64, TINY, evaluation=QUICK_EVAL)
    pooled = run_sweep(grid, small_data, tmp_path / "pool.jsonl", progress=False, backend=LocalBackend(workers=2))
    alone = run_sweep(grid, small_data, tmp_path / "alone.jsonl", progress=False, backend=SEQUENTIAL)
    assert pooled.run_id.tolist() == alone.run_id.tolist()
    assert pooled.ce.to_numpy() == pytest.approx(alone.ce.to_numpy(), rel=1e-4)
    assert {r["threads"] for r in ResultsStore(tmp_path / "pool.jsonl").records()} == {1}


@pytest.mark.bad_input
@pytest.mark.parametrize("kwargs", [{"workers": 0}, {"workers": 1.5}, {"workers": True}])
def test_bad_backend_settings_are_named(kwargs):
    with pytest.raises(ValueError, match=list(kwargs)[0]):
        LocalBackend(**kwargs)


def test_checkpoints_are_saved_whole_under_the_run_id_and_load(tmp_path, small_data):
    from sentence_transformers import SentenceTransformer

    grid = data_size_grid("L1_H16", [32], TINY, evaluation=QUICK_EVAL)
    table = run_sweep(grid, small_data, tmp_path / "r.jsonl", progress=False, backend=SEQUENTIAL, checkpoint_dir=tmp_path / "models")
    (record,) = ResultsStore(tmp_path / "r.jsonl").records()
    folder = tmp_path / "models" / table.run_id[0]
    assert record["checkpoint"] == str(folder)
    assert [p.name for p in (tmp_path / "models").iterdir()] == [folder.name]
    assert SentenceTransformer(str(folder), device="cpu").encode(["a query"]).shape == (1, 768)


def test_a_run_at_another_embedding_dimension_records_it_and_the_encoder_size_without_the_projection(tmp_path, small_data):
    from sentence_transformers import SentenceTransformer

    grid = [replace(config, embedding_dim=dim) for config in data_size_grid("L1_H16", [32], TINY, evaluation=QUICK_EVAL)
            for dim in (8, 768)]
    table = run_sweep(grid, small_data, tmp_path / "r.jsonl", progress=False, backend=SEQUENTIAL,
                      checkpoint_dir=tmp_path / "models")
    assert table.embedding_dim.tolist() == [8, 768]
    assert table.encoder_params.tolist() == [16_608 - (16 * 768 + 768)] * 2  # N less the 768-d projection
    assert table.n_params.tolist() == [table.encoder_params[0] + 16 * 8 + 8, 16_608]
    model = SentenceTransformer(str(tmp_path / "models" / table.run_id[0]), device="cpu")
    assert model.encode(["a query"]).shape == (1, 8)


def test_a_failed_save_leaves_no_folder_behind(tmp_path, monkeypatch):
    from drscale.model.encoder import build_encoder

    model = build_encoder("L1_H16")

    def crash(path, *args, **kwargs):
        (Path(path) / "partial.bin").write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(model, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        one_run.save_checkpoint(model, tmp_path / "models" / "abc")
    assert list((tmp_path / "models").iterdir()) == []
