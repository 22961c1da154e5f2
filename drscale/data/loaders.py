"""Loaders for retrieval data sets in files: MS MARCO, BEIR and T2Ranking.

Each returns a `RetrievalData`. Files are read line by line with strict UTF-8 and checked as
they are read, so a bad input is reported by file and line (see `drscale.data.parsing`); every
format then goes through the same assembly and takes the same options
(`drscale.data.assembly`). Hugging Face datasets are read by `drscale.data.hf`.
"""

from __future__ import annotations

from pathlib import Path

from drscale.data.assembly import PairRows, TextRows, assemble, check_options, passage_text, split_note
from drscale.data.corpus import RetrievalData
from drscale.data.parsing import Where, data_folder, read_jsonl, read_table


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

    return assemble(
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
    folder = data_folder(folder, f"collection.tsv, queries.{test_split}.tsv and qrels.retrieval.{test_split}.tsv (T2Ranking)")

    def qrels(path: Path) -> PairRows:
        return Where(str(path)), ((line, f[0], f[1], None) for line, f in read_table(path, ("qid", "pid"), header=True))

    return assemble(
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
    folder = data_folder(folder, f"corpus.jsonl, queries.jsonl and qrels/{test_split}.tsv (a BEIR data set)")
    train_path, test_path = folder / "qrels" / f"{train_split}.tsv", folder / "qrels" / f"{test_split}.tsv"
    corpus_path, queries_path = folder / "corpus.jsonl", folder / "queries.jsonl"
    corpus = read_jsonl(corpus_path, ("_id", "text"), ("title",))
    queries = read_jsonl(queries_path, ("_id", "text"))

    def qrels(path: Path) -> PairRows:
        rows = read_table(path, ("query-id", "corpus-id", "score"), header=True)
        return Where(str(path)), ((line, f[0], f[1], f[2]) for line, f in rows)

    return assemble(
        name or folder.name,
        source=split_note(str(folder), train_path.is_file(), test_path.name, seed),
        corpus=(Where(str(corpus_path)), ((n, r["_id"], passage_text(r["title"], r["text"])) for n, r in corpus)),
        queries=[(Where(str(queries_path)), ((n, r["_id"], r["text"]) for n, r in queries))],
        train=qrels(train_path) if train_path.is_file() else None,
        test=qrels(test_path),
        test_queries=test_queries,
        seed=seed,
        max_passages=max_passages,
        max_queries=max_queries,
    )


def _tsv_texts(path: Path, columns: tuple[str, str], header: bool) -> TextRows:
    return Where(str(path)), ((line, f[0], f[1]) for line, f in read_table(path, columns, header))
