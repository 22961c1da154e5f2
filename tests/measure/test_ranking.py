"""Exact top-k retrieval and ranking metrics, each checked against a plain, independent computation:
a full float64 score matrix sorted by (score, row), and ir-measures on a TREC run file."""

import math

import ir_measures
import numpy as np
import pytest
import torch

from drscale.measure.entropy import encode
from drscale.model.encoder import build_encoder
from drscale.measure.ranking import (
    BACKENDS,
    evaluate_ranking,
    faiss_available,
    parse_measures,
    qrels_from_table,
    ranking_metrics,
    retrieve,
    run_from_topk,
)
from drscale.model.tokens import TokenizedData

needs_faiss = pytest.mark.skipif(not faiss_available(), reason="FAISS is optional and not installed")


@pytest.fixture(scope="module")
def embeddings():
    """997 passages (a prime, so no block size divides it; 61 is one too) and 31 queries near some of them."""
    generator = torch.Generator().manual_seed(0)
    passages = torch.randn(997, 24, generator=generator)
    queries = passages[:31] + 0.8 * torch.randn(31, 24, generator=generator)
    return queries, passages


@pytest.fixture(scope="module")
def tied():
    """Passages with only two distinct scores, so which of the equals make the top k is a choice."""
    passages = torch.zeros(50, 4)
    passages[:, 0] = torch.tensor([1.0, 2.0] * 25)
    return torch.ones(3, 4), passages


@pytest.mark.parametrize("n_passages, block_size", [(61, 1), (61, 7), (997, 64), (997, 500), (997, 997), (997, 4096)])
def test_blocked_retrieval_matches_full_matmul(embeddings, n_passages, block_size):
    queries, passages = embeddings[0], embeddings[1][:n_passages]
    k = min(100, n_passages - 1)
    expected_scores, expected_rows = torch.topk(queries @ passages.T, k, dim=1)
    scores, rows = retrieve(queries, passages, k=k, block_size=block_size)
    torch.testing.assert_close(rows, expected_rows, rtol=0, atol=0)
    torch.testing.assert_close(scores, expected_scores, rtol=1e-5, atol=1e-5)  # BLAS rounds blocks differently


@pytest.mark.parametrize("block_size", [1, 3, 7, 50])
def test_ties_rank_the_lowest_passage_row_first_for_every_block_size(tied, block_size):
    scores, rows = retrieve(*tied, k=10, block_size=block_size)
    assert rows.tolist() == [list(range(1, 20, 2))] * 3
    assert scores.eq(2.0).all()
    scores, rows = retrieve(*tied, k=30, block_size=block_size)
    assert rows[0].tolist() == list(range(1, 50, 2)) + [0, 2, 4, 6, 8]


def test_k_equal_to_the_corpus_ranks_every_passage(embeddings):
    queries, passages = embeddings
    _, rows = retrieve(queries, passages, k=len(passages), block_size=100)
    assert (rows.sort(dim=1).values == torch.arange(len(passages))).all()


def exact_top_k(queries: np.ndarray, passages: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Every pair scored in float64 and each query's passages sorted by (score descending, row
    ascending): the search `retrieve` must give, done the plainest way. (scores, rows), (queries, k)."""
    scores = queries.astype(np.float64) @ passages.astype(np.float64).T
    rows = np.stack([np.lexsort((np.arange(len(query_scores)), -query_scores))[:k] for query_scores in scores])
    return np.take_along_axis(scores, rows, axis=1), rows


@pytest.mark.parametrize("backend", [pytest.param(b, marks=needs_faiss) if b == "faiss" else b for b in BACKENDS])
@pytest.mark.parametrize("block_size", [7, 64, 16384])
def test_every_backend_finds_the_exact_top_k_with_ties_by_lowest_row(embeddings, tied, backend, block_size):
    for (queries, passages), k in ((embeddings, 1), (embeddings, 100), (tied, 10), (tied, 30)):
        scores, rows = retrieve(queries, passages, k=k, block_size=block_size, backend=backend)
        expected_scores, expected_rows = exact_top_k(queries.numpy(), passages.numpy(), k)
        assert rows.tolist() == expected_rows.tolist(), k
        np.testing.assert_allclose(scores.numpy(), expected_scores, rtol=1e-5, atol=1e-4)


@pytest.mark.skipif(faiss_available(), reason="checks the message shown when FAISS is missing")
def test_faiss_backend_without_faiss_says_how_to_install_it(embeddings):
    with pytest.raises(ValueError, match="pip install faiss-cpu"):
        retrieve(*embeddings, k=5, backend="faiss")


def brute_force_trec_run(queries: np.ndarray, passages: np.ndarray, k: int, path) -> None:
    """The exact top k of each query (`exact_top_k`) as TREC run lines."""
    scores, rows = exact_top_k(queries, passages, k)
    with open(path, "w") as handle:
        for q, (query_scores, query_rows) in enumerate(zip(scores, rows)):
            for rank, (p, score) in enumerate(zip(query_rows, query_scores), start=1):
                handle.write(f"q{q} Q0 p{p} {rank} {float(score)!r} brute\n")


def test_metrics_equal_ir_measures_on_a_brute_force_trec_run(embeddings, tmp_path):
    queries, passages = embeddings
    relevant = {f"q{q}": {f"p{q}": 1, f"p{(7 * q + 3) % 997}": 1} for q in range(len(queries))}
    (tmp_path / "qrels").write_text("".join(f"{q} 0 {p} 1\n" for q, ps in relevant.items() for p in ps))
    brute_force_trec_run(queries.numpy(), passages.numpy(), 50, tmp_path / "run")
    measures = ["nDCG@10", "RR@10", "R@5", "R@50", "AP", "P@5"]
    expected = ir_measures.calc_aggregate(
        [ir_measures.parse_measure(m) for m in measures],
        ir_measures.read_trec_qrels(str(tmp_path / "qrels")),
        ir_measures.read_trec_run(str(tmp_path / "run")),
    )

    scores, rows = retrieve(queries, passages, k=50, block_size=128)
    run = run_from_topk(scores, rows, [f"q{q}" for q in range(len(queries))], [f"p{p}" for p in range(len(passages))])
    ours = ranking_metrics(run, relevant, measures)

    assert list(ours) == ["ndcg@10", "mrr@10", "recall@5", "recall@50", "map", "precision@5"]
    assert ours == {name: expected[ir_measures.parse_measure(m)] for name, m in zip(ours, measures)}
    assert 0 < ours["mrr@10"] < 1 and 0 < ours["recall@50"] < 1  # a run that tells measures apart


def test_hand_checked_values_on_three_queries():
    # one-dimensional embeddings: every query ranks p0 > p1 > p2 > p3
    queries, passages = torch.ones(3, 1), torch.tensor([[4.0], [3.0], [2.0], [1.0]])
    qrels = {"first": {"p0": 1}, "second": {"p1": 1}, "both": {"p0": 1, "p2": 1}}
    scores, rows = retrieve(queries, passages, k=4)
    run = run_from_topk(scores, rows, ["first", "second", "both"], ["p0", "p1", "p2", "p3"])
    per_query = {q: ranking_metrics({q: run[q]}, {q: qrels[q]}, ["RR@10", "nDCG@10", "R@2"]) for q in qrels}

    assert per_query["first"] == {"mrr@10": 1.0, "ndcg@10": 1.0, "recall@2": 1.0}
    assert per_query["second"]["mrr@10"] == 0.5  # positive at rank 2
    assert per_query["second"]["ndcg@10"] == pytest.approx(1 / math.log2(3))
    assert per_query["both"]["ndcg@10"] == pytest.approx((1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3)))
    assert per_query["both"]["recall@2"] == 0.5
    assert ranking_metrics(run, qrels, ["RR@10"]) == {"mrr@10": pytest.approx((1 + 0.5 + 1) / 3)}


def test_a_query_without_a_ranking_counts_as_zero():
    qrels = {"a": {"p0": 1}, "b": {"p1": 1}}
    assert ranking_metrics({"a": {"p0": 1.0}}, qrels, ["RR@10"]) == {"mrr@10": 0.5}


def test_measures_keep_their_ir_measures_name_when_they_have_other_parameters():
    assert list(parse_measures(["nDCG(judged_only=True)@10", "R@1000", "RR@10"])) == [
        "nDCG(judged_only=True)@10", "recall@1000", "mrr@10"]


@pytest.fixture(scope="module")
def tiny_model_and_tokens(small_data):
    model = build_encoder("L1_H16", seed=0)
    return model, TokenizedData.build(small_data, model.tokenizer, 16, 32)


def test_evaluate_ranking_is_in_range_and_deterministic(small_data, tiny_model_and_tokens):
    model, tokens = tiny_model_and_tokens
    first = evaluate_ranking(model, small_data, tokens, k=1000, batch_size=64)
    second = evaluate_ranking(model, small_data, tokens, k=1000, batch_size=64)
    assert list(first) == ["ndcg@10", "mrr@10", "recall@100", "recall@1000"]
    assert first == second
    assert all(0.0 <= v <= 1.0 for v in first.values())
    assert first["recall@1000"] == 1.0  # k is capped at the few hundred passages: all are retrieved


def test_evaluate_ranking_reuses_precomputed_passage_embeddings(small_data, tiny_model_and_tokens):
    model, tokens = tiny_model_and_tokens
    passages = encode(model, tokens.passages, 64, tokens.pad_id)
    measures = ["nDCG@10", "R@20"]
    reused = evaluate_ranking(model, small_data, tokens, measures, k=50, passage_embeddings=passages)
    assert reused == evaluate_ranking(model, small_data, tokens, measures, k=50)
    assert qrels_from_table(small_data.test_qrels).keys() == {small_data.queries["id"][r] for r in
                                                                np.unique(small_data.test_pair_rows()[:, 0])}


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda q, p: retrieve(q, p, k=0), "k must be a positive integer; got 0"),
        (lambda q, p: retrieve(q, p, k=998), r"k \(998\) exceeds the number of passages \(997\)"),
        (lambda q, p: retrieve(q[:, :8], p, k=5), "same dimension; got 8 and 24"),
        (lambda q, p: retrieve(q, p, k=5, block_size=0), "block_size must be at least 1"),
        (lambda q, p: retrieve(q, p, k=5, backend="annoy"), "backend must be one of"),
        (lambda q, p: retrieve(q * float("nan"), p, k=5), "query_embeddings hold NaN"),
        (lambda q, p: retrieve(q, torch.cat([p, p[:1] * float("inf")]), k=5, block_size=64), "passage_embeddings hold NaN"),
        (lambda q, p: ranking_metrics({}, {"a": {"p": 1}}, ["nDCG@10", "Recal@10"]), "measures: unknown .*'Recal@10'"),
        (lambda q, p: ranking_metrics({}, {"a": {"p": 1}}, []), "measures must name at least one"),
    ],
)
def test_bad_arguments_are_refused_by_name(embeddings, call, message):
    with pytest.raises(ValueError, match=message):
        call(*embeddings)


def test_evaluate_ranking_refuses_bad_k_and_embeddings_by_name(small_data, tiny_model_and_tokens):
    model, tokens = tiny_model_and_tokens
    with pytest.raises(ValueError, match="k must be a positive integer; got 0"):
        evaluate_ranking(model, small_data, tokens, k=0)
    with pytest.raises(ValueError, match=r"k \(50\) is below the deepest measure cut-off \(100\)"):
        evaluate_ranking(model, small_data, tokens, ["RR@10", "R@100"], k=50)
    with pytest.raises(ValueError, match="measures: unknown"):
        evaluate_ranking(model, small_data, tokens, ["Recal@10"])
    with pytest.raises(ValueError, match=r"passage_embeddings must be \(\d+, dim\)"):
        evaluate_ranking(model, small_data, tokens, passage_embeddings=torch.zeros(3, 768))


def test_a_sub_corpus_ranks_only_its_passages(small_data, tiny_model_and_tokens):
    from drscale.measure.entropy import evaluation_rows

    model, tokens = tiny_model_and_tokens
    rows = evaluation_rows(small_data, pool_size=100, seed=1)
    assert set(small_data.test_pair_rows()[:, 1].tolist()) <= set(rows.tolist())
    sub = evaluate_ranking(model, small_data, tokens, corpus_rows=rows)
    again = evaluate_ranking(model, small_data, tokens, corpus_rows=rows, passage_embeddings=encode(model, [tokens.passages[r] for r in rows]))
    full = evaluate_ranking(model, small_data, tokens)
    assert sub == again
    assert sub["recall@100"] >= full["recall@100"]  # fewer distractors can only help
