"""Contrastive entropy, the paper's smooth retrieval metric, and the encoding it needs.

For each test pair (q, p+) and each of R repeats, W passages are drawn at random from a fixed
pool of unlabelled passages (`RetrievalData.pool_rows`: a pool split's passages, or every
corpus passage that is not a test or dev positive), and

    CE(q, p+) = -log( exp s(q,p+) / (exp s(q,p+) + sum_j exp s(q,p_j)) ),   s = inner product,

averaged over repeats and pairs. The authors' release loops over pairs and repeats in
Python; here the drawn scores of a chunk of pairs come from one matrix product and one
logsumexp does them all.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import torch

from drscale.common.progress import progress_bar
from drscale.data.corpus import RetrievalData
from drscale.model.tokens import TokenizedData, pad_batch


@torch.no_grad()
def encode(
    model: torch.nn.Module,
    sequences: Sequence[np.ndarray],
    batch_size: int = 256,
    pad_id: int = 0,
    device: torch.device | str = "cpu",
    progress: bool = False,
    desc: str = "encoding",
) -> torch.Tensor:
    """(len(sequences), 768) float32 embeddings, batched by similar length to pad little;
    `progress` counts the sequences encoded in a bar named `desc`."""
    if not sequences:
        raise ValueError("encode needs at least one sequence")
    was_training = model.training
    model.eval()
    order = np.argsort([len(s) for s in sequences], kind="stable")
    chunks = []
    with progress_bar(total=len(order), desc=desc, enabled=progress) as bar:
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            features = {k: v.to(device) for k, v in pad_batch([sequences[r] for r in rows], pad_id).items()}
            chunks.append(model(features)["sentence_embedding"].float().cpu())
            bar.update(len(rows))
    model.train(was_training)
    embeddings = torch.empty((len(sequences), chunks[0].shape[1]), dtype=torch.float32)
    embeddings[torch.from_numpy(order)] = torch.cat(chunks)
    return embeddings


def sample_negative_rows(n_pairs: int, repeats: int, negatives: int, pool_size: int, seed: int) -> torch.Tensor:
    """(n_pairs, repeats, negatives) pool rows drawn uniformly, with replacement, for one seed.

    Drawing with replacement keeps the draw vectorised. Repeats within a draw are not rare
    (256 draws from 4,096 passages repeat about 8 of them, 3%), but every draw is uniform, so
    the expected sum in CE's denominator is that of a draw without replacement; only its
    spread from draw to draw is slightly larger.
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
    progress: bool = False,
) -> float | torch.Tensor:
    """Mean contrastive entropy of (query, positive) pairs against random pool negatives.

    query_embeddings, positive_embeddings: (P, dim), row i is test pair i.
    pool_embeddings: (M, dim), the unlabelled passages negatives are drawn from.
    Returns the mean, or the (P,) per-pair values (each averaged over repeats) when `per_pair`.

    Two exact routes, chosen by cost (`route="auto"`): "scores" multiplies a chunk of queries
    by the whole pool and gathers the drawn scores (cheap when M is small next to R*W);
    "sampled" scores only the drawn (query, passage) pairs, visiting the draws in pool-row
    order (`sampled_scores`), so a huge pool such as the release's 1M passages is read from
    memory about once rather than once per draw. Both work through the pairs in chunks, so
    memory stays bounded whatever P.

    `pool_dtype=torch.bfloat16` (or float16) stores the pool in 2 bytes a value, halving
    its memory; scores are still accumulated in float32 and the softmax in float64
    (benchmarks/bench_ce.py reports the error this costs). `progress` counts the pairs done.
    """
    if query_embeddings.shape != positive_embeddings.shape or query_embeddings.ndim != 2:
        raise ValueError(
            f"query and positive embeddings must both be (pairs, dim); got {tuple(query_embeddings.shape)} "
            f"and {tuple(positive_embeddings.shape)}"
        )
    if pool_embeddings.ndim != 2 or pool_embeddings.shape[1] != query_embeddings.shape[1]:
        raise ValueError(f"pool embeddings must be (passages, {query_embeddings.shape[1]}); got {tuple(pool_embeddings.shape)}")
    if route not in ("auto", "scores", "sampled"):
        raise ValueError(f"route must be 'auto', 'scores' or 'sampled'; got {route!r}")
    if pool_dtype not in (torch.float32, torch.bfloat16, torch.float16):
        raise ValueError(f"pool_dtype must be torch.float32, torch.bfloat16 or torch.float16; got {pool_dtype}")
    pool_embeddings = pool_embeddings.to(pool_dtype).contiguous()
    device = pool_embeddings.device  # computed where the pool is (a GPU, say); the draws are the CPU's
    query_embeddings = query_embeddings.to(device).float().contiguous()
    positive_embeddings = positive_embeddings.to(device)
    pool_size = len(pool_embeddings)
    rows = sample_negative_rows(len(query_embeddings), repeats, negatives, pool_size, seed).to(device)
    if route == "auto":
        route = cheaper_route(pool_size, repeats, negatives)
    if route == "scores":
        pool_embeddings = pool_embeddings.float()  # small by construction: score in float32
        chunk = max(1, CHUNK_FLOATS // pool_size)
    else:
        draws = DRAWS_PER_CHUNK if device.type == "cpu" else DEVICE_GATHER_FLOATS // pool_embeddings.shape[1]
        chunk = max(1, draws // (repeats * negatives))
    positive_scores = (query_embeddings * positive_embeddings).sum(dim=1)
    values = torch.empty(len(query_embeddings), dtype=torch.float64, device=device)
    with progress_bar(total=len(query_embeddings), desc="contrastive entropy", enabled=progress) as bar:
        for start in range(0, len(query_embeddings), chunk):
            queries, drawn = query_embeddings[start : start + chunk], rows[start : start + chunk].reshape(-1, repeats * negatives)
            if route == "scores":
                negative_scores = (queries @ pool_embeddings.T).gather(1, drawn)
            else:
                negative_scores = sampled_scores(queries, pool_embeddings, drawn)
            negative_scores = negative_scores.view(-1, repeats, negatives)
            positive = positive_scores[start : start + chunk, None, None].expand(-1, repeats, 1)
            logits = torch.cat([positive, negative_scores], dim=2).double()
            values[start : start + chunk] = (torch.logsumexp(logits, dim=2) - logits[:, :, 0]).mean(dim=1)
            bar.update(len(queries))
    return values if per_pair else float(values.mean())


def cheaper_route(pool_size: int, repeats: int, negatives: int) -> str:
    """The route `route="auto"` takes: "scores" for a pool small next to the draws per pair."""
    return "scores" if pool_size <= SCORES_ROUTE_POOL_FACTOR * repeats * negatives else "sampled"


def sampled_scores(queries: torch.Tensor, pool: torch.Tensor, drawn: torch.Tensor) -> torch.Tensor:
    """(Q, K) float32 scores queries[i] . pool[drawn[i, k]], computing only the drawn products.

    Gathering the drawn rows pair by pair reads one random 3 KB row per draw, at a quarter of
    the memory's streaming rate. Here the draws are sorted by pool row and scored with a
    sampled matrix product (`torch.sparse.sampled_addmm` over a CSR pattern of pool rows x
    queries): each pool row is read once and meets every query that drew it while it is in
    cache, and the queries (a few MB) stay in cache throughout. A reduced-precision pool is
    widened to float32 a cache-sized block of rows at a time.
    """
    if pool.device.type != "cpu":
        # a GPU gathers the drawn rows at memory speed: no sort, no sparse pattern
        return torch.bmm(pool[drawn].float(), queries[:, :, None]).squeeze(2)
    pool_size, draws = len(pool), drawn.numel()
    flat = drawn.reshape(-1)
    order = torch.sort(flat.int() if pool_size < 2**31 else flat, stable=True).indices
    row_starts = torch.zeros(pool_size + 1, dtype=torch.int64)
    torch.cumsum(torch.bincount(flat, minlength=pool_size), 0, out=row_starts[1:])
    query_of_draw = order // drawn.shape[1]
    sorted_scores = torch.empty(draws)
    block = pool_size if pool.dtype == torch.float32 else max(1, CHUNK_FLOATS // pool.shape[1])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        for first in range(0, pool_size, block):
            last = min(first + block, pool_size)
            lo, hi = int(row_starts[first]), int(row_starts[last])
            if lo == hi:
                continue
            if hi - lo > (last - first) * len(queries):
                # more draws than products (a pool smaller than the draws per pair): a sparse
                # pattern cannot hold them all, and gathering so few rows is cheap
                sorted_scores[lo:hi] = (pool[flat[order[lo:hi]]].float() * queries[query_of_draw[lo:hi]]).sum(1)
                continue
            pattern = torch.sparse_csr_tensor(
                row_starts[first : last + 1] - lo, query_of_draw[lo:hi], torch.zeros(hi - lo),
                size=(last - first, len(queries)), check_invariants=False,
            )
            products = torch.sparse.sampled_addmm(pattern, pool[first:last].float(), queries.T, beta=0.0)
            sorted_scores[lo:hi] = products.values()
    scores = torch.empty(draws)
    scores[order] = sorted_scores
    return scores.view(drawn.shape)


SCORES_ROUTE_POOL_FACTOR = 16
"""Scoring the whole pool costs about 2*M*dim flops per pair, the sampled route about one
cached query read per draw plus a sort of the draws; with CPU matmul far faster per element
than scattered reads, scoring wins while M < ~16 * R * W."""
CHUNK_FLOATS = 1 << 21
"""Floats of intermediate scores (or of a widened reduced-precision pool block) per chunk:
8 MB, which stays in cache between the product that writes it and the gather that reads it."""
DRAWS_PER_CHUNK = 1 << 23
"""Draws the sampled route sorts and scores at once (about 30 bytes each, 250 MB): every
chunk reads the touched pool rows once, so fewer, larger chunks read the pool fewer times;
the paper's 7,437 pairs x 2,560 draws take three."""
DEVICE_GATHER_FLOATS = 1 << 29
"""Floats of gathered pool rows per chunk on a GPU (2 GB in float32): 273 of the paper's pairs
at 768-d, so the chunk fits beside the pool on a small card."""


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
    progress: bool = False,
    pool: np.ndarray | None = None,
) -> float:
    """Contrastive entropy of `model` on the test split of `data`.

    The pool is the data's pool (`RetrievalData.pool_rows`), or a seeded sample of `pool_size`
    of it, or the corpus rows `pool` when given (a study of the pool itself); `seed` fixes the
    sample and the negative draws, so every model of a sweep meets the same negatives. Pass `passage_embeddings` of the corpus rows `passage_rows` (default:
    every row) when they are already computed, e.g. for ranking metrics; they must cover the
    test positives and the pool. Otherwise only the passages needed are encoded. `progress`
    shows bars for the encoding and the scoring, for an evaluation long enough to watch.
    """
    pairs = data.test_pair_rows()
    pool = data.pool_rows(pool_size, seed=seed) if pool is None else np.asarray(pool, dtype=np.int64)
    if passage_embeddings is None:
        passage_rows = np.union1d(pairs[:, 1], pool)
        passage_embeddings = encode(model, [tokens.passages[r] for r in passage_rows], pad_id=tokens.pad_id, device=device,
                                    progress=progress, desc="encoding passages")
    elif passage_rows is None:
        passage_rows = np.arange(len(data.corpus))
    position = np.full(len(data.corpus), -1, dtype=np.int64)
    position[passage_rows] = np.arange(len(passage_rows))
    if (position[pairs[:, 1]] < 0).any() or (position[pool] < 0).any():
        raise ValueError("passage_embeddings must cover every test positive and every pool passage")
    query_rows, query_position = np.unique(pairs[:, 0], return_inverse=True)
    query_embeddings = encode(model, [tokens.queries[r] for r in query_rows], pad_id=tokens.pad_id, device=device,
                              progress=progress, desc="encoding queries")
    return contrastive_entropy(
        query_embeddings[torch.from_numpy(query_position)],
        passage_embeddings[torch.from_numpy(position[pairs[:, 1]])],
        passage_embeddings[torch.from_numpy(position[pool])],
        negatives=negatives,
        repeats=repeats,
        seed=seed,
        progress=progress,
    )


def evaluation_rows(data: RetrievalData, pool_size: int | None = None, seed: int = 1) -> np.ndarray:
    """Sorted corpus rows an evaluation needs: every test positive and the (sampled) pool.

    Encoded once, they serve contrastive entropy and, as a sub-corpus, ranking metrics.
    """
    return np.union1d(data.test_pair_rows()[:, 1], data.pool_rows(pool_size, seed=seed))
