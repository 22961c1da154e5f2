"""Contrastive entropy against the authors' one-pair-at-a-time loop, and its invariances: seed, chunking,
route, pool precision, and the limits a useless or a perfect retriever reaches."""

import math

import numpy as np
import pytest
import torch

from drscale.measure import entropy as metrics
from drscale.measure.entropy import contrastive_entropy, encode, evaluate_contrastive_entropy, sample_negative_rows
from drscale.model.encoder import build_encoder
from drscale.model.tokens import TokenizedData


def naive_contrastive_entropy(queries, positives, pool, rows):
    """The authors' way: one pair and one repeat at a time."""
    values = []
    for i in range(len(queries)):
        per_repeat = []
        for r in range(rows.shape[1]):
            positive = float(queries[i] @ positives[i])
            negatives = [float(queries[i] @ pool[j]) for j in rows[i, r]]
            scores = np.array([positive, *negatives], dtype=np.float64)
            per_repeat.append(-(positive - np.log(np.exp(scores - scores.max()).sum()) - scores.max()))
        values.append(np.mean(per_repeat))
    return float(np.mean(values))


@pytest.fixture
def embeddings():
    generator = torch.Generator().manual_seed(0)
    queries = torch.randn(23, 16, generator=generator)
    positives = queries + 0.5 * torch.randn(23, 16, generator=generator)
    pool = torch.randn(300, 16, generator=generator)
    return queries, positives, pool


@pytest.mark.parametrize("route", ["scores", "sampled", "auto"])
def test_ce_matches_naive_loop(embeddings, route):
    queries, positives, pool = embeddings
    fast = contrastive_entropy(queries, positives, pool, negatives=20, repeats=3, seed=5, route=route)
    rows = sample_negative_rows(len(queries), 3, 20, len(pool), seed=5).numpy()
    slow = naive_contrastive_entropy(queries.numpy(), positives.numpy(), pool.numpy(), rows)
    assert fast == pytest.approx(slow, abs=1e-5)


def test_ce_is_the_same_for_one_seed_and_changes_with_the_seed(embeddings):
    values = [contrastive_entropy(*embeddings, negatives=32, repeats=4, seed=s) for s in (1, 1, 2)]
    assert values[0] == values[1]
    assert values[0] != values[2]


@pytest.mark.parametrize("route", ["scores", "sampled"])
@pytest.mark.parametrize("chunk", [1, 7 * 300, 1 << 22])
def test_ce_does_not_depend_on_chunking(embeddings, monkeypatch, route, chunk):
    expected = contrastive_entropy(*embeddings, negatives=32, repeats=4, per_pair=True, route=route)
    monkeypatch.setattr(metrics, "CHUNK_FLOATS", chunk)
    monkeypatch.setattr(metrics, "DRAWS_PER_CHUNK", chunk)
    torch.testing.assert_close(contrastive_entropy(*embeddings, negatives=32, repeats=4, per_pair=True, route=route),
                               expected, rtol=0, atol=1e-6)  # float32 matmuls of other shapes round differently


def test_the_routes_agree_to_float32_rounding(embeddings):
    scores, sampled = (contrastive_entropy(*embeddings, negatives=32, repeats=4, per_pair=True, route=route)
                       for route in ("scores", "sampled"))
    torch.testing.assert_close(scores, sampled, rtol=0, atol=1e-6)


def test_sampled_scores_are_the_drawn_products_in_draw_order():
    generator = torch.Generator().manual_seed(3)
    queries, pool = torch.randn(6, 8, generator=generator), torch.randn(50, 8, generator=generator)
    drawn = torch.randint(50, (6, 40), generator=generator)
    drawn[0, :5] = 7  # the same row drawn repeatedly by one query
    expected = torch.einsum("qd,qkd->qk", queries, pool[drawn])
    torch.testing.assert_close(metrics.sampled_scores(queries, pool, drawn), expected)
    torch.testing.assert_close(metrics.sampled_scores(queries, pool.bfloat16(), drawn),
                               torch.einsum("qd,qkd->qk", queries, pool.bfloat16().float()[drawn]))


def test_indistinguishable_passages_give_log_of_w_plus_one():
    same = torch.ones(5, 8)
    assert contrastive_entropy(same, same, torch.ones(300, 8), negatives=256, repeats=2) == pytest.approx(math.log(257))


def test_a_perfect_retriever_approaches_zero():
    queries = torch.eye(4) * 50
    pool = -torch.eye(4).repeat(10, 1)
    assert contrastive_entropy(queries, queries, pool, negatives=16, repeats=2) < 1e-6


def test_negative_draws_are_uniform_over_the_pool():
    rows = sample_negative_rows(200, 10, 50, pool_size=50, seed=0)
    counts = torch.bincount(rows.flatten(), minlength=50).float()
    assert rows.min() >= 0 and rows.max() < 50
    assert counts.std() / counts.mean() < 0.05


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"negatives": 400}, r"negatives \(400\) must not exceed the pool of 300"),
        ({"repeats": 0}, "repeats must be at least 1"),
        ({"negatives": 0}, "negatives must be at least 1"),
        ({"route": "loop"}, "route must be 'auto', 'scores' or 'sampled'; got 'loop'"),
        ({"pool_dtype": torch.int8}, "pool_dtype must be torch.float32, torch.bfloat16 or torch.float16; got torch.int8"),
    ],
)
def test_bad_ce_parameters_are_named(embeddings, kwargs, message):
    with pytest.raises(ValueError, match=message):
        contrastive_entropy(*embeddings, **kwargs)


@pytest.mark.parametrize("route", ["scores", "sampled"])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_a_reduced_precision_pool_changes_ce_only_by_its_rounding(embeddings, route, dtype):
    queries, positives, pool = embeddings
    exact = contrastive_entropy(queries, positives, pool, negatives=20, repeats=3, seed=5, route=route, per_pair=True)
    reduced = contrastive_entropy(queries, positives, pool, negatives=20, repeats=3, seed=5, route=route, per_pair=True, pool_dtype=dtype)
    rounded = contrastive_entropy(queries, positives, pool.to(dtype).float(), negatives=20, repeats=3, seed=5, route=route, per_pair=True)
    torch.testing.assert_close(reduced, rounded, rtol=0, atol=1e-5)  # the same draws, scored from the rounded pool
    assert 0 < (reduced - exact).abs().max() < 0.05


def test_mismatched_shapes_are_refused(embeddings):
    queries, positives, pool = embeddings
    with pytest.raises(ValueError, match="query and positive embeddings"):
        contrastive_entropy(queries, positives[:5], pool)
    with pytest.raises(ValueError, match="pool embeddings must be"):
        contrastive_entropy(queries, positives, pool[:, :3])


def test_encode_keeps_input_order_whatever_the_lengths():
    model = build_encoder("L1_H16", seed=0)
    sequences = [np.array([101, *range(1000, 1000 + n), 102]) for n in (9, 1, 5, 3)]
    together = encode(model, sequences, batch_size=2)
    alone = torch.cat([encode(model, [s]) for s in sequences])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-4)


def test_evaluation_on_real_data_is_deterministic_and_seed_dependent(small_data):
    model = build_encoder("L1_H16", seed=0)
    tokens = TokenizedData.build(small_data, model.tokenizer, 16, 32)
    values = [evaluate_contrastive_entropy(model, small_data, tokens, negatives=64, repeats=2, pool_size=200, seed=s) for s in (1, 1, 2)]
    assert values[0] == values[1] != values[2]
    # Raw inner products of a random encoder spread widely, so it does worse than chance (ln 65).
    assert values[0] > math.log(65)


def test_the_sampled_route_scores_a_pool_smaller_than_the_draws_per_pair(embeddings):
    queries, positives, pool = embeddings
    small = pool[:50]  # 3 repeats x 40 negatives = 120 draws per pair from 50 passages
    sampled = contrastive_entropy(queries, positives, small, negatives=40, repeats=3, route="sampled")
    assert sampled == pytest.approx(contrastive_entropy(queries, positives, small, negatives=40, repeats=3,
                                                        route="scores"), abs=1e-6)
