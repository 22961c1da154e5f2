"""Retrieval data: corpus, queries and relevance labels in `datasets` tables, with splits.

`RetrievalData` is what every loader returns and what training and evaluation read. Its
splits are train, test and (after `with_dev_split`) dev: dev queries are carved from the
training queries, never from test, and serve checkpoint and regime selection, so the test
split only ever reports. It is
validated once at construction (unique ids, non-empty text, qrels that name known ids), so
later stages can trust it. Data-size subsets are nested: the training pairs are shuffled
once with a seed and a subset of size D is the first D of that order, as in the paper.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import itertools
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import datasets
import numpy as np

from drscale.common.files import plain_permissions, publish, recover, staging_folder
from drscale.common.values import check_int

datasets.disable_progress_bars()

CORPUS_COLUMNS = ("id", "text")
QUERY_COLUMNS = ("id", "text")
QRELS_COLUMNS = ("query_id", "passage_id")


@dataclass(frozen=True)
class RetrievalData:
    """A corpus, its queries and positive (query, passage) pairs split into train and test.

    corpus:  columns id, text (one row per passage)
    queries: columns id, text
    train_qrels, dev_qrels, test_qrels, pool_qrels: columns query_id, passage_id (one row per
    positive pair); dev_qrels is None for data without a dev split, pool_qrels for data without
    a pool split (`with_pool_split`: labelled pairs set aside so that their passages, which no
    model trains on as positives, are the contrastive-entropy pool)
    """

    name: str
    corpus: datasets.Dataset
    queries: datasets.Dataset
    train_qrels: datasets.Dataset
    test_qrels: datasets.Dataset
    source: str = ""  # where it came from, for error messages and provenance
    dev_qrels: datasets.Dataset | None = None  # carved from training queries by `with_dev_split`
    pool_qrels: datasets.Dataset | None = None  # carved from training queries by `with_pool_split`

    def __post_init__(self) -> None:
        where = self.source or self.name
        _check_table(self.corpus, CORPUS_COLUMNS, f"{where}: corpus")
        _check_table(self.queries, QUERY_COLUMNS, f"{where}: queries")
        for split in self._qrels_splits():
            _check_table(getattr(self, split), QRELS_COLUMNS, f"{where}: {split}")
        _check_ids_and_text(self.corpus, f"{where}: corpus")
        _check_ids_and_text(self.queries, f"{where}: queries")
        passages, queries = set(column(self.corpus, "id")), set(column(self.queries, "id"))
        for split in self._qrels_splits():
            table = getattr(self, split)
            for row, (qid, pid) in enumerate(zip(column(table, "query_id"), column(table, "passage_id"))):
                if qid not in queries:
                    raise ValueError(f"{where}: {split} row {row + 1} names unknown query id {qid!r}")
                if pid not in passages:
                    raise ValueError(f"{where}: {split} row {row + 1} names unknown passage id {pid!r}")
        if len(self.train_qrels) == 0 or len(self.test_qrels) == 0:
            raise ValueError(
                f"{where}: needs both training and test pairs; got {len(self.train_qrels)} train "
                f"and {len(self.test_qrels)} test"
            )
        split_queries = {split: set(column(getattr(self, split), "query_id")) for split in self._qrels_splits()}
        for first, second in itertools.combinations(split_queries, 2):
            overlap = split_queries[first] & split_queries[second]
            if overlap:
                example = sorted(overlap)[0]
                raise ValueError(
                    f"{where}: {len(overlap)} queries are in both {first[:-6]} and {second[:-6]}, e.g. {example!r}"
                )
        if self.pool_qrels is not None:
            labelled = {pid for split in self._qrels_splits() if split != "pool_qrels"
                        for pid in column(getattr(self, split), "passage_id")}
            trained = labelled & set(column(self.pool_qrels, "passage_id"))
            if trained:
                raise ValueError(f"{where}: {len(trained)} pool passages are also positives of another split, "
                                 f"e.g. {sorted(trained)[0]!r}; the pool must hold passages no other split has as positives")

    def _qrels_splits(self) -> tuple[str, ...]:
        return tuple(split for split in ("train_qrels", "dev_qrels", "test_qrels", "pool_qrels")
                     if getattr(self, split) is not None)

    @property
    def dev_queries(self) -> int:
        """Queries in the dev split (0 without one)."""
        return self._split_queries("dev_qrels")

    def _split_queries(self, split: str) -> int:
        """Distinct queries of a split carved from the training queries (0 when it is absent)."""
        qrels = getattr(self, split)
        return 0 if qrels is None else len(set(column(qrels, "query_id")))

    def _carved_already(self, split: str, asked: int) -> bool:
        """Whether the split exists already: a split is carved once, so another size is refused."""
        if getattr(self, split) is None:
            return False
        if self._split_queries(split) != asked:
            raise ValueError(f"{self.name} already has a {split.removesuffix('_qrels')} split of {self._split_queries(split)} queries; "
                             f"asked for {asked}")
        return True

    def with_dev_split(self, dev_queries: int, seed: int = 0) -> RetrievalData:
        """A copy whose training pairs lose `dev_queries` seeded queries (all their pairs) to a
        dev split; test is untouched. Data that has a dev split already is returned as is
        when the sizes agree and refused otherwise, so a split is never carved twice."""
        check_int("dev_queries", dev_queries, 0)
        check_int("seed", seed, 0)
        if self._carved_already("dev_qrels", dev_queries):
            return self
        queries = len(set(column(self.train_qrels, "query_id")))
        if not 0 < dev_queries < queries:
            raise ValueError(
                f"{self.source or self.name}: dev_queries must be between 1 and {queries - 1} (the training queries "
                f"less one); got {dev_queries}. Pass dev_queries=0 for data too small for a dev split"
            )
        train, dev = split_qrels_by_query(self.train_qrels, test_queries=dev_queries, seed=seed)
        return dataclasses.replace(self, train_qrels=train, dev_qrels=dev)

    def with_pool_split(self, pool_queries: int, seed: int = 0) -> RetrievalData:
        """A copy whose training pairs lose `pool_queries` seeded queries (all their pairs) to a
        pool split, whose passages then form the unlabelled pool of contrastive entropy.

        Without one the pool is every passage that is not a test or dev positive, training
        positives included, as in the authors' release. That is harmless where most passages are
        unlabelled (MS MARCO: at most 6% of the release's pool was trained on), but where every
        passage is some query's positive (the embedded docstrings) the pool is the training
        positives themselves, which a trained model scores higher than passages it never saw.
        Only queries whose positives no other query shares are drawn, so no pool passage is
        ever trained on. Refused when a pool split exists already with another size.
        """
        check_int("pool_queries", pool_queries, 0)
        check_int("seed", seed, 0)
        if self._carved_already("pool_qrels", pool_queries):
            return self
        qids, pids = column(self.train_qrels, "query_id"), column(self.train_qrels, "passage_id")
        owners: dict[str, set[str]] = collections.defaultdict(set)
        for split in self._qrels_splits():
            for qid, pid in zip(column(getattr(self, split), "query_id"), column(getattr(self, split), "passage_id")):
                owners[pid].add(qid)
        eligible = set(qids) - {qid for qid, pid in zip(qids, pids) if len(owners[pid]) > 1}
        if not 0 < pool_queries < len(set(qids)) or pool_queries > len(eligible):
            raise ValueError(
                f"{self.source or self.name}: pool_queries must be between 1 and {min(len(eligible), len(set(qids)) - 1)} "
                f"(training queries whose positives no other query shares, less one); got {pool_queries}"
            )
        train, pool = split_qrels_by_query(self.train_qrels, test_queries=pool_queries, seed=seed, among=eligible)
        return dataclasses.replace(self, train_qrels=train, pool_qrels=pool)

    @property
    def pool_queries(self) -> int:
        """Queries set aside for the pool split (0 without one)."""
        return self._split_queries("pool_qrels")

    def held_out_passages(self) -> set[str]:
        """Ids of the passages no model may train on as positives: test and dev positives, and the pool split's."""
        return {pid for split in ("test_qrels", "dev_qrels", "pool_qrels") if getattr(self, split) is not None
                for pid in column(getattr(self, split), "passage_id")}

    @cached_property
    def passage_row(self) -> dict[str, int]:
        """Row of each passage id in `corpus`."""
        return {pid: row for row, pid in enumerate(column(self.corpus, "id"))}

    @cached_property
    def query_row(self) -> dict[str, int]:
        """Row of each query id in `queries`."""
        return {qid: row for row, qid in enumerate(column(self.queries, "id"))}

    @property
    def n_train_pairs(self) -> int:
        return len(self.train_qrels)

    def train_pair_rows(self, data_size: int | None = None, seed: int = 0) -> np.ndarray:
        """(D, 2) array of (query row, passage row) for the first D pairs of one seeded shuffle.

        Subsets are nested: for one seed the pairs of a smaller D are a prefix of a larger D.
        """
        check_int("data_size", data_size, 0, optional=True)
        check_int("seed", seed, 0)
        total = self.n_train_pairs
        if data_size is None:
            data_size = total
        if not 1 <= data_size <= total:
            raise ValueError(f"data_size must be between 1 and {total} (training pairs of {self.name}); got {data_size}")
        order = np.random.default_rng(seed).permutation(total)[:data_size]
        return self._pair_rows(self.train_qrels, order)

    def test_pair_rows(self) -> np.ndarray:
        """(P, 2) array of (query row, passage row) for every test pair."""
        return self._pair_rows(self.test_qrels, np.arange(len(self.test_qrels)))

    def dev_pair_rows(self) -> np.ndarray:
        """(P, 2) array of (query row, passage row) for every dev pair; an error without a dev split."""
        if self.dev_qrels is None:
            raise ValueError(
                f"{self.name} has no dev split: prepare it with dev_queries > 0 (drscale.data.prepare.prepare_data) "
                f"or call with_dev_split"
            )
        return self._pair_rows(self.dev_qrels, np.arange(len(self.dev_qrels)))

    def pool_rows(self, size: int | None = None, seed: int = 0) -> np.ndarray:
        """Corpus rows of the unlabelled pool for contrastive entropy (`unlabelled_rows`).

        With `size`, a seeded random sample of that many (the release sampled 1M of 8.8M),
        sorted; without, all of them.
        """
        check_int("size", size, 0, optional=True)
        check_int("seed", seed, 0)
        rows = self.unlabelled_rows()
        if size is None:
            return rows
        if not 1 <= size <= len(rows):
            raise ValueError(f"pool size must be between 1 and {len(rows)} (the pool passages of {self.name}); got {size}")
        return np.sort(np.random.default_rng(seed).choice(rows, size=size, replace=False))

    def unlabelled_rows(self) -> np.ndarray:
        """Every corpus row the pool may hold: the pool split's passages where there is one
        (`with_pool_split`), otherwise every row that is not a test (or dev) positive. Sorted,
        read-only, and computed once per data set (pre-flight checks ask for it per run)."""
        return self._unlabelled

    @cached_property
    def _unlabelled(self) -> np.ndarray:
        if self.pool_qrels is not None:
            rows = np.array(sorted({self.passage_row[pid] for pid in column(self.pool_qrels, "passage_id")}), dtype=np.int64)
        else:
            held_out = {self.passage_row[pid] for pid in self.held_out_passages()}
            rows = np.array([row for row in range(len(self.corpus)) if row not in held_out], dtype=np.int64)
        rows.setflags(write=False)
        return rows

    def fingerprint(self) -> str:
        """Short hash of every id and text, so results from different builds can be told apart."""
        digest = hashlib.sha256()
        for table in (self.corpus, self.queries):
            for key, text in zip(column(table, "id"), column(table, "text")):
                digest.update(f"{key}\t{text}\n".encode())
        for split in self._qrels_splits():
            table = getattr(self, split)
            if split in ("dev_qrels", "pool_qrels"):
                digest.update(f"{split[:-6]}\n".encode())  # data without the split keeps its old fingerprint
            for qid, pid in zip(column(table, "query_id"), column(table, "passage_id")):
                digest.update(f"{qid}\t{pid}\n".encode())
        return digest.hexdigest()[:16]

    @property
    def evaluated_passages(self) -> int:
        """Corpus rows a test measurement may meet: all of them here (copies with rows made
        only for training, `drscale.annotate.pairs.AnnotatedData`, have fewer)."""
        return len(self.corpus)

    def test_fingerprint(self) -> str:
        """Short hash of what a test measurement reads: the corpus, the test queries and their
        positives, the held-out (dev) positives the pool leaves out and the pool split's passages. Copies of a data set
        that differ only in their training pairs (`drscale.annotate.sources`) share it, so their runs'
        CE and ranking metrics are measured alike and may be compared."""
        digest = hashlib.sha256(b"test\n")
        measured = slice(0, self.evaluated_passages)
        for key, text in zip(column(self.corpus, "id")[measured], column(self.corpus, "text")[measured]):
            digest.update(f"{key}\t{text}\n".encode())
        texts = dict(zip(column(self.queries, "id"), column(self.queries, "text")))
        for qid, pid in zip(column(self.test_qrels, "query_id"), column(self.test_qrels, "passage_id")):
            digest.update(f"{qid}\t{texts[qid]}\t{pid}\n".encode())
        if self.dev_qrels is not None:
            for pid in column(self.dev_qrels, "passage_id"):
                digest.update(f"held out\t{pid}\n".encode())
        if self.pool_qrels is not None:
            for pid in column(self.pool_qrels, "passage_id"):
                digest.update(f"pool\t{pid}\n".encode())
        return digest.hexdigest()[:16]

    def summary(self) -> dict[str, int | str]:
        """Sizes and fingerprint, for notebooks and run records."""
        return {
            "name": self.name,
            "passages": len(self.corpus),
            "queries": len(self.queries),
            "train_pairs": len(self.train_qrels),
            "dev_pairs": len(self.dev_qrels) if self.dev_qrels is not None else 0,
            "test_pairs": len(self.test_qrels),
            "pool_passages": len(self.pool_rows()),
            "fingerprint": self.fingerprint(),
        }

    def save(self, folder: str | Path, extra_files: Mapping[str, str] | None = None) -> Path:
        """Save every table under `folder` (Arrow files via `datasets`), name and source beside,
        and `extra_files` ({file name: text}, e.g. what the data was prepared from).

        Written whole or not at all: the tables go to a staging folder beside `folder`, which
        then replaces it, so a crash mid-save never leaves new tables under an old NAME (or a
        folder that looks prepared and is not), nor new tables beside old extra files.
        """
        folder = Path(folder)
        staging = staging_folder(folder)
        try:
            tables = {split: getattr(self, split) for split in ("corpus", "queries", *self._qrels_splits())}
            datasets.DatasetDict(tables).save_to_disk(str(staging))
            (staging / "NAME").write_text(f"{self.name}\n{self.source}\n")
            for file_name, text in (extra_files or {}).items():
                (staging / file_name).write_text(text, encoding="utf-8")
            plain_permissions(staging)
            # the old folder moves aside whole, never deleted in place: a crash mid-delete would
            # leave a NAME beside half its tables
            publish(staging, folder)
        finally:
            if staging.exists():
                shutil.rmtree(staging)
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> RetrievalData:
        """Reload what `save` wrote (validated again on the way in)."""
        folder = Path(folder)
        recover(folder)
        if not (folder / "NAME").exists():
            raise FileNotFoundError(f"{folder} holds no saved retrieval data (no NAME file)")
        name, source, *_ = (folder / "NAME").read_text().splitlines() + ["", ""]
        tables = datasets.load_from_disk(str(folder))
        return cls(name=name, source=source, **{split: tables[split] for split in tables})

    def _pair_rows(self, qrels: datasets.Dataset, order: np.ndarray) -> np.ndarray:
        qids, pids = column(qrels, "query_id"), column(qrels, "passage_id")
        return np.array([(self.query_row[qids[i]], self.passage_row[pids[i]]) for i in order], dtype=np.int64).reshape(-1, 2)


def split_qrels_by_query(
    qrels: datasets.Dataset, test_queries: int, seed: int = 0, among: Iterable[str] | None = None
) -> tuple[datasets.Dataset, datasets.Dataset]:
    """Split labelled pairs into train and test so that each query lands in one split only;
    the test queries are drawn from `among` when given (default: every query)."""
    check_int("test_queries", test_queries, 1)
    check_int("seed", seed, 0)
    queries = set(column(qrels, "query_id"))
    if not 0 < test_queries < len(queries):
        raise ValueError(f"test_queries must be between 1 and {len(queries) - 1}; got {test_queries}")
    test_ids = sample_queries(queries if among is None else among, test_queries, seed)
    in_test = [qid in test_ids for qid in column(qrels, "query_id")]
    test_rows = [i for i, flag in enumerate(in_test) if flag]
    train_rows = [i for i, flag in enumerate(in_test) if not flag]
    return qrels.select(train_rows), qrels.select(test_rows)


def sample_queries(query_ids: Iterable[str], count: int, seed: int) -> set[str]:
    """`count` of the distinct `query_ids`, drawn with `seed` from their sorted order: the one
    draw behind every split by query (test, dev) and every sample of a test split."""
    queries = sorted(set(query_ids))
    chosen = np.random.default_rng(seed).permutation(len(queries))[:count]
    return {queries[i] for i in chosen}


def column(dataset: datasets.Dataset, name: str) -> list:
    """One column as a plain list (row-by-row access to a `datasets` column is ~100x slower)."""
    return dataset[name][:]


def table(columns: dict[str, Sequence]) -> datasets.Dataset:
    """A `datasets` table from column lists (ids kept as strings)."""
    return datasets.Dataset.from_dict({name: list(values) for name, values in columns.items()})


def _check_table(dataset: datasets.Dataset, columns: Sequence[str], where: str) -> None:
    missing = [c for c in columns if c not in dataset.column_names]
    if missing:
        raise ValueError(f"{where} lacks column(s) {missing}; has {dataset.column_names}")


def _check_ids_and_text(dataset: datasets.Dataset, where: str) -> None:
    seen: set[str] = set()
    for row, (key, text) in enumerate(zip(column(dataset, "id"), column(dataset, "text"))):
        if key in seen:
            raise ValueError(f"{where} row {row + 1}: duplicate id {key!r}")
        seen.add(key)
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"{where} row {row + 1} (id {key!r}): empty text")
