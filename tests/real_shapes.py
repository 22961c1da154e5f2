"""Small data sets in the shapes of real ones, written by tests into their own folders.

The proportions follow the real sets, because that is where preparation code breaks: far more
passages than queries (MS MARCO has 8.8M passages for 0.5M labelled training queries; BEIR
corpora hold 10-1000x more passages than test queries), a few queries with several positives,
passages past BERT's 512 positions, unlabelled queries in the query files, and BEIR qrels with
graded and zero scores. Each writer lays out the files exactly as its loader in
`drscale.data.loaders` reads them; `Task` says what a loader should read back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np

WORDS = (
    "the of and to in is for on with that by as are from at this be an or which it data model query "
    "passage retrieval dense encoder training scaling law search index vector score rank document corpus "
    "river city capital history science language protein cell energy market music film sport climate water "
    "system network image sound light planet ocean forest mountain bridge railway engine software library "
    "function method value number table report study result effect cause change growth policy health school"
).split()
HANZI = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经"

PASSAGES, TRAIN_QUERIES, TEST_QUERIES, UNLABELLED_QUERIES = 400, 48, 16, 12
LONG_WORDS = 700  # words (or characters of Chinese): past 512 tokens of the BERT vocabulary


@dataclass(frozen=True)
class Task:
    """What was written, as a loader should read it back (ids as strings)."""

    passages: dict[str, str]  # id -> text as read ("title. text" where a title is non-empty)
    titles: dict[str, str]  # id -> title ("" for none)
    bodies: dict[str, str]  # id -> text without its title
    queries: dict[str, str]  # labelled queries: id -> text
    unlabelled: dict[str, str]  # queries in the files without any positive
    train_qrels: list[tuple[str, str]]  # positive (query id, passage id)
    test_qrels: list[tuple[str, str]]
    zero_qrels: list[tuple[str, str]]  # score-0 test rows (BEIR): not positives
    long_passages: tuple[str, ...]

    @property
    def train_queries(self) -> list[str]:
        return list(dict.fromkeys(q for q, _ in self.train_qrels))

    @property
    def test_queries(self) -> list[str]:
        return list(dict.fromkeys(q for q, _ in self.test_qrels))

    def positives(self, qrels: list[tuple[str, str]]) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for qid, pid in qrels:
            found.setdefault(qid, set()).add(pid)
        return found


def real_task(chinese: bool = False, integer_ids: bool = False, seed: int = 0) -> Task:
    """A task of `PASSAGES` passages, `TRAIN_QUERIES` + `TEST_QUERIES` labelled queries (every
    eighth with three positives), `UNLABELLED_QUERIES` more without a label, and a few
    passages past 512 tokens, some of them positives of training and of test queries."""
    rng = np.random.default_rng(seed)
    vocabulary = list(HANZI) if chinese else WORDS
    joiner = "" if chinese else " "
    pid = (lambda i: str(7_000_000 + 13 * i)) if integer_ids else (lambda i: f"doc-{i:04d}")
    qid = (lambda i: str(1_000_000 + 7 * i)) if integer_ids else (lambda i: f"q-{i:03d}")
    order = [pid(int(i)) for i in rng.permutation(PASSAGES)]
    labelled = TRAIN_QUERIES + TEST_QUERIES
    positives, taken = {}, 0
    for q in range(labelled):
        count = 3 if q % 8 == 5 else 1
        positives[qid(q)], taken = order[taken:taken + count], taken + count
    train_ids, test_ids = [qid(q) for q in range(TRAIN_QUERIES)], [qid(q) for q in range(TRAIN_QUERIES, labelled)]
    long = (positives[train_ids[0]][0], positives[train_ids[5]][1], positives[test_ids[0]][0], positives[test_ids[5]][2],
            order[-1], order[-2])

    titles, bodies, passages = {}, {}, {}
    for i in range(PASSAGES):
        key = pid(i)
        words = LONG_WORDS if key in long else int(rng.integers(25, 120))
        bodies[key] = joiner.join(rng.choice(vocabulary, size=words)) + ("。" if chinese else ".")
        titles[key] = "" if chinese or i % 3 == 0 else " ".join(rng.choice(vocabulary, size=2)).title()
        passages[key] = f"{titles[key]}. {bodies[key]}" if titles[key] else bodies[key]

    def query_text(key: str) -> str:
        text = bodies[positives[key][0]] if key in positives else joiner.join(rng.choice(vocabulary, size=40))
        tokens = list(text) if chinese else text.split()
        start = int(rng.integers(0, 20))
        return joiner.join(tokens[start:start + int(rng.integers(4, 10))])

    queries = {key: query_text(key) for key in train_ids + test_ids}
    unlabelled = {qid(q): query_text(qid(q)) for q in range(labelled, labelled + UNLABELLED_QUERIES)}
    zero = [(key, order[-3 - n]) for n, key in enumerate(test_ids[::4])]
    return Task(
        passages=passages, titles=titles, bodies=bodies, queries=queries, unlabelled=unlabelled,
        train_qrels=[(key, p) for key in train_ids for p in positives[key]],
        test_qrels=[(key, p) for key in test_ids for p in positives[key]],
        zero_qrels=zero, long_passages=long,
    )


def write_beir(folder: Path, task: Task | None = None, train_split: bool = True) -> tuple[Path, Task]:
    """corpus.jsonl (with metadata and empty titles), queries.jsonl (every query of every
    split, unlabelled ones too), qrels/train.tsv and qrels/test.tsv with graded scores and
    score-0 rows. Without `train_split`, only qrels/test.tsv, holding every labelled pair."""
    import json

    task = task or real_task()
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "corpus.jsonl").open("w", encoding="utf-8") as out:
        for key, body in task.bodies.items():
            out.write(json.dumps({"_id": key, "title": task.titles[key], "text": body, "metadata": {"url": f"https://x/{key}"}}) + "\n")
    with (folder / "queries.jsonl").open("w", encoding="utf-8") as out:
        for key, text in {**task.queries, **task.unlabelled}.items():
            out.write(json.dumps({"_id": key, "text": text, "metadata": {}}) + "\n")
    (folder / "qrels").mkdir(exist_ok=True)
    header = "query-id\tcorpus-id\tscore\n"
    train_rows = [f"{q}\t{p}\t1\n" for q, p in task.train_qrels]
    test_rows = [f"{q}\t{p}\t{1 + n % 2}\n" for n, (q, p) in enumerate(task.test_qrels)] + [f"{q}\t{p}\t0\n" for q, p in task.zero_qrels]
    if train_split:
        (folder / "qrels" / "train.tsv").write_text(header + "".join(train_rows), encoding="utf-8")
        (folder / "qrels" / "test.tsv").write_text(header + "".join(test_rows), encoding="utf-8")
    else:
        (folder / "qrels" / "test.tsv").write_text(header + "".join(train_rows + test_rows), encoding="utf-8")
    return folder, task


def write_msmarco(folder: Path, task: Task | None = None) -> tuple[Path, Task]:
    """collection.tsv, queries.train.tsv (labelled and unlabelled queries, as MS MARCO lists
    808k queries for 503k labelled), queries.dev.small.tsv, TREC qrels (qid 0 pid 1)."""
    task = task or real_task(integer_ids=True)
    folder.mkdir(parents=True, exist_ok=True)
    train, test = set(task.train_queries), set(task.test_queries)
    lines = {
        "collection.tsv": [f"{p}\t{text}" for p, text in task.passages.items()],
        "queries.train.tsv": [f"{q}\t{t}" for q, t in {**task.queries, **task.unlabelled}.items() if q not in test],
        "queries.dev.small.tsv": [f"{q}\t{t}" for q, t in task.queries.items() if q in test],
        "qrels.train.tsv": [f"{q}\t0\t{p}\t1" for q, p in task.train_qrels if q in train],
        "qrels.dev.small.tsv": [f"{q}\t0\t{p}\t1" for q, p in task.test_qrels],
    }
    for name, rows in lines.items():
        (folder / name).write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder, task


def write_t2ranking(folder: Path, task: Task | None = None) -> tuple[Path, Task]:
    """Chinese text in TSV files with header rows: collection.tsv (pid, para),
    queries.{train,dev}.tsv (qid, text), qrels.retrieval.{train,dev}.tsv (qid, pid)."""
    task = task or real_task(chinese=True, integer_ids=True)
    folder.mkdir(parents=True, exist_ok=True)
    test = set(task.test_queries)
    lines = {
        "collection.tsv": ["pid\tpara"] + [f"{p}\t{text}" for p, text in task.passages.items()],
        "queries.train.tsv": ["qid\ttext"] + [f"{q}\t{t}" for q, t in {**task.queries, **task.unlabelled}.items() if q not in test],
        "queries.dev.tsv": ["qid\ttext"] + [f"{q}\t{t}" for q, t in task.queries.items() if q in test],
        "qrels.retrieval.train.tsv": ["qid\tpid"] + [f"{q}\t{p}" for q, p in task.train_qrels],
        "qrels.retrieval.dev.tsv": ["qid\tpid"] + [f"{q}\t{p}" for q, p in task.test_qrels],
    }
    for name, rows in lines.items():
        (folder / name).write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder, task


def write_hf(folder: Path, task: Task | None = None) -> tuple[Path, Task]:
    """A DatasetDict saved with save_to_disk in the hub's BEIR layout: corpus (_id, title,
    text), queries (_id as integers, as some hub sets store them), qrels-train and qrels-test
    (query-id, corpus-id, score with score-0 rows)."""
    task = task or real_task(integer_ids=True)
    queries = {**task.queries, **task.unlabelled}
    test_rows = task.test_qrels + task.zero_qrels
    tables = datasets.DatasetDict({
        "corpus": datasets.Dataset.from_dict({"_id": list(task.bodies), "title": list(task.titles.values()),
                                              "text": list(task.bodies.values())}),
        "queries": datasets.Dataset.from_dict({"_id": [int(q) for q in queries], "text": list(queries.values())}),
        "qrels-train": datasets.Dataset.from_dict({"query-id": [int(q) for q, _ in task.train_qrels],
                                                   "corpus-id": [p for _, p in task.train_qrels], "score": [1] * len(task.train_qrels)}),
        "qrels-test": datasets.Dataset.from_dict({"query-id": [int(q) for q, _ in test_rows], "corpus-id": [p for _, p in test_rows],
                                                  "score": [1] * len(task.test_qrels) + [0] * len(task.zero_qrels)}),
    })
    tables.save_to_disk(str(folder))
    return folder, task


SHAPES: dict[str, Callable[[Path], tuple[Path, Task]]] = {
    "beir": write_beir,
    "msmarco": write_msmarco,
    "t2ranking": write_t2ranking,
    "hf": write_hf,
}
"""Writer of each source's shape, by the `source` name `prepare_data` takes."""
