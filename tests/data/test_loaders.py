"""Loaders read each format into the right tables (bad input: see test_bad_input.py)."""

from __future__ import annotations

import re

import datasets
import pytest

from drscale.data.hf import load_hf
from drscale.data.loaders import load_beir, load_msmarco, load_t2ranking
from real_shapes import SHAPES, write_beir, write_msmarco
from samples import BEIR, MSMARCO, T2RANKING, hf_tables, write


def test_msmarco_keeps_labelled_queries_and_positive_pairs(tmp_path):
    data = load_msmarco(write(tmp_path, MSMARCO))
    assert data.corpus["id"] == ["0", "1", "2", "3", "4", "5"]
    assert data.corpus["text"][3] == "Rome is the capital of Italy."
    assert dict(zip(data.queries["id"], data.queries["text"])) == {
        "10": "what is the capital of france", "11": "capital of germany", "20": "capital of italy"}
    assert list(zip(data.train_qrels["query_id"], data.train_qrels["passage_id"])) == [("10", "0"), ("11", "1")]
    assert list(zip(data.test_qrels["query_id"], data.test_qrels["passage_id"])) == [("20", "3")]


def test_msmarco_caps_keep_labelled_passages_then_fill_up(tmp_path):
    data = load_msmarco(write(tmp_path, MSMARCO), max_queries=1, max_passages=3)
    assert data.train_qrels["query_id"] == ["10"]
    assert data.queries["id"] == ["10", "20"]
    assert data.corpus["id"] == ["0", "1", "3"]  # labelled 0 and 3, then the first other passage


def test_msmarco_explicit_paths_without_folder(tmp_path):
    folder = write(tmp_path, MSMARCO)
    data = load_msmarco(
        collection_file=folder / "collection.tsv",
        train_queries_file=folder / "queries.train.tsv",
        train_qrels_file=folder / "qrels.train.tsv",
        test_queries_file=folder / "queries.dev.small.tsv",
        test_qrels_file=folder / "qrels.dev.small.tsv",
    )
    assert data.n_train_pairs == 2 and len(data.test_qrels) == 1


def test_t2ranking_chinese_text_round_trips(tmp_path):
    data = load_t2ranking(write(tmp_path, T2RANKING))
    assert data.corpus["text"] == ["北京是中国的首都。", "上海是一座港口城市。", "长江是中国最长的河流。"]
    assert data.queries["text"] == ["中国的首都是哪里", "上海是什么城市", "中国最长的河流"]
    assert data.train_qrels["passage_id"] == ["0", "1"] and data.test_qrels["query_id"] == ["200"]


def test_beir_joins_title_and_text_and_keeps_positive_scores(tmp_path):
    data = load_beir(write(tmp_path, BEIR))
    assert data.corpus["text"] == ["Paris. Capital of France.", "Berlin is in Germany.", "Rome is in Italy.", "Madrid. Capital of Spain."]
    assert list(zip(data.train_qrels["query_id"], data.train_qrels["passage_id"])) == [("q1", "d1"), ("q2", "d2")]
    assert data.test_qrels["query_id"] == ["q3", "q4"]
    assert data.source == str(tmp_path)


def test_blank_lines_at_the_end_of_a_file_are_an_editor_s_newline_not_an_error(tmp_path):
    folder = write(tmp_path, BEIR)
    expected = load_beir(folder)
    for name in ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv"):
        with (folder / name).open("a") as out:
            out.write("\n\r\n  \n")
    data = load_beir(folder)
    for table in ("corpus", "queries", "train_qrels", "test_qrels"):
        assert getattr(data, table).to_list() == getattr(expected, table).to_list(), table


@pytest.mark.bad_input
def test_a_beir_file_given_for_its_folder_is_named(tmp_path):
    folder = write(tmp_path, BEIR)
    with pytest.raises(NotADirectoryError, match=r"corpus.jsonl is a file; pass the folder that holds corpus.jsonl, "
                                                 r"queries.jsonl and qrels/test.tsv \(a BEIR data set\)"):
        load_beir(folder / "corpus.jsonl")
    with pytest.raises(FileNotFoundError, match="nowhere: no such folder; expected one holding corpus.jsonl"):
        load_beir(tmp_path / "nowhere")


def test_beir_without_train_split_splits_test_queries(tmp_path):
    data = load_beir(write(tmp_path, {**BEIR, "qrels/train.tsv": None}), test_queries=1, seed=3)
    assert len(set(data.test_qrels["query_id"])) == 1 and len(set(data.train_qrels["query_id"])) == 1
    assert "no train split" in data.source
    again = load_beir(tmp_path, test_queries=1, seed=3)
    assert again.test_qrels["query_id"] == data.test_qrels["query_id"]


def test_hf_dataset_from_disk(tmp_path):
    hf_tables().save_to_disk(tmp_path / "set")
    data = load_hf(tmp_path / "set")
    assert data.name == "set"
    assert data.corpus["text"] == ["Paris. Capital of France.", "Berlin.", "北京。"]
    assert data.train_qrels["passage_id"] == ["d1"] and data.test_qrels["passage_id"] == ["d3"]


def test_hf_integer_ids_become_strings_and_missing_train_is_split(tmp_path):
    tables = hf_tables(
        queries=datasets.Dataset.from_dict({"_id": [1, 2], "text": ["france capital", "中国的首都"]}),
        **{"qrels-train": None, "qrels-test": datasets.Dataset.from_dict({"query-id": [1, 2], "corpus-id": ["d1", "d3"], "score": [1, 1]})},
    )
    tables.save_to_disk(tmp_path / "set")
    data = load_hf(tmp_path / "set", test_queries=1)
    assert sorted(data.queries["id"]) == ["1", "2"] and data.n_train_pairs == 1 and "no train split" in data.source


@pytest.mark.bad_input
def test_hf_offline_hub_name_fails_with_message():
    with pytest.raises(FileNotFoundError, match=r"drscale-absent/none.*local cache"):
        load_hf("drscale-absent/none", local_files_only=True)


@pytest.mark.bad_input
def test_hf_single_dataset_on_disk_is_rejected(tmp_path):
    datasets.Dataset.from_dict({"_id": ["d1"], "text": ["a"]}).save_to_disk(tmp_path / "one")
    with pytest.raises(ValueError, match=r"one: a single Dataset; expected a DatasetDict"):
        load_hf(tmp_path / "one")


# ------------------------------------------------------------------ test-size options, alike in every format

LOADERS = {"beir": load_beir, "msmarco": load_msmarco, "t2ranking": load_t2ranking, "hf": load_hf}


def held_out_queries(data) -> list[str]:
    return sorted(set(data.test_qrels["query_id"]))


@pytest.mark.parametrize("source", sorted(LOADERS))
def test_test_queries_keeps_a_seeded_sample_of_the_test_split_with_all_its_positives(tmp_path, source):
    """BEIR used to ignore test_queries when it had a train split, so a 9,408-pair test split
    was evaluated whole; every format now samples it the same way."""
    folder, task = SHAPES[source](tmp_path / "raw")
    load = LOADERS[source]
    data = load(folder, test_queries=5, seed=3)
    chosen = held_out_queries(data)
    assert len(chosen) == 5 and set(chosen) <= set(task.test_queries)
    expected = task.positives(task.test_qrels)
    assert {q: {p for q2, p in zip(data.test_qrels["query_id"], data.test_qrels["passage_id"]) if q2 == q} for q in chosen} \
        == {q: expected[q] for q in chosen}
    assert data.n_train_pairs == len(task.train_qrels)  # training pairs untouched
    assert held_out_queries(load(folder, test_queries=5, seed=3)) == chosen
    assert held_out_queries(load(folder, test_queries=5, seed=4)) != chosen
    assert held_out_queries(load(folder)) == sorted(task.test_queries)
    with pytest.raises(ValueError, match=r"test_queries=17 exceeds the 16 labelled test queries of .*; pass at most 16"):
        load(folder, test_queries=17)


def test_a_capped_corpus_keeps_the_positives_of_the_sampled_test_queries_only(tmp_path):
    folder, task = write_msmarco(tmp_path / "raw")
    data = load_msmarco(folder, test_queries=5, seed=3, max_passages=1)
    kept = set(data.train_qrels["passage_id"]) | set(data.test_qrels["passage_id"])
    assert set(data.corpus["id"]) == kept  # the labelled passages alone exceed the cap
    assert len(data.test_qrels) < len(task.test_qrels)


def test_beir_without_train_split_holds_out_test_queries_from_real_shaped_qrels(tmp_path):
    folder, task = write_beir(tmp_path / "raw", train_split=False)
    data = load_beir(folder, test_queries=10, seed=0)
    assert len(held_out_queries(data)) == 10 and "no train split" in data.source
    labelled = task.positives(task.train_qrels + task.test_qrels)
    assert len(set(data.train_qrels["query_id"])) == len(labelled) - 10
    assert len(data.train_qrels) + len(data.test_qrels) == sum(len(p) for p in labelled.values())
    assert len(held_out_queries(load_beir(folder))) == len(labelled) // 5  # default: a fifth
    with pytest.raises(ValueError, match=r"test_queries must be between 1 and 63 .*for want of a train split.*; got 64"):
        load_beir(folder, test_queries=64)


def test_max_queries_keeps_the_first_labelled_queries_of_each_split(tmp_path):
    folder, task = write_msmarco(tmp_path / "raw")
    data = load_msmarco(folder, max_queries=4)
    assert list(dict.fromkeys(data.train_qrels["query_id"])) == task.train_queries[:4]
    assert list(dict.fromkeys(data.test_qrels["query_id"])) == task.test_queries[:4]


@pytest.mark.bad_input
@pytest.mark.parametrize("source", sorted(LOADERS))
@pytest.mark.parametrize(
    "option, value, message",
    [
        ("max_queries", -1, "a positive integer or None; got -1"),  # used to drop the last query of each split
        ("max_queries", "10", "a positive integer or None; got '10'"),
        ("max_passages", 0, "a positive integer or None; got 0"),
        ("test_queries", 2.0, "a positive integer or None; got 2.0"),
        ("seed", -1, "a non-negative integer; got -1"),
        ("train_split", None, "a non-empty split name"),
    ],
)
def test_loader_options_are_refused_before_any_file_is_read(tmp_path, source, option, value, message):
    with pytest.raises(ValueError, match=f"{option} must be {re.escape(message)}"):
        LOADERS[source](tmp_path / "absent", **{option: value})
