"""The model size family and its parameter count N against the published miniatures; building,
saving and loading encoders."""

import numpy as np
import pytest
import torch
from sentence_transformers import SentenceTransformer
from transformers import BertConfig, BertModel

from drscale.model.encoder import (
    CPU_FAMILY,
    OUTPUT_DIM,
    PAPER_MINIATURES,
    build_encoder,
    build_model,
    load_encoder,
    load_tokenizer,
    model_size,
    n_params,
)
from drscale.measure.entropy import encode
from drscale.model.tokens import tokenize

# REFERENCE section 5: non-embedding parameters of Google's 24 BERT miniatures.
PUBLISHED_N = {
    (2, 128): 512_128, (2, 256): 1_842_688, (2, 512): 6_961_408, (2, 768): 15_356_928,
    (4, 128): 908_672, (4, 256): 3_422_208, (4, 512): 13_266_176, (4, 768): 29_532_672,
    (6, 128): 1_305_216, (6, 256): 5_001_728, (6, 512): 19_570_944, (6, 768): 43_708_416,
    (8, 128): 1_701_760, (8, 256): 6_581_248, (8, 512): 25_875_712, (8, 768): 57_884_160,
    (10, 128): 2_098_304, (10, 256): 8_160_768, (10, 512): 32_180_480, (10, 768): 72_059_904,
    (12, 128): 2_494_848, (12, 256): 9_740_288, (12, 512): 38_485_248, (12, 768): 86_235_648,
}


def test_n_params_matches_all_24_published_miniatures():
    assert len(PAPER_MINIATURES) == 24
    counted = {(s.layers, s.hidden): n_params(s) for s in PAPER_MINIATURES.values()}
    assert counted == PUBLISHED_N


def test_miniatures_use_one_head_per_64_dimensions():
    assert model_size("L12_H768").heads == 12
    assert model_size("L2_H128").heads == 2


def test_cpu_family_spans_two_decades_of_n():
    sizes = sorted(n_params(s) for s in CPU_FAMILY.values())
    assert np.log10(sizes[-1] / sizes[0]) >= 2
    assert sizes == sorted(set(sizes))


def test_n_params_of_a_built_model_equals_the_count_from_its_size():
    model = build_encoder("L1_H32", seed=0)
    assert n_params(model) == n_params("L1_H32") == 39_104


@pytest.mark.bad_input
def test_unknown_size_names_the_value_and_the_known_sizes():
    with pytest.raises(ValueError, match=r"unknown model size 'L3_H100'.*L2_H128"):
        model_size("L3_H100")


def test_shipped_tokenizer_knows_english_words():
    tokenizer = load_tokenizer()
    tokens = tokenizer.tokenize("Return the frequency response of a digital filter.")
    assert "[UNK]" not in tokens
    assert tokens[:3] == ["return", "the", "frequency"]
    ids = tokenize(tokenizer, ["hello world"], max_length=8)[0]
    assert ids[0] == 101 and ids[-1] == 102 and len(tokenizer) == 30522


def test_same_seed_builds_the_same_model_and_another_seed_does_not():
    first, second, other = (build_encoder("L1_H16", seed=s) for s in (3, 3, 4))
    a, b, c = (torch.cat([p.flatten() for p in m.parameters()]) for m in (first, second, other))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_saved_model_opens_in_sentence_transformers_with_the_same_embeddings(tmp_path):
    model = build_encoder("L1_H32", seed=0)
    texts = ["Compute the mean of an array.", "Open a file and return a stream."]
    ours = encode(model, tokenize(model.tokenizer, texts, max_length=64))
    model.save(str(tmp_path / "encoder"))
    loaded = SentenceTransformer(str(tmp_path / "encoder"), device="cpu")
    theirs = loaded.encode(texts, convert_to_tensor=True, batch_size=2)
    assert theirs.shape == (2, OUTPUT_DIM)
    torch.testing.assert_close(theirs, ours, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(encode(load_encoder(tmp_path / "encoder"), tokenize(model.tokenizer, texts, 64)), ours)


def test_plain_bert_weights_get_mean_pooling_and_a_projection(tmp_path):
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=1, intermediate_size=128)
    BertModel(config).save_pretrained(tmp_path / "bert")
    load_tokenizer().save_pretrained(tmp_path / "bert")
    model = load_encoder(tmp_path / "bert")
    names = [type(m).__name__ for m in model]
    assert names == ["Transformer", "Pooling", "Dense"]
    assert model.encode(["a query"], convert_to_tensor=True).shape == (1, OUTPUT_DIM)
    assert n_params(model) == 12 * 32**2 + 13 * 32 + 32 * 32 + 32 + 768 * 32 + 768
    projection = lambda m: m[2].linear.weight  # noqa: E731
    torch.testing.assert_close(projection(load_encoder(tmp_path / "bert")), projection(model))
    again, other = build_model(str(tmp_path / "bert"), seed=0), build_model(str(tmp_path / "bert"), seed=1)
    torch.testing.assert_close(projection(again), projection(model))  # the run's init seed reaches the projection
    assert not torch.equal(projection(other), projection(model))
    torch.testing.assert_close(again[0].auto_model.embeddings.word_embeddings.weight,
                               other[0].auto_model.embeddings.word_embeddings.weight)  # the weights are the folder's


@pytest.mark.bad_input
def test_a_missing_local_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a local folder"):
        load_encoder(tmp_path / "nowhere")


def test_the_embedding_dimension_sets_the_projection_and_encoder_params_leave_it_out():
    from drscale.model.encoder import encoder_params

    model = build_encoder("L1_H32", embedding_dim=24)
    assert model.encode(["a query"], convert_to_tensor=True).shape == (1, 24)
    assert n_params(model) == n_params("L1_H32", embedding_dim=24) == encoder_params(model) + 32 * 24 + 24
    assert encoder_params(model) == encoder_params(build_encoder("L1_H32"))


@pytest.mark.bad_input
@pytest.mark.parametrize("dim", [0, -3, 1.5, True])
def test_a_bad_embedding_dimension_is_named(dim):
    with pytest.raises(ValueError, match=f"embedding_dim must be a positive integer; got {dim!r}"):
        build_encoder("L1_H16", embedding_dim=dim)
