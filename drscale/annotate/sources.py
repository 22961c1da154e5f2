"""Training-pair sources: where the (query, positive passage) pairs a retriever learns from come from.

The paper's third finding (its section on annotation quality): with the same model and the
same evaluation, the source of the training pairs changes the data-size law. Inverse Cloze
Task pairs give the flattest curve, docT5query next, then human labels, and LLM-written
queries the steepest. Each source here makes `TrainingPairs` over a corpus, and `annotate`
gives the data with those pairs in place of its own; what the sources share (pairing by
passage id, unchanged evaluation, no query from a test positive) is `drscale.annotate.pairs`.

Writing queries with a model, and caching them, is `drscale.annotate.generation`; sweeping and fitting
the sources and comparing their laws with the paper's is `drscale.studies.annotation_quality`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from drscale.annotate.generation import QueryGenerator, generate_queries, generation_cache
from drscale.annotate.pairs import HUMAN, AnnotatedData, PairSource, TrainingPairs, check_scope, source_passages, with_pairs
from drscale.data.corpus import RetrievalData, column


@dataclass(frozen=True)
class HumanLabels:
    """The data set's own training qrels, unchanged: `annotate` gives data with the original
    fingerprint, so runs already trained on it are reused."""

    name: str = HUMAN

    def pairs(self, data: RetrievalData, cache_dir: str | Path | None = None) -> TrainingPairs:
        query_ids, passage_ids = column(data.train_qrels, "query_id"), column(data.train_qrels, "passage_id")
        texts = column(data.queries, "text")
        queries = [texts[data.query_row[qid]] for qid in query_ids]
        return TrainingPairs(self.name, query_ids, queries, passage_ids, list(passage_ids))


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'`(\[]?[A-Z0-9])")
"""A sentence ends at . ! or ? followed by space and a capital or digit (optionally after a
quote or bracket). A regex, not a trained splitter: abbreviations such as "e.g. Foo" split
wrongly, which only makes some ICT queries shorter; no heavy dependency is needed."""


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) character spans of the sentences of `text`, in order."""
    spans, start = [], 0
    for boundary in _SENTENCE_END.finditer(text):
        spans.append((start, boundary.start()))
        start = boundary.end()
    spans.append((start, len(text.rstrip())))
    return [(a, b) for a, b in spans if b > a]


@dataclass(frozen=True)
class InverseClozeTask:
    """Inverse Cloze Task (Lee et al., 2019): a sentence of a passage is the query, the rest of
    the passage its positive.

    remove_sentence: probability the query sentence is cut from its positive; the paper uses
        "the rest of the passage" (1.0); Lee et al. kept it 10% of the time (0.9). A kept
        sentence pairs the query with the original passage.
    query_words: a sentence qualifies as a query with this many words (inclusive).
    min_rest_words: the rest of the passage must keep this many words.
    pairs_per_passage: distinct sentences drawn per passage (fewer when fewer qualify).
    A sentence that also occurs elsewhere in its passage never qualifies, so a removed
    sentence is truly absent from its positive.
    """

    remove_sentence: float = 1.0
    query_words: tuple[int, int] = (4, 64)
    min_rest_words: int = 8
    pairs_per_passage: int = 1
    scope: str = "train"
    seed: int = 0
    name: str = "ict"

    def __post_init__(self) -> None:
        if not 0.0 <= self.remove_sentence <= 1.0:
            raise ValueError(f"InverseClozeTask.remove_sentence must be in [0, 1]; got {self.remove_sentence!r}")
        low, high = self.query_words
        if not 1 <= low <= high:
            raise ValueError(f"InverseClozeTask.query_words must be (min, max) with 1 <= min <= max; got {self.query_words!r}")
        for name in ("min_rest_words", "pairs_per_passage"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"InverseClozeTask.{name} must be a positive integer; got {getattr(self, name)!r}")
        check_scope(self.scope, "InverseClozeTask")

    def candidates(self, text: str) -> list[tuple[str, str]]:
        """(sentence, rest of the passage) for every sentence that may serve as a query."""
        found = []
        for start, end in sentence_spans(text):
            sentence = text[start:end]
            rest = f"{text[:start].rstrip()} {text[end:].lstrip()}".strip()
            words = len(sentence.split())
            if self.query_words[0] <= words <= self.query_words[1] and len(rest.split()) >= self.min_rest_words \
                    and sentence not in rest:
                found.append((sentence, rest))
        return found

    def pairs(self, data: RetrievalData, cache_dir: str | Path | None = None) -> TrainingPairs:
        """One pass over the source passages in corpus order with one seeded generator:
        deterministic, and fast enough (a regex per passage) to need no cache."""
        rng = np.random.default_rng(self.seed)
        texts = column(data.corpus, "text")
        query_ids, queries, passage_ids, origin_ids, positives = [], [], [], [], {}
        for pid in source_passages(data, self.scope):
            options = self.candidates(texts[data.passage_row[pid]])
            if not options:
                continue
            chosen = rng.choice(len(options), size=min(self.pairs_per_passage, len(options)), replace=False)
            for k, index in enumerate(sorted(chosen.tolist())):
                sentence, rest = options[index]
                positive = pid
                if rng.random() < self.remove_sentence:
                    positive = f"{self.name}-rest:{k}:{pid}"
                    positives[positive] = rest
                query_ids.append(f"{self.name}:{k}:{pid}")
                queries.append(sentence)
                passage_ids.append(positive)
                origin_ids.append(pid)
        if not query_ids:
            raise ValueError(f"{self.name}: no passage of {data.name} has a sentence of {self.query_words} words "
                             f"leaving {self.min_rest_words}+ words; loosen query_words or min_rest_words")
        return TrainingPairs(self.name, query_ids, queries, passage_ids, origin_ids, positives)


@dataclass(frozen=True)
class GeneratedQueries:
    """Queries written by a generator for passages of the corpus (docT5query, an LLM, ...).

    generator: `drscale.annotate.generation.Seq2SeqGenerator` or any callable `list[str] -> list[str]` (same length).
    cache_name: names a plain callable in the cache (a `Seq2SeqGenerator` names itself by
        its weights and settings); without either, nothing is cached.
    queries_per_passage: each passage is given to the generator this many times (sampling
        generators then write different queries).
    max_passages: a seeded sample of the source passages (the paper's docT5query used 500k).
    seed: torch is seeded with seed + batch index before each batch, so a resumed run writes
        the same queries as an uninterrupted one.
    """

    generator: QueryGenerator
    name: str = "generated"
    cache_name: str | None = None
    queries_per_passage: int = 1
    batch_size: int = 32
    scope: str = "train"
    max_passages: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if not callable(self.generator):
            raise ValueError(f"GeneratedQueries.generator must be callable (passages -> queries); got {self.generator!r}")
        for name in ("queries_per_passage", "batch_size"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"GeneratedQueries.{name} must be a positive integer; got {getattr(self, name)!r}")
        if self.max_passages is not None and (not isinstance(self.max_passages, int) or self.max_passages < 1):
            raise ValueError(f"GeneratedQueries.max_passages must be a positive integer or None; got {self.max_passages!r}")
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", self.name):
            raise ValueError(f"GeneratedQueries.name must be letters, digits, '_', '.' or '-'; got {self.name!r}")
        check_scope(self.scope, "GeneratedQueries")

    def identity(self) -> dict[str, Any] | None:
        """What makes two generators interchangeable for the cache; None when unknown."""
        own = getattr(self.generator, "identity", None)
        if own is None and self.cache_name is None:
            return None
        return {"cache_name": self.cache_name, **(own() if own is not None else {})}

    def pairs(self, data: RetrievalData, cache_dir: str | Path | None = None) -> TrainingPairs:
        """Generate (or read from `cache_dir`) one query per (passage, copy), batch by batch.

        Finished batches are written to the cache as they complete, so a crash loses at most
        the batch in progress and the next call resumes.
        """
        passages = source_passages(data, self.scope)
        if self.max_passages is not None and self.max_passages < len(passages):
            keep = np.sort(np.random.default_rng(self.seed).choice(len(passages), self.max_passages, replace=False))
            passages = [passages[i] for i in keep]
        texts = column(data.corpus, "text")
        inputs = [(pid, copy) for pid in passages for copy in range(self.queries_per_passage)]
        ids = [pid for pid, _ in inputs]
        identity = self.identity()
        cache = None
        if cache_dir is not None and identity is not None:
            cache = generation_cache(cache_dir, self.name, identity,
                                     ((pid, texts[data.passage_row[pid]]) for pid in passages),
                                     queries_per_passage=self.queries_per_passage, batch_size=self.batch_size,
                                     seed=self.seed)
        written = generate_queries(self.generator, ids, [texts[data.passage_row[pid]] for pid in ids],
                                   self.batch_size, self.seed, cache)
        query_ids, queries, passage_ids, dropped = [], [], [], 0
        for (pid, copy), query in zip(inputs, written):
            if not query.strip():
                dropped += 1
                continue
            query_ids.append(f"{self.name}:{copy}:{pid}")
            queries.append(query.strip())
            passage_ids.append(pid)
        return TrainingPairs(self.name, query_ids, queries, passage_ids, list(passage_ids), dropped=dropped)


def annotate(data: RetrievalData, source: PairSource, cache_dir: str | Path | None = None) -> AnnotatedData:
    """`data` with its training pairs replaced by those of `source` (generated pairs cached
    under `cache_dir` when given); evaluation is untouched, see `with_pairs`."""
    return with_pairs(data, source.pairs(data, cache_dir=cache_dir))


def summary_table(pairs: Mapping[str, TrainingPairs], annotated: Mapping[str, RetrievalData],
                  original: RetrievalData) -> pd.DataFrame:
    """Per source: pairs, distinct passages they were made from, training-only positives,
    dropped (empty) queries, and whether its data keeps `original`'s fingerprint (only the
    human source should, which is what lets its runs be reused)."""
    fingerprint = original.fingerprint()
    return pd.DataFrame([
        {"source": name, "pairs": len(found), "origin passages": len(set(found.origin_ids)),
         "training-only positives": len(found.positives), "dropped queries": found.dropped,
         "same data as prepared": annotated[name].fingerprint() == fingerprint}
        for name, found in pairs.items()
    ]).set_index("source")
