"""Contrastive entropy, the paper's smooth retrieval metric, and the encoding it needs.

For each test pair (q, p+) and each of R repeats, W passages are drawn at random from a fixed
pool of unlabelled passages (every corpus passage that is not a test positive), and

    CE(q, p+) = -log( exp s(q,p+) / (exp s(q,p+) + sum_j exp s(q,p_j)) ),   s = inner product,

averaged over repeats and pairs. The authors' release loops over pairs and repeats in
Python; here one batched gather and one logsumexp do all pairs of a chunk at once.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from drscale.data import RetrievalData
from drscale.tokens import TokenizedData, pad_batch


@torch.no_grad()
def encode(
    model: torch.nn.Module,
    sequences: Sequence[np.ndarray],
    batch_size: int = 256,
    pad_id: int = 0,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """(len(sequences), 768) float32 embeddings, batched by similar length to pad little."""
    if not sequences:
        raise ValueError("encode needs at least one sequence")
    was_training = model.training
    model.eval()
    order = np.argsort([len(s) for s in sequences], kind="stable")
    chunks = []
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        features = {k: v.to(device) for k, v in pad_batch([sequences[r] for r in rows], pad_id).items()}
        chunks.append(model(features)["sentence_embedding"].float().cpu())
    model.train(was_training)
    embeddings = torch.empty((len(sequences), chunks[0].shape[1]), dtype=torch.float32)
    embeddings[torch.from_numpy(order)] = torch.cat(chunks)
    return embeddings


def sample_negative_rows(n_pairs: int, repeats: int, negatives: int, pool_size: int, seed: int) -> torch.Tensor:
    """(n_pairs, repeats, negatives) pool rows drawn uniformly, with replacement, for one seed.

    Drawing with replacement keeps the draw vectorised; with a pool of thousands of passages
    and 256 draws, repeats within one draw are rare and change CE negligibly.
    """
    for name, value in (("n_pairs", n_pairs), ("repeats", repeats), ("negatives", negatives), ("pool_size", pool_size)):
        if value < 1:
            raise ValueError(f"{name} must be at least 1; got {value}")
    if negatives > pool_size:
        raise ValueError(f"negatives ({negatives}) must not exceed the pool of {pool_size} passages")
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(pool_size, (n_pairs, repeats, negatives), generator=generator)


def contrastive_entropy(
    query_embeddings: torch.Tensor,
    positive_embeddings: torch.Tensor,
    pool_embeddings: torch.Tensor,
    negatives: int = 256,
    repeats: int = 10,
    seed: int = 1,
    per_pair: bool = False,
    route: str = "auto",
    pool_dtype: torch.dtype = torch.float32,
) -> float | torch.Tensor:
    """Mean contrastive entropy of (query, positive) pairs against random pool negatives.

    query_embeddings, positive_embeddings: (P, dim), row i is test pair i.
    pool_embeddings: (M, dim), the unlabelled passages negatives are drawn from.
    Returns the mean, or the (P,) per-pair values (each averaged over repeats) when `per_pair`.

    Two exact routes, chosen by cost (`route="auto"`): "scores" multiplies a chunk of queries
    by the whole pool and gathers the drawn scores (cheap when M is small next to R*W);
    "gather" gathers the drawn passages' embeddings and scores only those (cheap when the
    pool is huge, as the release's 1M passages). Both stream pairs in chunks of about
    8 MB, so memory stays flat whatever P; the gather copies rows with `index_select`
    into one reused buffer (advanced indexing was 2-3x slower at the same traffic).

    `pool_dtype=torch.bfloat16` (or float16) stores the pool in 2 bytes a value, halving
    the memory the gather route reads; scores are still accumulated in float32 and the
    softmax in float64 (benchmarks/bench_ce.py reports the error this costs).
    """
    if query_embeddings.shape != positive_embeddings.shape or query_embeddings.ndim != 2:
        raise ValueError(
            f"query and positive embeddings must both be (pairs, dim); got {tuple(query_embeddings.shape)} "
            f"and {tuple(positive_embeddings.shape)}"
        )
    if pool_embeddings.ndim != 2 or pool_embeddings.shape[1] != query_embeddings.shape[1]:
        raise ValueError(f"pool embeddings must be (passages, {query_embeddings.shape[1]}); got {tuple(pool_embeddings.shape)}")
    if route not in ("auto", "scores", "gather"):
        raise ValueError(f"route must be 'auto', 'scores' or 'gather'; got {route!r}")
    if pool_dtype not in (torch.float32, torch.bfloat16, torch.float16):
        raise ValueError(f"pool_dtype must be torch.float32, torch.bfloat16 or torch.float16; got {pool_dtype}")
    pool_embeddings = pool_embeddings.to(pool_dtype).contiguous()
    pool_size, dim = pool_embeddings.shape
    rows = sample_negative_rows(len(query_embeddings), repeats, negatives, pool_size, seed)
    if route == "auto":
        route = "scores" if pool_size <= SCORES_ROUTE_POOL_FACTOR * repeats * negatives else "gather"
    floats_per_pair = pool_size if route == "scores" else repeats * negatives * dim
    chunk = max(1, CHUNK_FLOATS // floats_per_pair)
    positive_scores = (query_embeddings * positive_embeddings).sum(dim=1)
    values = torch.empty(len(query_embeddings), dtype=torch.float64)
    if route == "scores":
        pool_embeddings = pool_embeddings.float()  # small by construction: score in float32
    gathered = torch.empty((chunk * repeats * negatives, dim), dtype=pool_dtype) if route == "gather" else None
    for start in range(0, len(query_embeddings), chunk):
        queries, drawn = query_embeddings[start : start + chunk], rows[start : start + chunk].reshape(-1, repeats * negatives)
        if route == "scores":
            negative_scores = (queries @ pool_embeddings.T).gather(1, drawn)
        else:
            block = gathered[: drawn.numel()].view(len(drawn), -1, dim)
            torch.index_select(pool_embeddings, 0, drawn.reshape(-1), out=block.view(-1, dim))
            negative_scores = torch.empty(drawn.shape)
            for pair in range(len(drawn)):  # a matrix-vector product per pair: 3-4x faster than bmm here
                torch.mv(block[pair].float(), queries[pair], out=negative_scores[pair])
        negative_scores = negative_scores.view(-1, repeats, negatives)
        positive = positive_scores[start : start + chunk, None, None].expand(-1, repeats, 1)
        logits = torch.cat([positive, negative_scores], dim=2).double()
        values[start : start + chunk] = (torch.logsumexp(logits, dim=2) - logits[:, :, 0]).mean(dim=1)
    return values if per_pair else float(values.mean())


SCORES_ROUTE_POOL_FACTOR = 16
"""Scoring the whole pool costs about 2*M*dim flops per pair, gathering R*W embeddings about
4*R*W*dim bytes; with CPU matmul ~10x faster per element than a random gather, scoring wins
while M < ~16 * R * W."""
CHUNK_FLOATS = 1 << 21
"""Floats of intermediate scores or gathered embeddings per chunk (8 MB, one pair's 2,560
gathered passages at 768 dimensions): the chunk stays in cache between the gather that
writes it and the products that read it; 16 to 64 MB chunks ran 1.1 to 1.6x slower on a
1M-passage pool (benchmarks/bench_ce.py). Memory stays constant whatever the number of pairs."""


def evaluate_contrastive_entropy(
    model: torch.nn.Module,
    data: RetrievalData,
    tokens: TokenizedData,
    negatives: int = 256,
    repeats: int = 10,
    pool_size: int | None = None,
    seed: int = 1,
    device: torch.device | str = "cpu",
    passage_embeddings: torch.Tensor | None = None,
    passage_rows: np.ndarray | None = None,
) -> float:
    """Contrastive entropy of `model` on the test split of `data`.

    The pool is every non-test-positive passage, or a seeded sample of `pool_size` of them;
    `seed` fixes both that sample and the negative draws, so every model of a sweep meets the
    same negatives. Pass `passage_embeddings` of the corpus rows `passage_rows` (default:
    every row) when they are already computed, e.g. for ranking metrics; they must cover the
    test positives and the pool. Otherwise only the passages needed are encoded.
    """
    pairs = data.test_pair_rows()
    pool = data.pool_rows(pool_size, seed=seed)
    if passage_embeddings is None:
        passage_rows = evaluation_rows(data, pool_size, seed)
        passage_embeddings = encode(model, [tokens.passages[r] for r in passage_rows], pad_id=tokens.pad_id, device=device)
    elif passage_rows is None:
        passage_rows = np.arange(len(data.corpus))
    position = np.full(len(data.corpus), -1, dtype=np.int64)
    position[passage_rows] = np.arange(len(passage_rows))
    if (position[pairs[:, 1]] < 0).any() or (position[pool] < 0).any():
        raise ValueError("passage_embeddings must cover every test positive and every pool passage")
    query_rows, query_position = np.unique(pairs[:, 0], return_inverse=True)
    query_embeddings = encode(model, [tokens.queries[r] for r in query_rows], pad_id=tokens.pad_id, device=device)
    return contrastive_entropy(
        query_embeddings[torch.from_numpy(query_position)],
        passage_embeddings[torch.from_numpy(position[pairs[:, 1]])],
        passage_embeddings[torch.from_numpy(position[pool])],
        negatives=negatives,
        repeats=repeats,
        seed=seed,
    )


def evaluation_rows(data: RetrievalData, pool_size: int | None = None, seed: int = 1) -> np.ndarray:
    """Sorted corpus rows an evaluation needs: every test positive and the (sampled) pool.

    Encoded once, they serve contrastive entropy and, as a sub-corpus, ranking metrics.
    """
    return np.union1d(data.test_pair_rows()[:, 1], data.pool_rows(pool_size, seed=seed))
