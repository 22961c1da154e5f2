"""The one assembly every loader shares: queries, then qrels, then the corpus streamed once.

Each loader (`drscale.data.loaders` for files, `drscale.data.hf` for Hugging Face datasets)
only says where its rows come from; `assemble` reads them in one order and checks them as
they are read, so a bad input is reported by file and line (see `drscale.data.parsing`)
rather than as a row of a table built later. The corpus comes last, so a capped subsample of
MS MARCO's 8.8M passages keeps only the texts it needs (every id is still remembered, to
catch duplicates).

Options are the same across formats and are checked before any file is opened
(`check_options`): `max_queries` keeps the first labelled queries of each split,
`max_passages` caps the corpus, and `test_queries` keeps a seeded sample of that many test
queries (all their positives) or, for data without a train split, holds that many out.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence

import datasets

from drscale.common.values import check_int
from drscale.data.corpus import RetrievalData, sample_queries, table
from drscale.data.parsing import Pair, Where, checked_pairs, checked_texts

TextRows = tuple[Where, Iterable[tuple[int, str, str]]]  # (position, id, text)
PairRows = tuple[Where, Iterable[tuple[int, str, str, str | None]]]  # (position, qid, pid, relevance)


def check_options(**options: object) -> None:
    """Check loader options by name at the door, before any file is read, with an error that
    names the option and the value: counts are positive integers or None, `seed` a
    non-negative integer, split names distinct non-empty strings, files paths or None."""
    for key, value in options.items():
        if key in ("max_passages", "max_queries", "test_queries"):
            check_int(key, value, 1, optional=True)
        elif key == "seed":
            check_int(key, value, 0)
        elif key in ("train_split", "test_split"):
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{key} must be a non-empty split name such as 'train' or 'test'; got {value!r}")
        elif key == "local_files_only":
            if not isinstance(value, bool):
                raise ValueError(f"{key} must be True or False; got {value!r}")
        elif key in ("qrels_name", "name"):
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ValueError(f"{key} must be a non-empty string or None; got {value!r}")
        elif key.endswith("_file"):
            if value is not None and not isinstance(value, (str, os.PathLike)):
                raise ValueError(f"{key} must be a path or None; got {value!r}")
        else:
            raise ValueError(f"unknown loader option {key!r}")
    if "train_split" in options and options["train_split"] == options.get("test_split"):
        raise ValueError(f"train_split and test_split must differ; both are {options['train_split']!r}")


def assemble(
    name: str,
    source: str,
    corpus: TextRows,
    queries: Sequence[TextRows],
    train: PairRows | None,
    test: PairRows,
    max_passages: int | None,
    max_queries: int | None,
    test_queries: int | None = None,
    seed: int = 0,
) -> RetrievalData:
    """Read queries, then qrels, then the corpus; keep labelled queries and the passages the
    caps allow; sample the test queries, or split the test qrels by query when there is no
    train split. Test queries are chosen before the corpus is read, so a capped corpus keeps
    the positives of the test queries that stay, not of those sampled away."""
    seen: set[str] = set()
    query_text: dict[str, str] = {}
    for where, rows in queries:
        query_text.update(checked_texts(rows, where, "query", seen))
    queries_from = " or ".join(where.name for where, _ in queries)
    sources = [test] if train is None else [train, test]
    splits = [_first_queries(checked_pairs(rows, where, query_text, queries_from), max_queries) for where, rows in sources]
    test_where = test[0].name
    if train is None:
        train_pairs, test_pairs = _hold_out(splits[0], test_queries, seed, test_where)
    else:
        train_pairs, test_pairs = splits[0], _sample_test(splits[1], test_queries, seed, test_where)
    labelled: dict[str, Pair] = {}
    for pair in (*train_pairs, *test_pairs):
        labelled.setdefault(pair.passage_id, pair)

    corpus_where, corpus_rows = corpus
    passages: dict[str, str] = {}
    unlabelled_room = math.inf if max_passages is None else max_passages - len(labelled)
    for pid, text in checked_texts(corpus_rows, corpus_where, "passage", set()):
        if pid in labelled:
            passages[pid] = text
        elif unlabelled_room > 0:
            passages[pid] = text
            unlabelled_room -= 1
    for pid, pair in labelled.items():
        if pid not in passages:
            raise pair.where.error(pair.position, f"unknown passage id {pid!r}", f"an id from {corpus_where.name}")

    train_qrels, test_qrels = _qrels_table(train_pairs), _qrels_table(test_pairs)
    used = set(train_qrels["query_id"]) | set(test_qrels["query_id"])
    kept_queries = {qid: text for qid, text in query_text.items() if qid in used}
    return RetrievalData(
        name=name,
        corpus=table({"id": list(passages), "text": list(passages.values())}),
        queries=table({"id": list(kept_queries), "text": list(kept_queries.values())}),
        train_qrels=train_qrels,
        test_qrels=test_qrels,
        source=source,
    )


def _hold_out(pairs: list[Pair], test_queries: int | None, seed: int, where: str) -> tuple[list[Pair], list[Pair]]:
    """(train, test) pairs of one labelled split cut by query: `test_queries` queries (default
    a fifth) drawn with `seed` are held out, the rest train."""
    queries = {pair.query_id for pair in pairs}
    held_out = test_queries if test_queries is not None else max(1, len(queries) // 5)
    if not 0 < held_out < len(queries):
        raise ValueError(
            f"test_queries must be between 1 and {len(queries) - 1} (the labelled queries of {where}, which is split "
            f"into train and test for want of a train split, less one); got {held_out}"
        )
    chosen = sample_queries(queries, held_out, seed)
    return [p for p in pairs if p.query_id not in chosen], [p for p in pairs if p.query_id in chosen]


def _sample_test(pairs: list[Pair], test_queries: int | None, seed: int, where: str) -> list[Pair]:
    """The pairs of `test_queries` test queries drawn with `seed` (all of them for None)."""
    if test_queries is None:
        return pairs
    queries = {pair.query_id for pair in pairs}
    if test_queries > len(queries):
        raise ValueError(
            f"test_queries={test_queries} exceeds the {len(queries)} labelled test queries of {where}; "
            f"pass at most {len(queries)}, or None to keep them all"
        )
    chosen = sample_queries(queries, test_queries, seed)
    return [p for p in pairs if p.query_id in chosen]


def _first_queries(pairs: list[Pair], max_queries: int | None) -> list[Pair]:
    """The pairs of the first `max_queries` distinct queries, in file order."""
    if max_queries is None:
        return pairs
    keep = set(list(dict.fromkeys(pair.query_id for pair in pairs))[:max_queries])
    return [pair for pair in pairs if pair.query_id in keep]


def _qrels_table(pairs: list[Pair]) -> datasets.Dataset:
    return table({"query_id": [p.query_id for p in pairs], "passage_id": [p.passage_id for p in pairs]})


def split_note(source: str, has_train: bool, test_name: str, seed: int) -> str:
    """`source` as the data names it, saying so when its test split was cut in two for want of a train split."""
    return source if has_train else f"{source} (no train split: {test_name} split by query, seed {seed})"


def passage_text(title: str, text: str) -> str:
    """A BEIR passage as BEIR models see it: "title. text", or the text alone without a title."""
    return f"{title}. {text}" if title.strip() else text
