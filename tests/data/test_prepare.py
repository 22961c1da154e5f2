"""Preparation on data in the shapes of the real sets, and prepared data keyed by its input.

A name stands for one preparation: reused when asked again for the same input, refused (with
the way out) for any other source, path, file content, option or dev split.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from drscale.data import prepare
from drscale.data.corpus import column
from drscale.model.encoder import load_tokenizer
from drscale.data.inspection import token_lengths
from drscale.data.prepare import PROVENANCE, load_prepared, prepare_data, prepared_folder
from real_shapes import SHAPES, real_task, write_beir

SETTINGS = {"dev_queries": 8, "test_queries": 10, "seed": 1}


def positives(qrels) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for qid, pid in zip(column(qrels, "query_id"), column(qrels, "passage_id")):
        found.setdefault(qid, set()).add(pid)
    return found


# ------------------------------------------------------------------ the four shapes

@pytest.mark.parametrize("source", sorted(SHAPES))
def test_every_loader_reads_its_real_shape_whole(tmp_path, source):
    folder, task = SHAPES[source](tmp_path / "raw")
    data = prepare.LOADERS[source](folder)
    assert dict(zip(column(data.corpus, "id"), column(data.corpus, "text"))) == task.passages
    assert dict(zip(column(data.queries, "id"), column(data.queries, "text"))) == task.queries  # unlabelled dropped
    assert positives(data.train_qrels) == task.positives(task.train_qrels)
    assert positives(data.test_qrels) == task.positives(task.test_qrels)  # score-0 rows dropped
    assert sum(len(p) == 3 for p in positives(data.train_qrels).values()) == 6
    assert len(data.corpus) > 6 * len(data.queries)


@pytest.mark.parametrize("source", sorted(SHAPES))
def test_prepare_data_samples_test_queries_names_the_data_and_reuses_it(tmp_path, source, monkeypatch):
    folder, task = SHAPES[source](tmp_path / "raw")
    data_dir = tmp_path / "data"
    data = prepare_data(source, data_dir=data_dir, path=folder, name="mine", **SETTINGS)

    test = positives(data.test_qrels)
    assert len(test) == 10 and set(test) <= set(task.test_queries)
    assert all(test[qid] == task.positives(task.test_qrels)[qid] for qid in test)  # every positive of a kept query
    assert data.dev_queries == 8 and len(positives(data.train_qrels)) == len(task.train_queries) - 8
    assert data.name == "mine" and load_prepared(data_dir, "mine").name == "mine"
    folder_out = prepared_folder(data_dir, "mine")
    summary = json.loads((folder_out / "summary.json").read_text())
    provenance = json.loads((folder_out / PROVENANCE).read_text())
    assert summary["name"] == "mine" and summary["fingerprint"] == provenance["fingerprint"] == data.fingerprint()
    assert provenance["source"] == source and provenance["path"] == str(folder.resolve())
    assert provenance["options"]["test_queries"] == 10 and provenance["dev_queries"] == 8 and provenance["inputs"]

    @functools.wraps(prepare.LOADERS[source])  # the same options, read from its signature
    def refuse(*args, **kwargs):
        raise AssertionError("read the files again")

    monkeypatch.setitem(prepare.LOADERS, source, refuse)
    again = prepare_data(source, data_dir=data_dir, path=folder, name="mine", **SETTINGS)
    assert again.fingerprint() == data.fingerprint()


@contextmanager
def transformers_warnings() -> Iterator[list[str]]:
    """Messages the transformers library logs meanwhile (its logger does not propagate)."""
    messages: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: messages.append(record.getMessage())
    logger = logging.getLogger("transformers")
    logger.addHandler(handler)
    try:
        yield messages
    finally:
        logger.removeHandler(handler)


def test_token_lengths_samples_queries_and_passages_apart_and_measures_them_whole(tmp_path):
    """Notebook 01 drew one sample from the corpus size and indexed the queries with it, which
    fails on any set with fewer queries than passages; and the tokenizer warned about every
    passage past 512 tokens."""
    folder, task = write_beir(tmp_path / "raw")
    data = prepare.LOADERS["beir"](folder)
    with transformers_warnings() as warnings:
        lengths = token_lengths(data, load_tokenizer(), sample=3000, seed=0)
    assert lengths.groupby("text").size().to_dict() == {"passage": 400, "query": 64}
    passages = lengths.tokens[lengths.text == "passage"]
    assert (passages > 512).sum() == len(task.long_passages) and passages.max() > 700
    assert warnings == []

    small = token_lengths(data, load_tokenizer(), sample=20, seed=3)
    assert small.groupby("text").size().to_dict() == {"passage": 20, "query": 20}
    assert small.equals(token_lengths(data, load_tokenizer(), sample=20, seed=3))

    with transformers_warnings() as warnings:  # the warning it keeps away
        load_tokenizer()(data.corpus[column(data.corpus, "id").index(task.long_passages[0])]["text"])
    assert any("longer than the specified maximum" in message for message in warnings)


# ------------------------------------------------------------------ prepared data keyed by its input

def test_another_source_under_the_default_name_is_refused_not_served_stale(tmp_path):
    """After the demo, notebook 01 with source="beir" and the default name handed back the docstrings."""
    data_dir = tmp_path / "data"
    prepare_data("docstrings", data_dir=data_dir, name="docstrings", dev_queries=0)
    folder, _ = write_beir(tmp_path / "wordnet-beir")
    with pytest.raises(ValueError, match=r"prepared data 'docstrings' in .* was prepared from other input: "
                                         r"source 'docstrings' \(asked: 'beir'\).*Pass overwrite=True .* or choose another name"):
        prepare_data("beir", data_dir=data_dir, path=folder, name="docstrings", dev_queries=0)
    assert load_prepared(data_dir, "docstrings").source.startswith("docstring snapshot")


@pytest.mark.parametrize(
    "change, refused",
    [
        ("another folder with the same files", r"path '.*raw' \(asked: '.*copy'\)"),
        ("an edited file", r"inputs: corpus.jsonl changed"),
        ("a file added", r"inputs: qrels/dev.tsv added"),
        ("other test_queries", r"options: test_queries 10 \(asked: 12\)"),
        ("another seed", r"options: seed 1 \(asked: 2\)"),
        ("another dev split", r"dev_queries 8 \(asked: 6\)"),
        ("a pool split", r"pool_queries 0 \(asked: 5\)"),
        ("a cap on the corpus", r"options: max_passages None \(asked: 300\)"),
    ],
)
def test_other_input_under_the_same_name_is_refused_until_overwritten(tmp_path, change, refused):
    folder, _ = write_beir(tmp_path / "raw")
    data_dir = tmp_path / "data"
    first = prepare_data("beir", data_dir=data_dir, path=folder, name="set", **SETTINGS)
    asked = {"source": "beir", "data_dir": data_dir, "path": folder, "name": "set", **SETTINGS}
    if change == "another folder with the same files":
        asked["path"] = shutil.copytree(folder, tmp_path / "copy")
    elif change == "an edited file":
        with (folder / "corpus.jsonl").open("a") as out:
            out.write('{"_id": "doc-extra", "title": "", "text": "A passage added later."}\n')
    elif change == "a file added":
        (folder / "qrels" / "dev.tsv").write_text("query-id\tcorpus-id\tscore\n")
    else:
        key, value = {"other test_queries": ("test_queries", 12), "another seed": ("seed", 2),
                      "another dev split": ("dev_queries", 6), "a pool split": ("pool_queries", 5), "a cap on the corpus": ("max_passages", 300)}[change]
        asked[key] = value

    with pytest.raises(ValueError, match=f"prepared from other input: .*{refused}.*overwrite=True"):
        prepare_data(**asked)
    assert load_prepared(data_dir, "set").fingerprint() == first.fingerprint()
    replaced = prepare_data(**asked, overwrite=True)
    assert prepare_data(**asked).fingerprint() == replaced.fingerprint()  # the new preparation is the one kept
    assert json.loads((prepared_folder(data_dir, "set") / PROVENANCE).read_text())["fingerprint"] == replaced.fingerprint()


def test_leaving_out_an_option_and_passing_its_default_are_the_same_input(tmp_path):
    folder, _ = write_beir(tmp_path / "raw")
    data = prepare_data("beir", data_dir=tmp_path / "data", path=folder, name="set", dev_queries=0)
    same = prepare_data("beir", data_dir=tmp_path / "data", path=str(folder) + "/", name="set", dev_queries=0, seed=0,
                        test_queries=None, train_split="train")
    assert same.fingerprint() == data.fingerprint()


def test_the_data_folder_inside_the_input_folder_is_not_input_but_an_input_inside_the_data_folder_is(tmp_path):
    folder, _ = write_beir(tmp_path / "raw")
    first = prepare_data("beir", data_dir=folder / "data", path=folder, dev_queries=0)
    (folder / "data" / "runs").mkdir()
    (folder / "data" / "runs" / "results.jsonl").write_text("{}\n")  # the study goes on in the data folder
    assert prepare_data("beir", data_dir=folder / "data", path=folder, dev_queries=0).fingerprint() == first.fingerprint()

    inside, _ = write_beir(tmp_path / "data" / "raw" / "beir")
    prepare_data("beir", data_dir=tmp_path / "data", path=inside, dev_queries=0)
    with (inside / "queries.jsonl").open("a") as out:
        out.write('{"_id": "q-late", "text": "a query added later"}\n')
    with pytest.raises(ValueError, match="inputs: queries.jsonl changed"):
        prepare_data("beir", data_dir=tmp_path / "data", path=inside, dev_queries=0)


def test_a_missing_path_is_named_before_anything_else(tmp_path):
    data_dir = tmp_path / "data"
    with pytest.raises(FileNotFoundError, match=r"absent: no such file or folder \(path of source 'beir'"):
        prepare_data("beir", data_dir=data_dir, path=tmp_path / "absent")
    assert not data_dir.exists()
    folder, _ = write_beir(tmp_path / "raw")
    prepare_data("beir", data_dir=data_dir, path=folder, dev_queries=0)  # a preparation named "beir" exists now
    with pytest.raises(FileNotFoundError, match="absent: no such file or folder"):
        prepare_data("beir", data_dir=data_dir, path=tmp_path / "absent", dev_queries=0)
    with pytest.raises(FileNotFoundError, match="absent-collection.tsv: no such file or folder"):
        prepare_data("msmarco", data_dir=data_dir, path=folder, collection_file=tmp_path / "absent-collection.tsv")


def test_the_stored_name_is_the_name_given_not_the_folder_name(tmp_path):
    folder, _ = write_beir(tmp_path / "wordnet-beir")
    data = prepare_data("beir", data_dir=tmp_path / "data", path=folder, name="wordnet", dev_queries=0)
    summary = json.loads((prepared_folder(tmp_path / "data", "wordnet") / "summary.json").read_text())
    assert data.name == summary["name"] == load_prepared(tmp_path / "data", "wordnet").name == "wordnet"
    assert prepare_data("beir", data_dir=tmp_path / "data", path=folder, dev_queries=0).name == "beir"  # name=None: the source


@pytest.mark.slow
def test_a_preparation_without_provenance_is_refused_unless_it_is_the_docstring_snapshot(tmp_path):
    """Made before provenance was recorded: a file source's input cannot be told, so it is
    refused; the docstring snapshot rebuilds in a second and is compared by fingerprint."""
    data_dir = tmp_path / "data"
    folder, _ = write_beir(tmp_path / "raw")
    prepare_data("beir", data_dir=data_dir, path=folder, name="set", dev_queries=0)
    (prepared_folder(data_dir, "set") / PROVENANCE).unlink()
    with pytest.raises(ValueError, match=r"'set' in .* has no provenance.json, so what it was prepared from is unknown\. "
                                         r"Pass overwrite=True"):
        prepare_data("beir", data_dir=data_dir, path=folder, name="set", dev_queries=0)
    prepare_data("beir", data_dir=data_dir, path=folder, name="set", dev_queries=0, overwrite=True)
    assert (prepared_folder(data_dir, "set") / PROVENANCE).exists()

    snapshot = prepare_data("docstrings", data_dir=data_dir, dev_queries=0, test_queries=50)
    (prepared_folder(data_dir, "docstrings") / PROVENANCE).unlink()
    assert prepare_data("docstrings", data_dir=data_dir, dev_queries=0, test_queries=50).fingerprint() == snapshot.fingerprint()
    assert (prepared_folder(data_dir, "docstrings") / PROVENANCE).exists()  # adopted: its provenance is recorded now
    (prepared_folder(data_dir, "docstrings") / PROVENANCE).unlink()
    with pytest.raises(ValueError, match="has no provenance.json and holds other data than the docstring snapshot"):
        prepare_data("docstrings", data_dir=data_dir, dev_queries=0, test_queries=60)


# ------------------------------------------------------------------ options checked at the door

@pytest.mark.bad_input
@pytest.mark.parametrize(
    "options, message",
    [
        ({"max_queries": -1}, r"max_queries must be a positive integer or None; got -1"),
        ({"max_queries": "5"}, r"max_queries must be a positive integer or None; got '5'"),
        ({"max_passages": 0}, r"max_passages must be a positive integer or None; got 0"),
        ({"max_passages": 2.5}, r"max_passages must be a positive integer or None; got 2.5"),
        ({"test_queries": 0}, r"test_queries must be a positive integer or None; got 0"),
        ({"test_queries": True}, r"test_queries must be a positive integer or None; got True"),
        ({"seed": -1}, r"seed must be a non-negative integer; got -1"),
        ({"seed": "0"}, r"seed must be a non-negative integer; got '0'"),
        ({"dev_queries": "8"}, r"dev_queries must be a non-negative integer; got '8'"),
        ({"dev_seed": -2}, r"dev_seed must be a non-negative integer; got -2"),
        ({"packages": []}, r"unknown option\(s\) \['packages'\] for source 'beir'; its options: \["),
        ({"train_split": "test"}, r"train_split and test_split must differ; both are 'test'"),
        ({"test_split": ""}, r"test_split must be a non-empty split name"),
        ({"overwrite": "yes"}, r"overwrite must be True or False; got 'yes'"),
        ({"name": "../elsewhere"}, r"name must be a folder name .*; got '../elsewhere'"),
        ({"name": ""}, r"name must be a folder name"),
        ({"source": "trec"}, r"unknown source 'trec'; choose one of"),
    ],
)
def test_bad_options_are_refused_naming_the_parameter_before_any_file_is_read(tmp_path, options, message):
    folder, _ = write_beir(tmp_path / "raw")
    data_dir = tmp_path / "data"
    prepare_data("beir", data_dir=data_dir, path=folder, name="set", dev_queries=0)
    before = {p: p.stat().st_mtime_ns for p in data_dir.rglob("*")}
    asked = {"source": "beir", "data_dir": data_dir, "path": folder, "name": "set", "dev_queries": 0, **options}
    with pytest.raises(ValueError, match=message):
        prepare_data(**asked)
    assert {p: p.stat().st_mtime_ns for p in data_dir.rglob("*")} == before


@pytest.mark.bad_input
@pytest.mark.parametrize(
    "options, message",
    [
        ({"test_queries": "100"}, r"test_queries must be a positive integer; got '100'"),
        ({"seed": 1.5}, r"seed must be a non-negative integer; got 1.5"),
        ({"packages": "numpy"}, r"packages must be a list of package names; got 'numpy'"),
        ({"max_passages": 100}, r"unknown option\(s\) \['max_passages'\] for source 'docstrings'"),
        ({"snapshot": "yes"}, r"snapshot must be True or False"),
        ({"path": "some/folder"}, r"source 'docstrings' reads no files .*got path='some/folder'"),
    ],
)
def test_bad_docstring_options_are_refused_naming_the_parameter(tmp_path, options, message):
    with pytest.raises(ValueError, match=message):
        prepare_data("docstrings", data_dir=tmp_path / "data", **options)
    assert not (tmp_path / "data").exists()


def test_an_option_given_as_none_takes_the_default_so_one_call_serves_every_source(tmp_path):
    """Notebook 01 passes every option it has; None means the builder's default."""
    folder, task = write_beir(tmp_path / "raw")
    data = prepare_data("beir", data_dir=tmp_path / "data", path=folder, dev_queries=0, packages=None,
                        test_queries=None, max_passages=None, max_queries=None, seed=0)
    assert len(positives(data.test_qrels)) == len(task.test_queries)


def test_a_dataset_with_exactly_its_test_queries_asked_for_keeps_them_all(tmp_path):
    folder, task = write_beir(tmp_path / "raw", real_task(seed=4))
    data = prepare_data("beir", data_dir=tmp_path / "data", path=folder, dev_queries=0, test_queries=len(task.test_queries))
    assert positives(data.test_qrels) == task.positives(task.test_qrels)
    with pytest.raises(ValueError, match=rf"test_queries={len(task.test_queries) + 1} exceeds the {len(task.test_queries)} "
                                         r"labelled test queries of .*test.tsv; pass at most 16, or None to keep them all"):
        prepare_data("beir", data_dir=tmp_path / "data", path=folder, name="more", test_queries=len(task.test_queries) + 1)
    assert not prepared_folder(tmp_path / "data", "more").exists()
    assert os.listdir(tmp_path / "data" / "prepared") == ["beir"]  # no staging folder left behind


# ------------------------------------------------------------------ replacing a preparation

def test_a_replacement_that_fails_at_its_last_step_leaves_the_old_preparation_whole(tmp_path, monkeypatch):
    """The old folder moves aside in one rename instead of being deleted in place, so there is
    no moment at which NAME sits beside half its tables."""
    folder, _ = write_beir(tmp_path / "raw")
    data_dir = tmp_path / "data"
    old = prepare_data("beir", data_dir=data_dir, path=folder, name="set", dev_queries=0)
    real_replace, calls = os.replace, []

    def failing_replace(source, target):
        calls.append(os.path.basename(source))
        if os.path.basename(source).startswith(".tmp-"):
            raise OSError("disk full")
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        prepare_data("beir", data_dir=data_dir, path=folder, name="set", dev_queries=0, seed=5, overwrite=True)
    monkeypatch.undo()
    assert calls[0] == "set"  # moved aside first, then put back
    assert os.listdir(data_dir / "prepared") == ["set"]
    assert load_prepared(data_dir, "set").fingerprint() == old.fingerprint()
    assert json.loads((prepared_folder(data_dir, "set") / PROVENANCE).read_text())["options"]["seed"] == 0


@pytest.mark.bad_input
@pytest.mark.parametrize("name", ["../outside", "a/b", ".hidden", ""])
def test_a_name_that_is_not_one_folder_name_is_refused_when_loading_too(tmp_path, name):
    with pytest.raises(ValueError, match="name must be a folder name"):
        load_prepared(tmp_path, name)


def test_a_preparation_recorded_before_pool_splits_existed_is_reused_as_one_without(tmp_path):
    folder, _ = write_beir(tmp_path / "raw")
    data_dir = tmp_path / "data"
    first = prepare_data("beir", data_dir=data_dir, path=folder, name="set", **SETTINGS)
    provenance = prepared_folder(data_dir, "set") / PROVENANCE
    recorded = json.loads(provenance.read_text())
    del recorded["pool_queries"]
    provenance.write_text(json.dumps(recorded))
    assert prepare_data("beir", data_dir=data_dir, path=folder, name="set", **SETTINGS).fingerprint() == first.fingerprint()
    with pytest.raises(ValueError, match=r"pool_queries 0 \(asked: 5\)"):
        prepare_data("beir", data_dir=data_dir, path=folder, name="set", pool_queries=5, **SETTINGS)
