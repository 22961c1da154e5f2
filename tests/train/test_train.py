"""The training loop: presets, shared negatives, batch order, the loss, padding, precision and compile options,
and the errors that stop a run before or during training."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from drscale.model.encoder import build_encoder
from drscale.model.tokens import TokenizedData, pad_batch
from drscale.train.loop import TrainingDiverged, batch_order, contrastive_loss, sample_shared_negatives, train
from drscale.train.config import CPU_PRESET, PAPER_PRESET, with_overrides
from drscale.common.device import pick_device

TINY = replace(CPU_PRESET, eval_points=0, selection="last", epochs=None, steps=30, batch_size=8, negatives=16, warmup_steps=3, passage_max_length=32, query_max_length=16)


@pytest.fixture(scope="module")
def tokens(small_data):
    return TokenizedData.build(small_data, build_encoder("L1_H16").tokenizer, 16, 32)


def test_paper_preset_holds_the_released_defaults():
    assert (PAPER_PRESET.steps, PAPER_PRESET.batch_size, PAPER_PRESET.negatives) == (10_000, 128, 256)
    assert (PAPER_PRESET.learning_rate, PAPER_PRESET.weight_decay, PAPER_PRESET.max_grad_norm) == (5e-6, 1e-3, 1.0)
    assert (PAPER_PRESET.warmup_steps, PAPER_PRESET.seed, PAPER_PRESET.passage_max_length) == (0, 521, 180)


def test_training_lowers_the_loss_on_real_pairs(small_data, tokens):
    model = build_encoder("L1_H16", seed=0)
    result = train(model, tokens, small_data.train_pair_rows(seed=0), replace(TINY, steps=60), progress=False)
    assert len(result.losses) == len(result.step_seconds) == 60
    assert min(result.step_seconds) > 0 and sum(result.step_seconds) <= result.wall_time_s
    assert np.mean(result.losses[-10:]) < np.mean(result.losses[:10]) - 0.3
    assert result.device == "cpu"


def test_same_seed_gives_identical_training(small_data, tokens):
    runs = []
    for _ in range(2):
        model = build_encoder("L1_H16", seed=0)
        runs.append((train(model, tokens, small_data.train_pair_rows(seed=0), TINY, progress=False).losses, model))
    assert runs[0][0] == runs[1][0]
    for a, b in zip(runs[0][1].parameters(), runs[1][1].parameters()):
        assert torch.equal(a, b)


def test_reading_the_loss_in_blocks_changes_no_loss_and_no_weight(small_data, tokens):
    runs = []
    for read_every in (1, 7, 1000):  # every step, blocks that do not divide the 30 steps, only at the end
        model = build_encoder("L1_H16", seed=0)
        result = train(model, tokens, small_data.train_pair_rows(seed=0), TINY, progress=False, loss_read_every=read_every)
        runs.append((result.losses, model))
    for losses, model in runs[1:]:
        assert losses == runs[0][0] and len(losses) == TINY.steps
        assert all(torch.equal(a, b) for a, b in zip(model.parameters(), runs[0][1].parameters()))


@pytest.mark.parametrize("read_every", [1, 3, 1000])
def test_a_loss_read_late_still_names_the_step_it_diverged(small_data, tokens, read_every):
    model = NaNAfter(build_encoder("L1_H16", seed=0), after=10)  # two forward calls per step: step 5 is the first NaN
    with pytest.raises(TrainingDiverged, match="at step 5"):
        train(model, tokens, small_data.train_pair_rows(seed=0), TINY, progress=False, loss_read_every=read_every)


@pytest.mark.bad_input
@pytest.mark.parametrize("value", [0, -3, 2.5, None])
def test_a_bad_loss_read_interval_is_refused_by_name(small_data, tokens, value):
    with pytest.raises(ValueError, match="loss_read_every must be a positive integer"):
        train(build_encoder("L1_H16", seed=0), tokens, small_data.train_pair_rows(seed=0), TINY, progress=False,
              loss_read_every=value)


def test_shared_negatives_are_distinct_and_never_a_batch_positive():
    rng = np.random.default_rng(0)
    positives = np.arange(0, 40, 2)
    negatives = sample_shared_negatives(rng, corpus_size=60, count=35, exclude=positives)
    assert len(negatives) == len(set(negatives.tolist())) == 35
    assert not set(negatives.tolist()) & set(positives.tolist())
    with pytest.raises(ValueError, match="cannot draw 45 negatives"):
        sample_shared_negatives(rng, corpus_size=60, count=45, exclude=positives)


def test_batches_walk_through_every_pair_once_per_epoch():
    order = batch_order(n_pairs=12, batch_size=4, steps=6, rng=np.random.default_rng(0))
    assert order.shape == (6, 4)
    assert sorted(order[:3].flatten()) == list(range(12))
    assert sorted(order[3:].flatten()) == list(range(12))
    with pytest.raises(ValueError, match=r"batch_size \(16\) is larger than the 12 training pairs"):
        batch_order(12, 16, 1, np.random.default_rng(0))


def test_loss_is_cross_entropy_of_positive_against_shared_negatives():
    queries, positives, negatives = torch.randn(3, 4), torch.randn(3, 4), torch.randn(5, 4)
    expected = np.mean(
        [-torch.log_softmax(torch.cat([(q * p).sum()[None], negatives @ q]), 0)[0].item() for q, p in zip(queries, positives)]
    )
    assert contrastive_loss(queries, positives, negatives).item() == pytest.approx(expected, rel=1e-6)


def test_dynamic_padding_pads_to_the_longest_in_the_batch():
    batch = pad_batch([np.array([101, 7, 102]), np.array([101, 102])])
    assert batch["input_ids"].tolist() == [[101, 7, 102], [101, 102, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]


class NaNAfter(torch.nn.Module):
    """Wraps an encoder and returns NaN embeddings from call `after` on."""

    def __init__(self, model, after):
        super().__init__()
        self.model, self.after, self.calls = model, after, 0

    def forward(self, features):
        self.calls += 1
        out = self.model(features)
        if self.calls > self.after:
            out["sentence_embedding"] = out["sentence_embedding"] * float("nan")
        return out


def test_a_non_finite_loss_stops_training_and_names_the_step(small_data, tokens):
    model = NaNAfter(build_encoder("L1_H16", seed=0), after=10)  # two forward calls per step
    with pytest.raises(TrainingDiverged, match="at step 5") as caught:
        train(model, tokens, small_data.train_pair_rows(seed=0), TINY, progress=False)
    assert caught.value.step == 5


@pytest.mark.bad_input
@pytest.mark.parametrize(
    "field, value, message",
    [
        ("steps", 0, "steps must be a positive integer"),
        ("batch_size", -1, "batch_size must be a positive integer"),
        ("negatives", 2.5, "negatives must be a positive integer"),
        ("learning_rate", 0.0, "learning_rate must be a positive finite number"),
        ("warmup_steps", 30, r"warmup_steps must be in \[0, steps=30\)"),
        ("precision", "float16", r"precision must be one of \['bfloat16', 'float32'\]; got 'float16'"),
        ("compile", "yes", "compile must be True or False; got 'yes'"),
        ("fast_dropout", 1, "fast_dropout must be True or False; got 1"),
    ],
)
def test_bad_training_settings_are_named(field, value, message):
    with pytest.raises(ValueError, match=message):
        replace(TINY, **{field: value})


def test_overrides_set_none_as_given_and_refuse_unknown_names():
    config = with_overrides(CPU_PRESET, steps=70, epochs=None)
    assert config.steps == 70 and config.epochs is None and config.learning_rate == CPU_PRESET.learning_rate
    with pytest.raises(ValueError, match=r"unknown training setting\(s\) \['stepz'\]"):
        with_overrides(CPU_PRESET, stepz=7)
    with pytest.raises(ValueError, match="learning_rate"):
        with_overrides(CPU_PRESET, learning_rate=None)


@pytest.mark.bad_input
def test_too_many_negatives_for_the_corpus_is_refused_before_training(small_data, tokens):
    config = replace(TINY, negatives=len(small_data.corpus))
    with pytest.raises(ValueError, match="exceed the corpus"):
        train(build_encoder("L1_H16"), tokens, small_data.train_pair_rows(seed=0), config, progress=False)


def test_device_is_cuda_only_when_present():
    assert pick_device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert pick_device("cpu").type == "cpu"


def test_bfloat16_autocast_trains_close_to_float32(small_data, tokens):
    pairs = small_data.train_pair_rows(seed=0)
    full = train(build_encoder("L1_H16", seed=0), tokens, pairs, replace(TINY, steps=8), progress=False)
    half = train(build_encoder("L1_H16", seed=0), tokens, pairs, replace(TINY, steps=8, precision="bfloat16"), progress=False)
    assert half.losses != full.losses  # the encoder really ran in bfloat16
    np.testing.assert_allclose(half.losses, full.losses, rtol=0.05)


def test_compile_trains_through_the_compiled_encoder(small_data, tokens, monkeypatch):
    compiled = []

    def fake_compile(model, dynamic):
        compiled.append((model, dynamic))
        return lambda features: model(features)

    monkeypatch.setattr(torch, "compile", fake_compile)
    model = build_encoder("L1_H16", seed=0)
    train(model, tokens, small_data.train_pair_rows(seed=0), replace(TINY, steps=2, warmup_steps=0, compile=True), progress=False)
    assert compiled == [(model, True)]


def test_a_passage_shared_by_two_queries_is_encoded_once(small_data, tokens, monkeypatch):
    encoded = []
    original = TokenizedData.passage_batch

    def recording(self, rows):
        encoded.append(list(rows))
        return original(self, rows)

    monkeypatch.setattr(TokenizedData, "passage_batch", recording)
    pairs = small_data.train_pair_rows(seed=0)[:8].copy()
    pairs[1, 1] = pairs[0, 1]  # two queries, one positive passage
    train(build_encoder("L1_H16", seed=0), tokens, pairs, replace(TINY, steps=1, warmup_steps=0), progress=False)
    assert len(encoded) == 1 and len(encoded[0]) == len(set(encoded[0])) == 7 + TINY.negatives
