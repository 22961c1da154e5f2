"""Model entries: hub ids (the paper's miniatures by name), family names, local folders; offline refusals."""

from dataclasses import replace

import pytest
import torch
from transformers import BertConfig, BertModel

from drscale.model import encoder as models

from drscale.sweep import run as one_run
from drscale.model.encoder import HUB_MINIATURES, MODEL_PRESETS, build_model, expand_models, is_hub_id, load_tokenizer
from drscale.sweep.store import ResultsStore
from drscale.sweep.runner import run_sweep
from drscale.sweep.config import RunConfig
from drscale.measure.config import EvalConfig
from drscale.train.config import CPU_PRESET

TINY = replace(CPU_PRESET, eval_points=0, selection="last", epochs=None, steps=2, warmup_steps=0, batch_size=8, negatives=16,
               passage_max_length=24, query_max_length=12)


@pytest.fixture(scope="module")
def plain_bert(tmp_path_factory):
    """Plain BERT weights and a tokenizer in a folder, as `huggingface-cli download` leaves a miniature."""
    folder = tmp_path_factory.mktemp("bert_uncased_L-2_H-128_A-2")
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=1,
                         intermediate_size=64)).save_pretrained(folder)
    load_tokenizer().save_pretrained(folder)
    return folder


def test_the_paper_family_expands_to_the_24_miniature_ids():
    ids = expand_models(["paper-miniatures"])
    assert len(ids) == 24 == len(set(ids))
    assert ids[0] == "google/bert_uncased_L-2_H-128_A-2" and ids[-1] == "google/bert_uncased_L-12_H-768_A-12"
    assert HUB_MINIATURES["L4_H256"] == "google/bert_uncased_L-4_H-256_A-4"
    assert expand_models(["L1_H8", "minilm"]) == ["L1_H8", *MODEL_PRESETS["minilm"]]


def test_hub_ids_are_told_from_sizes_and_folders(tmp_path):
    assert is_hub_id("google/bert_uncased_L-2_H-128_A-2")
    assert not is_hub_id("L1_H32") and not is_hub_id(str(tmp_path))
    assert RunConfig(model="google/bert_uncased_L-2_H-128_A-2", data_size=8, train=TINY).model.startswith("google/")


@pytest.mark.bad_input
def test_an_unknown_entry_is_refused_with_what_would_do():
    with pytest.raises(ValueError, match="neither a size name, a MiniLM_L<k> name, a local model folder nor a hub id"):
        RunConfig(model="L9_H9", data_size=8, train=TINY)


def _offline_hub(monkeypatch):
    from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled

    calls = []

    def snapshot_download(repo_id, local_files_only=False, **_):
        calls.append((repo_id, local_files_only))
        if local_files_only:
            raise LocalEntryNotFoundError(f"{repo_id} is not in the cache")
        raise OfflineModeIsEnabled("Cannot reach https://huggingface.co: offline mode is enabled.")

    monkeypatch.setattr("huggingface_hub.snapshot_download", snapshot_download)
    return calls


@pytest.mark.bad_input
def test_offline_a_hub_id_is_refused_before_any_training_with_a_way_out(monkeypatch, small_data, tmp_path):
    calls = _offline_hub(monkeypatch)
    monkeypatch.setattr(one_run, "train", lambda *a, **k: pytest.fail("trained although the model cannot be had"))
    grid = [RunConfig("L1_H16", 32, TINY, EvalConfig(negatives=16, repeats=1, pool_size=64)),
            RunConfig("google/bert_uncased_L-2_H-128_A-2", 32, TINY, EvalConfig(negatives=16, repeats=1, pool_size=64))]
    store = ResultsStore(tmp_path / "results.jsonl")
    with pytest.raises(ValueError) as error:
        run_sweep(grid, small_data, store, progress=False)
    message = str(error.value)
    assert "'google/bert_uncased_L-2_H-128_A-2' is a Hugging Face hub id" in message
    assert "huggingface-cli download google/bert_uncased_L-2_H-128_A-2 --local-dir FOLDER" in message
    assert "pass its path as the model" in message
    assert calls == [("google/bert_uncased_L-2_H-128_A-2", True), ("google/bert_uncased_L-2_H-128_A-2", False)]
    assert store.records() == []


def test_a_cached_hub_model_loads_with_mean_pooling_and_a_fresh_projection(monkeypatch, plain_bert):
    monkeypatch.setattr("huggingface_hub.snapshot_download", lambda repo_id, **_: str(plain_bert))
    model = build_model("google/bert_uncased_L-2_H-128_A-2")
    embedding = model.encode(["a query about dense retrieval"], convert_to_tensor=True)
    assert embedding.shape == (1, models.OUTPUT_DIM)


def test_a_local_folder_of_plain_bert_weights_trains_in_a_sweep(small_data, plain_bert, tmp_path):
    table = run_sweep([RunConfig(str(plain_bert), 32, TINY, EvalConfig(negatives=16, repeats=1, pool_size=64, ranking=False))],
                      small_data, ResultsStore(tmp_path / "results.jsonl"), progress=False)
    assert table.model.tolist() == [plain_bert.name] and table.ce.notna().all()


def test_minilm_cuts_keep_the_first_layers_of_the_shipped_model():
    one, two = build_model("MiniLM_L1"), build_model("MiniLM_L2")
    assert len(one[0].auto_model.encoder.layer) == 1 and len(two[0].auto_model.encoder.layer) == 2
    assert torch.equal(one[0].auto_model.encoder.layer[0].attention.self.query.weight,
                       two[0].auto_model.encoder.layer[0].attention.self.query.weight)
    assert models.n_params(two) - models.n_params(one) == 12 * 384**2 + 13 * 384  # one BERT layer of width 384
