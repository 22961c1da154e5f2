"""Training pairs and the data they make: what every source of (query, positive passage) pairs shares.

A source (`drscale.annotate.sources`) turns a `RetrievalData` into another that differs only
in its training pairs: corpus rows, test queries, test qrels and the contrastive-entropy pool
are unchanged, so the curves of different sources are measured on identical ground.

Pairing is by passage id, never by position. The authors' release keyed generated queries by
passage id but labels by line number, so each query met the neighbouring passage. Here the
id of the passage a query was made from travels with it from the generator's input to the
training pair (`TrainingPairs.origin_ids`), and `with_pairs` checks every id against the corpus.

Honest evaluation: synthetic queries are made only from passages that are not positives of a
test query (`source_passages`; `scope="train"`, the default, uses the positives of the
training pairs), so no model ever trains on a query written from a test positive.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from drscale.data.corpus import RetrievalData, column, table

HUMAN = "human"
"""The source of the data's own labels: data annotated by it keeps its name and fingerprint."""
SCOPES = ("train", "non_test")
"""Passages a synthetic source may write queries for: "train", the positives of the training
pairs (what the human annotators labelled, so sources compete on the same passages);
"non_test", every passage that is not held out (a test, dev or pool positive; the paper's docT5query
sampled from the whole corpus)."""


@dataclass(frozen=True)
class TrainingPairs:
    """Training pairs from one source: pair i is (query_ids[i], queries[i]) -> passage_ids[i].

    origin_ids[i] is the corpus passage pair i was made from: for human and generated pairs
    the positive itself; for ICT the passage whose sentence became the query, while the
    positive is `positives[passage_ids[i]]`, that passage without the sentence. `dropped`
    counts generated queries left out because they were empty.
    """

    source: str
    query_ids: list[str]
    queries: list[str]
    passage_ids: list[str]
    origin_ids: list[str]
    positives: dict[str, str] = field(default_factory=dict)
    dropped: int = 0

    def __post_init__(self) -> None:
        lengths = {len(self.query_ids), len(self.queries), len(self.passage_ids), len(self.origin_ids)}
        if len(lengths) != 1:
            raise ValueError(f"{self.source}: query_ids, queries, passage_ids and origin_ids differ in length")

    def __len__(self) -> int:
        return len(self.query_ids)

    def to_frame(self) -> pd.DataFrame:
        """One row per pair: query id and text, positive id, id of the passage it came from."""
        return pd.DataFrame({"query_id": self.query_ids, "query": self.queries, "passage_id": self.passage_ids,
                             "origin_id": self.origin_ids})

    def examples(self, data: RetrievalData, n: int = 3, seed: int = 0, width: int = 160) -> pd.DataFrame:
        """`n` seeded random pairs with the start of their positive's text (from `data`, the
        data these pairs were applied to), for reading."""
        rows = np.sort(np.random.default_rng(seed).choice(len(self), size=min(n, len(self)), replace=False))
        texts = column(data.corpus, "text")
        frame = self.to_frame().iloc[rows].drop(columns="query_id")
        frame["positive"] = [texts[data.passage_row[pid]][:width] for pid in frame.passage_id]
        return frame.reset_index(drop=True)


class PairSource(Protocol):
    """Anything that makes training pairs over a corpus; `name` labels its curves and ids."""

    name: str

    def pairs(self, data: RetrievalData, cache_dir: str | Path | None = None) -> TrainingPairs: ...


@dataclass(frozen=True)
class AnnotatedData(RetrievalData):
    """Retrieval data whose training pairs come from a source.

    The last `training_only_passages` corpus rows are positives made for training (ICT's
    passage minus its query sentence). They are left out of the unlabelled pool, so
    contrastive entropy and ranking meet exactly the passages of the data this was made
    from. (Training negatives are drawn from every corpus row by `drscale.train.loop`.)
    """

    training_only_passages: int = 0

    @property
    def evaluated_passages(self) -> int:
        """The original data's rows: the training-only rows come last."""
        return len(self.corpus) - self.training_only_passages

    def unlabelled_rows(self) -> np.ndarray:
        """The original data's unlabelled rows: training-only rows (appended last) are left
        out, so `pool_rows` samples the same rows with the same draw as the original."""
        rows = super().unlabelled_rows()
        return rows[rows < self.evaluated_passages]

    def fingerprint(self) -> str:
        """The tables' hash, and the training-only row count when there are any (it changes the pool)."""
        base = super().fingerprint()
        if not self.training_only_passages:
            return base
        return hashlib.sha256(f"{base}|training-only {self.training_only_passages}".encode()).hexdigest()[:16]

    def save(self, folder: str | Path, extra_files: Mapping[str, str] | None = None) -> Path:
        """Save as `RetrievalData.save` does, the training-only row count written in the same
        staged folder (TRAINING_ONLY), so the tables never stand without it."""
        return super().save(folder, {**(extra_files or {}), "TRAINING_ONLY": f"{self.training_only_passages}\n"})

    @classmethod
    def load(cls, folder: str | Path) -> AnnotatedData:
        """Reload what `save` wrote, training-only rows included."""
        data = RetrievalData.load(folder)
        marker = Path(folder) / "TRAINING_ONLY"
        count = int(marker.read_text()) if marker.exists() else 0
        return cls(name=data.name, corpus=data.corpus, queries=data.queries, train_qrels=data.train_qrels,
                   test_qrels=data.test_qrels, source=data.source, dev_qrels=data.dev_qrels,
                   pool_qrels=data.pool_qrels, training_only_passages=count)


def check_scope(scope: str, owner: str) -> None:
    """Refuse a `scope` that is not one of `SCOPES`, naming its `owner`."""
    if scope not in SCOPES:
        raise ValueError(f"{owner}: scope must be one of {SCOPES}; got {scope!r}")


def source_passages(data: RetrievalData, scope: str = "train") -> list[str]:
    """Ids of the passages a synthetic source may write queries for (see `SCOPES`), in corpus
    order; test, dev and pool positives never, so no query is ever made from a passage the
    model is tested or selected on, or meets as a contrastive-entropy negative."""
    check_scope(scope, "scope")
    test = data.held_out_passages()
    allowed = set(column(data.train_qrels, "passage_id")) if scope == "train" else None
    evaluated = column(data.corpus, "id")[: data.evaluated_passages]
    return [pid for pid in evaluated if pid not in test and (allowed is None or pid in allowed)]


def with_pairs(data: RetrievalData, pairs: TrainingPairs) -> AnnotatedData:
    """`data` with `pairs` as its training pairs; corpus rows, test queries and test qrels kept.

    New queries are appended to the query table and training-only positives to the corpus, so
    every row the evaluation reads keeps its index. Every id is checked: origins and
    positives must be passages of the corpus (or the pairs' own training positives), a query id
    already in `data` must carry the same text, and a new query must not come from a test
    positive.
    """
    if getattr(data, "training_only_passages", 0):
        raise ValueError(f"{data.name} already holds training-only passages from a source; annotate the original data")
    if len(pairs) == 0:
        raise ValueError(f"{pairs.source}: no training pairs")
    where = f"{pairs.source} pairs"
    known = data.passage_row
    for pid in pairs.positives:
        if pid in known:
            raise ValueError(f"{where}: training-only positive id {pid!r} is already a corpus passage id")
    held_out = data.held_out_passages()  # dev selects checkpoints and the pool measures CE: never train on them
    query_text = column(data.queries, "text")
    new_ids, new_texts, seen = [], [], {}
    for i, (qid, query, pid, origin) in enumerate(zip(pairs.query_ids, pairs.queries, pairs.passage_ids, pairs.origin_ids)):
        if origin not in known:
            raise ValueError(f"{where}: pair {i} ({qid!r}) was made from unknown passage id {origin!r}")
        if pid not in known and pid not in pairs.positives:
            raise ValueError(f"{where}: pair {i} ({qid!r}) names unknown passage id {pid!r}")
        if qid in data.query_row:
            if query_text[data.query_row[qid]] != query:
                raise ValueError(f"{where}: pair {i} reuses query id {qid!r} of {data.name} with a different text")
            continue
        if qid in seen:
            if seen[qid] != query:
                raise ValueError(f"{where}: query id {qid!r} carries two different texts")
            continue
        if origin in held_out:
            raise ValueError(f"{where}: query {qid!r} was made from held-out (test, dev or pool) passage {origin!r}; "
                             f"that would train on a held-out split")
        seen[qid] = query
        new_ids.append(qid)
        new_texts.append(query)
    corpus, queries = data.corpus, data.queries
    if pairs.positives:
        corpus = table({"id": column(data.corpus, "id") + list(pairs.positives),
                        "text": column(data.corpus, "text") + list(pairs.positives.values())})
    if new_ids:
        queries = table({"id": column(data.queries, "id") + new_ids, "text": query_text + new_texts})
    return AnnotatedData(
        name=annotated_name(data.name, pairs.source),
        corpus=corpus,
        queries=queries,
        train_qrels=table({"query_id": pairs.query_ids, "passage_id": pairs.passage_ids}),
        test_qrels=data.test_qrels,
        dev_qrels=data.dev_qrels,
        pool_qrels=data.pool_qrels,
        source=data.source if pairs.source == HUMAN else f"{data.source or data.name}; training pairs: {pairs.source}",
        training_only_passages=len(pairs.positives),
    )


SOURCE_SEPARATOR = "+"
"""Between a data set's name and its pair source in an annotated copy's name: "docstrings+ict"."""


def annotated_name(data_name: str, source: str) -> str:
    """The name of `data_name` with its training pairs from `source` (the data's own name for human labels)."""
    return data_name if source == HUMAN else f"{data_name}{SOURCE_SEPARATOR}{source}"


def pair_source(name: str) -> str:
    """The pair source a data set's name says its training pairs came from (`annotated_name` read back)."""
    return name.split(SOURCE_SEPARATOR, 1)[1] if SOURCE_SEPARATOR in name else HUMAN
