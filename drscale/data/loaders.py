"""Loaders for real retrieval data sets: MS MARCO, BEIR, T2Ranking and Hugging Face datasets.

Each returns a `RetrievalData`. Files are read line by line with strict UTF-8 and checked as
they are read, so a bad input is reported by file and line (see `drscale.data.parsing`) rather
than as a row of a table built later. All formats share one assembly: queries first, then
the qrels (checked against the queries), then the corpus streamed once, so a capped
subsample of MS MARCO's 8.8M passages keeps only the texts it needs (every id is still
remembered, to catch duplicates).

Options are the same across formats and are checked before any file is opened
(`check_options`): `max_queries` keeps the first labelled queries of each split, `max_passages`
caps the corpus, and `test_queries` keeps a seeded sample of that many test queries (all
their positives) or, for a BEIR set without a train split, holds that many out.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import datasets
import huggingface_hub
import pyarrow

from drscale.data.parsing import HEADER_WORDS, Pair, Where, checked_pairs, checked_texts, read_jsonl, read_table
from drscale.data.corpus import RetrievalData, check_int, sample_queries, table

TextRows = tuple[Where, Iterable[tuple[int, str, str]]]  # (position, id, text)
PairRows = tuple[Where, Iterable[tuple[int, str, str, str | None]]]  # (position, qid, pid, relevance)


def load_msmarco(
    folder: str | Path | None = None,
    *,
    train_split: str = "train",
    test_split: str = "dev.small",
    collection_file: str | Path | None = None,
    train_queries_file: str | Path | None = None,
    train_qrels_file: str | Path | None = None,
    test_queries_file: str | Path | None = None,
    test_qrels_file: str | Path | None = None,
    test_queries: int | None = None,
    seed: int = 0,
    max_passages: int | None = None,
    max_queries: int | None = None,
    name: str = "msmarco",
) -> RetrievalData:
    """MS MARCO passage ranking from its TSV files (no header rows).

    Files, in `folder` unless given one by one: collection.tsv (pid<TAB>passage),
    queries.{split}.tsv (qid<TAB>query), qrels.{split}.tsv (TREC `qid 0 pid relevance`,
    tab- or space-separated; pairs with relevance > 0 are kept). The paper trains on the
    train split and measures on dev.small. Only queries with a label are kept.

    Subsampling: `max_queries` keeps the first labelled queries of each split (in qrels file
    order); `max_passages` keeps every passage labelled for a kept query, then fills up with
    the first other passages of the collection, so the corpus exceeds the cap only when the
    labelled passages alone do. Every line is still checked. `test_queries` then keeps a
    sample of that many test queries, drawn with `seed` (dev.small has 6,980).
    """
    check_options(train_split=train_split, test_split=test_split, collection_file=collection_file,
                  train_queries_file=train_queries_file, train_qrels_file=train_qrels_file,
                  test_queries_file=test_queries_file, test_qrels_file=test_qrels_file, test_queries=test_queries,
                  seed=seed, max_passages=max_passages, max_queries=max_queries, name=name)

    def pick(given: str | Path | None, default: str) -> Path:
        if given is not None:
            return Path(given)
        if folder is None:
            raise ValueError(f"load_msmarco needs a folder or an explicit path for {default}")
        return Path(folder) / default

    def qrels(path: Path) -> PairRows:
        rows = read_table(path, ("qid", "0", "pid", "relevance"), header=False, sep=None)
        return Where(str(path)), ((line, f[0], f[2], f[3]) for line, f in rows)

    return _assemble(
        name,
        source=str(folder) if folder is not None else name,
        corpus=_tsv_texts(pick(collection_file, "collection.tsv"), ("pid", "passage"), header=False),
        queries=[
            _tsv_texts(pick(train_queries_file, f"queries.{train_split}.tsv"), ("qid", "query"), header=False),
            _tsv_texts(pick(test_queries_file, f"queries.{test_split}.tsv"), ("qid", "query"), header=False),
        ],
        train=qrels(pick(train_qrels_file, f"qrels.{train_split}.tsv")),
        test=qrels(pick(test_qrels_file, f"qrels.{test_split}.tsv")),
        max_passages=max_passages,
        max_queries=max_queries,
        test_queries=test_queries,
        seed=seed,
    )


def load_t2ranking(
    folder: str | Path,
    *,
    train_split: str = "train",
    test_split: str = "dev",
    test_queries: int | None = None,
    seed: int = 0,
    max_passages: int | None = None,
    max_queries: int | None = None,
    name: str = "t2ranking",
) -> RetrievalData:
    """T2Ranking (Chinese passage retrieval) from its TSV files with header rows.

    collection.tsv (pid<TAB>para), queries.{split}.tsv (qid<TAB>text) and
    qrels.retrieval.{split}.tsv (qid<TAB>pid, every row a positive). Subsampling with
    `max_queries`, `max_passages` and `test_queries` works as in `load_msmarco`.
    """
    check_options(train_split=train_split, test_split=test_split, test_queries=test_queries, seed=seed,
                  max_passages=max_passages, max_queries=max_queries, name=name)
    folder = Path(folder)

    def qrels(path: Path) -> PairRows:
        return Where(str(path)), ((line, f[0], f[1], None) for line, f in read_table(path, ("qid", "pid"), header=True))

    return _assemble(
        name,
        source=str(folder),
        corpus=_tsv_texts(folder / "collection.tsv", ("pid", "para"), header=True),
        queries=[
            _tsv_texts(folder / f"queries.{split}.tsv", ("qid", "text"), header=True) for split in (train_split, test_split)
        ],
        train=qrels(folder / f"qrels.retrieval.{train_split}.tsv"),
        test=qrels(folder / f"qrels.retrieval.{test_split}.tsv"),
        max_passages=max_passages,
        max_queries=max_queries,
        test_queries=test_queries,
        seed=seed,
    )


def load_beir(
    folder: str | Path,
    *,
    train_split: str = "train",
    test_split: str = "test",
    test_queries: int | None = None,
    seed: int = 0,
    max_passages: int | None = None,
    max_queries: int | None = None,
    name: str | None = None,
) -> RetrievalData:
    """A BEIR data set folder: corpus.jsonl (_id, title, text), queries.jsonl (_id, text) and
    qrels/{split}.tsv (header query-id<TAB>corpus-id<TAB>score; score > 0 kept).

    A passage reads "title. text" when its title is non-empty, as BEIR models see it.
    `test_queries` keeps a sample of that many test queries, drawn with `seed` (default: all).
    Many BEIR sets have no train split: when qrels/{train_split}.tsv is absent the test qrels
    are split by query, holding out `test_queries` queries (default a fifth) chosen with
    `seed`; `source` of the result says so. `max_queries` and `max_passages` work as in
    `load_msmarco`.
    """
    check_options(train_split=train_split, test_split=test_split, test_queries=test_queries, seed=seed,
                  max_passages=max_passages, max_queries=max_queries, name=name)
    folder = Path(folder)
    train_path, test_path = folder / "qrels" / f"{train_split}.tsv", folder / "qrels" / f"{test_split}.tsv"
    corpus_path, queries_path = folder / "corpus.jsonl", folder / "queries.jsonl"
    corpus = read_jsonl(corpus_path, ("_id", "text"), ("title",))
    queries = read_jsonl(queries_path, ("_id", "text"))

    def qrels(path: Path) -> PairRows:
        rows = read_table(path, ("query-id", "corpus-id", "score"), header=True)
        return Where(str(path)), ((line, f[0], f[1], f[2]) for line, f in rows)

    return _assemble(
        name or folder.name,
        source=_split_note(str(folder), train_path.is_file(), test_path.name, seed),
        corpus=(Where(str(corpus_path)), ((n, r["_id"], _passage_text(r["title"], r["text"])) for n, r in corpus)),
        queries=[(Where(str(queries_path)), ((n, r["_id"], r["text"]) for n, r in queries))],
        train=qrels(train_path) if train_path.is_file() else None,
        test=qrels(test_path),
        test_queries=test_queries,
        seed=seed,
        max_passages=max_passages,
        max_queries=max_queries,
    )


def load_hf(
    path_or_name: str | Path,
    *,
    train_split: str = "train",
    test_split: str = "test",
    qrels_name: str | None = None,
    local_files_only: bool = False,
    test_queries: int | None = None,
    seed: int = 0,
    max_passages: int | None = None,
    max_queries: int | None = None,
    name: str | None = None,
) -> RetrievalData:
    """A Hugging Face dataset in the BEIR layout, from a folder on disk or from the hub.

    On disk (an existing path): a `DatasetDict` written by `save_to_disk` with splits
    "corpus" (columns _id, text, optional title), "queries" (_id, text) and
    "qrels-{split}" (query-id, corpus-id, score), i.e. the hub layout saved in one folder.
    On the hub (any other string): configs "corpus" and "queries" of `path_or_name` and the
    qrels splits of the sibling repository `qrels_name` (default "<path_or_name>-qrels"), as
    BeIR/<set> and BeIR/<set>-qrels are published. `local_files_only` reads only the local
    cache, so an offline machine fails at once with a message instead of waiting on the
    network. Ids may be strings or integers; `test_queries` and the split fallback are
    `load_beir`'s.
    """
    check_options(train_split=train_split, test_split=test_split, qrels_name=qrels_name,
                  local_files_only=local_files_only, test_queries=test_queries, seed=seed,
                  max_passages=max_passages, max_queries=max_queries, name=name)
    where = str(path_or_name)
    if Path(path_or_name).exists():
        tables = _disk_tables(Path(path_or_name))
    else:
        tables = _hub_tables(where, qrels_name, local_files_only)
    train_key, test_key = f"qrels-{train_split}", f"qrels-{test_split}"
    corpus = _hf_rows(tables, where, "corpus", ("_id", "text"), ("title",))
    queries = _hf_rows(tables, where, "queries", ("_id", "text"))
    return _assemble(
        name or Path(where).name,
        source=_split_note(where, train_key in tables, test_key, seed),
        corpus=(Where(f"{where}[corpus]", "row"), ((n, r[0], _passage_text(r[2], r[1])) for n, r in corpus)),
        queries=[(Where(f"{where}[queries]", "row"), ((n, r[0], r[1]) for n, r in queries))],
        train=_hf_pairs(tables, where, train_key) if train_key in tables else None,
        test=_hf_pairs(tables, where, test_key),
        test_queries=test_queries,
        seed=seed,
        max_passages=max_passages,
        max_queries=max_queries,
    )


def _assemble(
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


def _split_note(source: str, has_train: bool, test_name: str, seed: int) -> str:
    return source if has_train else f"{source} (no train split: {test_name} split by query, seed {seed})"


def _passage_text(title: str, text: str) -> str:
    return f"{title}. {text}" if title.strip() else text


def _tsv_texts(path: Path, columns: tuple[str, str], header: bool) -> TextRows:
    return Where(str(path)), ((line, f[0], f[1]) for line, f in read_table(path, columns, header))


def _disk_tables(path: Path) -> Mapping[str, datasets.Dataset]:
    """The splits of a folder written by `save_to_disk`. Its JSON metadata is checked first,
    so a damaged file is named with its line rather than surfacing as a bare decode error."""
    expected = "a DatasetDict saved with save_to_disk, splits corpus, queries and qrels-<split>"
    for metadata in sorted(path.rglob("*.json")) if path.is_dir() else ():
        try:
            content = json.loads(metadata.read_bytes().decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise ValueError(f"{metadata}: invalid UTF-8 at byte {exc.start}; expected the JSON metadata of {expected}") from exc
        except json.JSONDecodeError as exc:
            raise Where(str(metadata)).error(
                exc.lineno, f"malformed JSON ({exc.msg} at column {exc.colno})", f"the JSON metadata of {expected}"
            ) from exc
        if metadata.name == "state.json" and isinstance(content, dict) and content.get("_data_files") == []:
            # datasets saves an empty split without data files and then fails to read it back
            raise Where(f"{path}[{metadata.parent.name}]", "row").error(1, "no rows (an empty split)", "at least one row")
    try:
        loaded = datasets.load_from_disk(str(path))
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{path}: not a saved dataset ({exc}); expected {expected}") from exc
    except pyarrow.ArrowException as exc:
        raise ValueError(f"{path}: unreadable Arrow data ({exc}); expected {expected}") from exc
    if not isinstance(loaded, datasets.DatasetDict):
        raise ValueError(f"{path}: a single {type(loaded).__name__}; expected {expected}")
    return loaded


@contextmanager
def _offline(enabled: bool) -> Iterator[None]:
    """Hub offline mode for one call: `datasets` and `huggingface_hub` read HF_HUB_OFFLINE
    once at import, so the flag is switched in both and restored afterwards."""
    before = datasets.config.HF_HUB_OFFLINE, huggingface_hub.constants.HF_HUB_OFFLINE
    if enabled:
        datasets.config.HF_HUB_OFFLINE = huggingface_hub.constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        datasets.config.HF_HUB_OFFLINE, huggingface_hub.constants.HF_HUB_OFFLINE = before


def _hub_tables(name: str, qrels_name: str | None, local_files_only: bool) -> Mapping[str, datasets.Dataset]:
    qrels_name = qrels_name or f"{name}-qrels"
    try:
        with _offline(local_files_only):
            tables = {config: datasets.load_dataset(name, config, split=config) for config in ("corpus", "queries")}
            qrels = datasets.load_dataset(qrels_name)
    except OSError as exc:  # ConnectionError, FileNotFoundError and hub HTTP errors
        where = "the local cache" if local_files_only else "the Hugging Face hub or its local cache"
        raise FileNotFoundError(
            f"{name}: no such folder, and {name} with {qrels_name} could not be loaded from {where} ({exc}); "
            "expected a folder written by save_to_disk or a reachable BEIR-layout hub dataset"
        ) from exc
    return tables | {f"qrels-{split}": qrels[split] for split in qrels}


def _hf_rows(
    tables: Mapping[str, datasets.Dataset], where: str, split: str, required: Sequence[str], optional: Sequence[str] = ()
) -> Iterator[tuple[int, list[str]]]:
    """(1-based row, string values of `required` then `optional` columns) of one split; ids
    stored as integers become strings, a missing optional column reads as ""."""
    if split not in tables:
        raise ValueError(f"{where}: no split {split!r}; expected corpus, queries, qrels-<split>; found {sorted(tables)}")
    dataset, names = tables[split], (*required, *optional)
    missing = [c for c in required if c not in dataset.column_names]
    if missing:
        raise ValueError(
            f"{where}[{split}]: missing column(s) {missing}; expected columns {list(names)}, found {dataset.column_names}"
        )
    at = Where(f"{where}[{split}]", "row")
    if len(dataset) == 0:
        raise at.error(1, "no rows (an empty split)", f"at least one row with columns {list(names)}")
    # column[:] is one list; iterating a datasets Column formats every row (~100x slower)
    columns = [dataset[c][:] if c in dataset.column_names else [""] * len(dataset) for c in names]
    for row, values in enumerate(zip(*columns), start=1):
        texts = [_hf_value(at, row, column, value) for column, value in zip(names, values)]
        if row == 1 and texts[0].strip().lower() in HEADER_WORDS:  # a CSV read without its header option
            raise at.error(row, f"header row {texts}", f"data rows only; the column names {list(names)} belong in the schema")
        yield row, texts


def _hf_value(at: Where, row: int, column: str, value: object) -> str:
    """A cell as text: strings and integer ids as they are, bytes decoded strictly as UTF-8
    (the analogue of a file's bad line); anything else (None, floats, lists) refused."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise at.error(row, f"invalid UTF-8 in {column} at byte {exc.start}", "UTF-8 text") from exc
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise at.error(row, f"{column} is {value!r}", "a string or an integer")
    return str(value)


def _hf_pairs(tables: Mapping[str, datasets.Dataset], where: str, split: str) -> PairRows:
    rows = _hf_rows(tables, where, split, ("query-id", "corpus-id", "score"))
    return Where(f"{where}[{split}]", "row"), ((n, r[0], r[1], r[2]) for n, r in rows)
