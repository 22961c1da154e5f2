"""Ranking metrics over the whole corpus: exact top-k retrieval by inner product, scored by ir-measures.

Contrastive entropy compares each positive with a few hundred random passages; NDCG@10,
MRR@10 and recall@k compare it with the entire corpus, which is what a deployed retriever
faces. The release used FAISS flat inner-product search over a 1M-passage sub-corpus, top
1000, scored by pytrec_eval. Here retrieval is exact as well: query-passage scores are
computed one block of passages at a time and merged into a running top-k, so memory is
queries x (block + k) scores instead of the full queries x corpus matrix (1M passages x 7k
queries would be 28 GB of float32). FAISS `IndexFlatIP` is an alternative backend when it is
installed.

Equal scores are ranked by corpus row, lowest first, so the output does not depend on how
`torch.topk` or FAISS happen to pick among ties. Across block sizes and backends the scores
themselves can differ in the last bits (BLAS rounds blocks of different shapes differently),
so passages whose scores are that close may swap ranks; the set retrieved is otherwise the
same. Metrics come from ir-measures, which orders each retrieved list by score again; a test
query with nothing retrieved counts as 0.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping, Sequence

import datasets
import ir_measures
import numpy as np
import torch

from drscale.common.progress import progress_bar
from drscale.data.corpus import RetrievalData, column
from drscale.measure.entropy import encode
from drscale.model.tokens import TokenizedData

DEFAULT_MEASURES = ("nDCG@10", "RR@10", "R@100", "R@1000")
"""The ranking metrics the paper compares contrastive entropy with (MRR@10 is ir-measures' RR@10)."""

BACKENDS = ("torch", "faiss", "auto")

_SHORT_NAMES = {"nDCG": "ndcg", "RR": "mrr", "R": "recall", "P": "precision", "AP": "map", "Success": "success"}

Run = dict[str, dict[str, float]]
Qrels = dict[str, dict[str, int]]


def faiss_available() -> bool:
    """Whether FAISS can be imported (it is optional: `pip install faiss-cpu`)."""
    return importlib.util.find_spec("faiss") is not None


def retrieve(
    query_embeddings: torch.Tensor,
    passage_embeddings: torch.Tensor,
    k: int,
    block_size: int = 16384,
    backend: str = "torch",
    progress: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact top-k passages of each query by inner product: (scores, indices), both (queries, k).

    query_embeddings: (Q, dim); passage_embeddings: (M, dim); indices are passage rows, best
    first, equal scores by lowest row. `backend` "torch" scores `block_size` passages at a time
    (memory: Q * (block_size + k) floats, plus a few Q x k working arrays); "faiss" uses
    `IndexFlatIP` (which holds a copy of the passages); "auto" picks FAISS when it is installed.
    `progress` counts the blocks of the "torch" backend (FAISS searches in one call).
    """
    _check_embeddings(query_embeddings, passage_embeddings)
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer; got {k!r}")
    if k > len(passage_embeddings):
        raise ValueError(f"k ({k}) exceeds the number of passages ({len(passage_embeddings)})")
    if block_size < 1:
        raise ValueError(f"block_size must be at least 1; got {block_size}")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}; got {backend!r}")
    queries = query_embeddings.to(passage_embeddings.device, passage_embeddings.dtype)
    if backend == "faiss" or (backend == "auto" and faiss_available()):
        scores, rows = _retrieve_faiss(queries, passage_embeddings, int(k), block_size)
    else:
        scores, rows = _retrieve_blocked(queries, passage_embeddings, int(k), block_size, progress)
    if not torch.isfinite(scores).all():
        # NaN and +inf scores always reach the top k, so checking them is as good as checking
        # every passage, and costs nothing next to a corpus-sized isfinite
        raise ValueError("passage_embeddings hold NaN or infinite values (a diverged model?): scores are not finite")
    return scores, rows


def _check_embeddings(queries: torch.Tensor, passages: torch.Tensor) -> None:
    for name, tensor in (("query_embeddings", queries), ("passage_embeddings", passages)):
        if tensor.ndim != 2 or len(tensor) == 0:
            raise ValueError(f"{name} must be a non-empty (rows, dim) matrix; got shape {tuple(tensor.shape)}")
        if not tensor.is_floating_point():
            raise ValueError(f"{name} must hold floats; got {tensor.dtype}")
    if queries.shape[1] != passages.shape[1]:
        raise ValueError(
            f"query_embeddings and passage_embeddings must have the same dimension; got "
            f"{queries.shape[1]} and {passages.shape[1]}"
        )
    if not torch.isfinite(queries).all():
        raise ValueError("query_embeddings hold NaN or infinite values (a diverged model?)")


def _retrieve_blocked(queries: torch.Tensor, passages: torch.Tensor, k: int, block_size: int,
                      progress: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Score one block of passages at a time beside the running best k, then keep the best k.

    One buffer holds [running best k | scores of the block] for every query, and the block's
    scores are written into it by the matmul itself, so no scores are copied per block.
    """
    n_queries = len(queries)
    buffer = queries.new_empty((n_queries, k + min(block_size, len(passages))))
    best_rows = torch.empty((n_queries, 0), dtype=torch.int64, device=queries.device)
    for start in progress_bar(range(0, len(passages), block_size), desc="retrieving (blocks)", enabled=progress):
        block = passages[start : start + block_size]
        kept, width = best_rows.shape[1], len(block)
        torch.mm(queries, block.T, out=buffer[:, kept : kept + width])
        block_rows = torch.arange(start, start + width, device=queries.device)
        if kept + width <= k:
            best_rows = torch.cat([best_rows, block_rows.expand(n_queries, -1)], dim=1)
            continue
        candidates = buffer[:, : kept + width]

        def candidate_rows(queries_: torch.Tensor) -> torch.Tensor:
            return torch.cat([best_rows[queries_], block_rows.expand(len(queries_), -1)], dim=1)

        values, positions = _keep_best(candidates, candidate_rows, k)
        rows = positions - kept + start  # a position past the running k is a row of this block
        if kept:
            rows = torch.where(positions < kept, best_rows.gather(1, positions.clamp(max=kept - 1)), rows)
        best_rows = rows
        buffer[:, :k] = values
    order = _ranked_positions(buffer[:, :k], best_rows, k)
    return buffer[:, :k].gather(1, order), best_rows.gather(1, order)


def _keep_best(candidates: torch.Tensor, rows_of: Callable[[torch.Tensor], torch.Tensor], k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(scores, positions) of the k best candidates of each query, in no particular order.

    `torch.topk` may pick any of several equal scores at the k-th place, so a query whose k-th
    and (k+1)-th scores are equal is decided again by `_ranked_positions`, which needs the
    passage rows of its candidates: `rows_of(queries)` gives them, only for those queries.
    """
    values, positions = torch.topk(candidates, k + 1, dim=1, sorted=False)
    cut = values.topk(2, dim=1, largest=False)  # the (k+1)-th and the k-th best score
    dropped = cut.indices[:, :1]  # overwrite the (k+1)-th with the last column, then cut that off
    values = values.scatter(1, dropped, values[:, k:])[:, :k]
    positions = positions.scatter(1, dropped, positions[:, k:])[:, :k]
    tied = (cut.values[:, 0] == cut.values[:, 1]).nonzero().squeeze(1)
    if len(tied):
        positions[tied] = _ranked_positions(candidates[tied], rows_of(tied), k)
        values[tied] = candidates[tied].gather(1, positions[tied])
    return values, positions


def _ranked_positions(scores: torch.Tensor, rows: torch.Tensor, k: int) -> torch.Tensor:
    """Positions of the k best candidates of each query by (score descending, passage row ascending)."""
    by_row = rows.argsort(dim=1)
    by_score = scores.gather(1, by_row).argsort(dim=1, descending=True, stable=True)[:, :k]
    return by_row.gather(1, by_score)


def _retrieve_faiss(queries: torch.Tensor, passages: torch.Tensor, k: int, block_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """FAISS flat inner-product search, with the same tie rule as the blocked search."""
    if not faiss_available():
        raise ValueError("backend 'faiss' needs FAISS: pip install faiss-cpu (or use backend='torch')")
    import faiss

    index = faiss.IndexFlatIP(passages.shape[1])
    index.add(passages.detach().cpu().float().numpy())
    depth = min(k + 1, len(passages))
    values, found = (torch.from_numpy(a) for a in index.search(queries.detach().cpu().float().numpy(), depth))
    order = _ranked_positions(values[:, :k], found[:, :k], k)
    scores, rows = values[:, :k].gather(1, order), found[:, :k].gather(1, order)
    if depth > k:
        tied = (values[:, k - 1] == values[:, k]).nonzero().squeeze(1)
        if len(tied):  # which of several equal scores made the cut was FAISS's choice: redo those rows exactly
            scores[tied], rows[tied] = _retrieve_blocked(queries[tied].cpu().float(), passages.cpu().float(), k, block_size)
    return scores.to(passages.device, passages.dtype), rows.to(passages.device)


def parse_measures(measures: Sequence[str]) -> dict[str, ir_measures.Measure]:
    """ir-measures measures by short name: nDCG@10 -> ndcg@10, RR@10 -> mrr@10, R@100 -> recall@100.

    Measures with parameters other than a cut-off keep their ir-measures name.
    """
    if isinstance(measures, str):
        measures = (measures,)
    if len(measures) == 0:
        raise ValueError("measures must name at least one measure, e.g. ('nDCG@10', 'RR@10')")
    parsed = {}
    for text in measures:
        try:
            measure = ir_measures.parse_measure(text)
        except (NameError, ValueError, TypeError) as error:
            raise ValueError(f"measures: unknown or malformed measure {text!r} ({error})") from error
        extra = set(measure.params) - {"cutoff"}
        if extra or measure.NAME not in _SHORT_NAMES:
            name = str(measure)
        else:
            cutoff = measure.params.get("cutoff")
            name = _SHORT_NAMES[measure.NAME] + (f"@{cutoff}" if cutoff is not None else "")
        parsed[name] = measure
    return parsed


def ranking_metrics(run: Mapping[str, Mapping[str, float]], qrels: Mapping[str, Mapping[str, int]],
                    measures: Sequence[str] = DEFAULT_MEASURES) -> dict[str, float]:
    """Mean of each measure over the queries of `qrels`, by short name (see `parse_measures`).

    run: {query id: {passage id: score}}; qrels: {query id: {passage id: relevance}}. A qrels
    query absent from `run` scores 0, so a missing ranking never flatters the mean.
    """
    parsed = parse_measures(measures)
    if not qrels:
        raise ValueError("qrels is empty: there is nothing to score the run against")
    values = ir_measures.calc_aggregate(list(parsed.values()), qrels, run)
    return {name: float(values.get(measure, 0.0)) for name, measure in parsed.items()}


def qrels_from_table(qrels: datasets.Dataset) -> Qrels:
    """{query id: {passage id: 1}} from a qrels table (columns query_id, passage_id)."""
    result: Qrels = {}
    for qid, pid in zip(column(qrels, "query_id"), column(qrels, "passage_id")):
        result.setdefault(qid, {})[pid] = 1
    return result


def run_from_topk(scores: torch.Tensor, indices: torch.Tensor, query_ids: Sequence[str],
                  passage_ids: Sequence[str]) -> Run:
    """{query id: {passage id: score}} from `retrieve`'s output, row i being `query_ids[i]`."""
    if len(query_ids) != len(scores):
        raise ValueError(f"query_ids has {len(query_ids)} ids for {len(scores)} rows of scores")
    return {
        qid: {passage_ids[row]: score for row, score in zip(rows, values)}
        for qid, rows, values in zip(query_ids, indices.tolist(), scores.tolist())
    }


def evaluate_ranking(
    model: torch.nn.Module,
    data: RetrievalData,
    tokens: TokenizedData,
    measures: Sequence[str] = DEFAULT_MEASURES,
    k: int = 1000,
    device: torch.device | str = "cpu",
    batch_size: int = 256,
    passage_embeddings: torch.Tensor | None = None,
    block_size: int = 16384,
    backend: str = "torch",
    corpus_rows: np.ndarray | None = None,
    progress: bool = False,
) -> dict[str, float]:
    """Ranking metrics of `model` on the test queries of `data`, retrieving over the corpus.

    `corpus_rows` restricts retrieval to a sub-corpus (the release ranked over 1M of MS
    MARCO's 8.8M passages); it should hold every test positive. k is capped at the
    (sub-)corpus size (recall@1000 of a 500-passage corpus is recall over all of it).
    `passage_embeddings`, (passages, dim) in the order of `corpus_rows` (default: every corpus
    row), skips encoding when the caller already has them (the contrastive-entropy pool).
    `progress` shows bars for the encoding and the retrieval, for a corpus large enough to watch.
    """
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer; got {k!r}")
    rows = np.arange(len(data.corpus)) if corpus_rows is None else np.asarray(corpus_rows, dtype=np.int64)
    depth = min(int(k), len(rows))
    deepest = max(m.params.get("cutoff") or 0 for m in parse_measures(measures).values())  # fail before encoding
    if depth < len(rows) and deepest > depth:
        raise ValueError(f"k ({k}) is below the deepest measure cut-off ({deepest}): retrieve at least that many")
    if passage_embeddings is None:
        passage_embeddings = encode(model, [tokens.passages[r] for r in rows], batch_size, tokens.pad_id, device,
                                    progress, "encoding passages")
    elif passage_embeddings.ndim != 2 or len(passage_embeddings) != len(rows):
        raise ValueError(
            f"passage_embeddings must be ({len(rows)}, dim), one row per passage of the (sub-)corpus in "
            f"order; got shape {tuple(passage_embeddings.shape)}"
        )
    query_rows = np.unique(data.test_pair_rows()[:, 0])
    query_embeddings = encode(model, [tokens.queries[r] for r in query_rows], batch_size, tokens.pad_id, device,
                              progress, "encoding queries")
    scores, indices = retrieve(query_embeddings, passage_embeddings, depth, block_size, backend, progress)
    query_ids = column(data.queries, "id")
    passage_ids = column(data.corpus, "id")
    run = run_from_topk(scores, indices, [query_ids[r] for r in query_rows], [passage_ids[r] for r in rows])
    return ranking_metrics(run, qrels_from_table(data.test_qrels), measures)
