"""Bad input is refused at the door: one error naming the file, the line and what was expected.

The data matrix crosses the four file formats with the kinds of damage researchers' files
carry. Each case goes through `prepare_data`, the pipeline's entry point, and must leave the
data folder (holding a results store from earlier work) byte for byte as it was. Where a kind
of damage cannot occur in a format, the case uses that format's analogue, said in a comment:

- "malformed JSON line": MS MARCO and T2Ranking are TSV, so a line whose tab was typed as
  spaces; a Hugging Face dataset on disk is Arrow plus JSON metadata, so damaged metadata.
- "extra column": BEIR jsonl records may carry extra keys by design (free-form metadata), so
  an extra field in BEIR's qrels TSV; an Arrow table cannot hold a row with an extra field,
  so a cell holding several values (a list where one text belongs).
- "header where none is expected": T2Ranking files all have a header, so a header that is
  missing, wrong, or repeated mid-file (two files concatenated); a Hugging Face table keeps
  its column names in the schema, so a first row that repeats them.
- "invalid UTF-8": Arrow strings are valid by construction, so a bytes column.
- "empty file": for a Hugging Face dataset, an empty split.

Then bad parameters (refused before any training step) and bad results stores.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import datasets
import pytest

from drscale.sweep import run as one_run
from drscale.sweep.executors import LocalBackend
from drscale.data.prepare import prepare_data
from drscale.sweep.config import RunConfig
from drscale.sweep.runner import run_sweep
from drscale.sweep.spec import SweepSpec
from drscale.sweep.store import ResultsStore
from drscale.train.config import CPU_PRESET, with_overrides
from samples import BEIR, MSMARCO, T2RANKING, hf_tables, write
from samples import finished_record


@dataclass(frozen=True)
class Bad:
    """One damaged file. `at` is (file, line) for files, (split, row) for a Hugging Face
    table, (file, None) when the whole file or table is at fault."""

    case: str
    changes: dict
    at: tuple[str, int | None]
    found: str  # regex: what the message says was found
    expected: str  # regex: what it says was expected
    error: type[Exception] = ValueError


MSMARCO_CASES = [
    Bad("missing-column", {"queries.train.tsv": "10\tq\n11\n"}, ("queries.train.tsv", 2), r"1 field", "2 fields: qid<TAB>query"),
    Bad("missing-column-qrels", {"qrels.train.tsv": "10 0 0 1\n11 0 1\n"}, ("qrels.train.tsv", 2), "3 field", "4 fields: qid 0 pid relevance"),
    Bad("extra-column", {"collection.tsv": "0\ta\n1\tb\tc\n"}, ("collection.tsv", 2), "3 field", "2 fields: pid<TAB>passage"),
    # analogue of a malformed JSON line: the tab typed as spaces
    Bad("malformed-line", {"collection.tsv": "0\ta\n1 Berlin is in Germany.\n"}, ("collection.tsv", 2), "1 field", "2 fields: pid<TAB>passage"),
    Bad("invalid-utf8", {"collection.tsv": b"0\ta\n1\tb\n2\t\xff\xfe\n"}, ("collection.tsv", 3), "invalid UTF-8 at byte 2", "UTF-8 text"),
    Bad("latin1-file", {"queries.dev.small.tsv": "20\tcaf\u00e9\n".encode("latin-1")}, ("queries.dev.small.tsv", 1), "invalid UTF-8", "UTF-8 text"),
    Bad("empty-passage", {"collection.tsv": "0\ta\n1\t  \n"}, ("collection.tsv", 2), "empty passage text for id '1'", "non-empty passage text"),
    Bad("empty-query", {"queries.train.tsv": "10\t \n11\tq\n"}, ("queries.train.tsv", 1), "empty query text for id '10'", "non-empty query text"),
    Bad("empty-passage-id", {"collection.tsv": "0\ta\n\tb\n"}, ("collection.tsv", 2), "empty passage id", "a non-empty passage id"),
    Bad("unknown-query", {"qrels.train.tsv": "10 0 0 1\n99 0 1 1\n"}, ("qrels.train.tsv", 2), "unknown query id '99'", r"an id from .*queries\.train\.tsv or .*queries\.dev\.small\.tsv"),
    Bad("unknown-passage", {"qrels.dev.small.tsv": "20 0 77 1\n"}, ("qrels.dev.small.tsv", 1), "unknown passage id '77'", r"an id from .*collection\.tsv"),
    Bad("duplicate-passage", {"collection.tsv": "0\ta\n1\tb\n0\tc\n"}, ("collection.tsv", 3), "duplicate passage id '0'", "each id once"),
    Bad("duplicate-query-across-files", {"queries.dev.small.tsv": "10\tagain\n"}, ("queries.dev.small.tsv", 1), "duplicate query id '10'", "each id once"),
    Bad("duplicate-pair", {"qrels.train.tsv": "10 0 0 1\n10\t0\t0\t1\n"}, ("qrels.train.tsv", 2), r"duplicate pair \('10', '0'\)", "each pair once"),
    Bad("header-not-expected", {"collection.tsv": "pid\tpassage\n0\ta\n"}, ("collection.tsv", 1), r"header row 'pid\\tpassage'", r"data rows only \(pid<TAB>passage\), no header"),
    Bad("header-mid-file", {"collection.tsv": "0\ta\npid\tpassage\n1\tb\n"}, ("collection.tsv", 2), "header row", "data rows only"),
    Bad("header-in-qrels", {"qrels.dev.small.tsv": "qid 0 pid relevance\n20 0 3 1\n"}, ("qrels.dev.small.tsv", 1), "header row", "no header"),
    Bad("empty-file", {"queries.train.tsv": ""}, ("queries.train.tsv", 1), "empty file", "qid<TAB>query"),
    Bad("blank-line", {"queries.train.tsv": "10\tq\n\n11\tr\n"}, ("queries.train.tsv", 2), "blank line", "qid<TAB>query"),
    Bad("non-integer-relevance", {"qrels.train.tsv": "10 0 0 yes\n"}, ("qrels.train.tsv", 1), "relevance 'yes'", "an integer relevance"),
    Bad("missing-file", {"collection.tsv": None}, ("collection.tsv", None), "no such file", "a file of pid<TAB>passage", FileNotFoundError),
]

T2RANKING_CASES = [
    Bad("missing-column", {"collection.tsv": "pid\tpara\n0\t北京\n1\n"}, ("collection.tsv", 3), "1 field", "2 fields: pid<TAB>para"),
    Bad("extra-column", {"queries.train.tsv": "qid\ttext\n100\t中国\t首都\n"}, ("queries.train.tsv", 2), "3 field", "2 fields: qid<TAB>text"),
    # analogue of a malformed JSON line: the tab typed as a space
    Bad("malformed-line", {"qrels.retrieval.train.tsv": "qid\tpid\n100 0\n"}, ("qrels.retrieval.train.tsv", 2), "1 field", "2 fields: qid<TAB>pid"),
    Bad("invalid-utf8", {"collection.tsv": "pid\tpara\n0\t北京\n".encode() + "1\t上".encode()[:-1] + b"\n"}, ("collection.tsv", 3), "invalid UTF-8", "UTF-8 text"),
    Bad("empty-query", {"queries.dev.tsv": "qid\ttext\n200\t\n"}, ("queries.dev.tsv", 2), "empty query text for id '200'", "non-empty query text"),
    Bad("unknown-query", {"qrels.retrieval.train.tsv": "qid\tpid\n100\t0\n999\t1\n"}, ("qrels.retrieval.train.tsv", 3), "unknown query id '999'", r"an id from .*queries\.train\.tsv"),
    Bad("unknown-passage", {"qrels.retrieval.dev.tsv": "qid\tpid\n200\t2\n200\t9\n"}, ("qrels.retrieval.dev.tsv", 3), "unknown passage id '9'", r"an id from .*collection\.tsv"),
    Bad("duplicate-passage", {"collection.tsv": "pid\tpara\n0\t北京\n1\t上海\n0\t长江\n"}, ("collection.tsv", 4), "duplicate passage id '0'", "each id once"),
    # T2Ranking files have a header: the analogues are a missing, a wrong and a repeated one
    Bad("missing-header", {"collection.tsv": "0\t北京\n"}, ("collection.tsv", 1), r"first line is '0\\t北京'", "the header row pid<TAB>para"),
    Bad("wrong-header", {"queries.train.tsv": "id\ttext\n100\t中国\n"}, ("queries.train.tsv", 1), r"first line is 'id\\ttext'", "the header row qid<TAB>text"),
    Bad("repeated-header", {"queries.train.tsv": "qid\ttext\n100\t中国\nqid\ttext\n101\t上海\n"}, ("queries.train.tsv", 3), "a second header row", "data rows"),
    Bad("empty-file", {"collection.tsv": ""}, ("collection.tsv", 1), "empty file", "pid<TAB>para"),
    Bad("header-only", {"collection.tsv": "pid\tpara\n"}, ("collection.tsv", 2), "no data rows after the header", "rows of pid<TAB>para"),
    Bad("missing-file", {"qrels.retrieval.train.tsv": None}, ("qrels.retrieval.train.tsv", None), "no such file", "a file of qid<TAB>pid", FileNotFoundError),
]

BEIR_CASES = [
    Bad("missing-column", {"corpus.jsonl": '{"_id": "d1", "text": "a"}\n{"text": "b"}\n'}, ("corpus.jsonl", 2), r"missing field\(s\) \['_id'\]", r"one JSON object per line with string fields \['_id', 'text'\]"),
    Bad("missing-column-qrels", {"qrels/test.tsv": "query-id\tcorpus-id\tscore\nq3\td3\n"}, ("qrels/test.tsv", 2), "2 field", "3 fields: query-id<TAB>corpus-id<TAB>score"),
    # jsonl records may carry extra keys (metadata) by design: the extra column is in the qrels TSV
    Bad("extra-column", {"qrels/train.tsv": "query-id\tcorpus-id\tscore\nq1\td1\t1\t0\n"}, ("qrels/train.tsv", 2), "4 field", "3 fields: query-id<TAB>corpus-id<TAB>score"),
    Bad("malformed-json", {"corpus.jsonl": '{"_id": "d1", "text": "a"}\n{"_id": "d2", "text": \n'}, ("corpus.jsonl", 2), "malformed JSON", "one JSON object per line"),
    Bad("not-an-object", {"queries.jsonl": '["q1", "text"]\n'}, ("queries.jsonl", 1), "a JSON list", "one JSON object per line"),
    Bad("non-string-text", {"queries.jsonl": '{"_id": "q1", "text": 5}\n'}, ("queries.jsonl", 1), "field 'text' has type int", "a string"),
    Bad("invalid-utf8", {"corpus.jsonl": b'{"_id": "d1", "text": "a"}\n{"_id": "d2", "text": "\xff"}\n'}, ("corpus.jsonl", 2), "invalid UTF-8 at byte 23", "UTF-8 text"),
    Bad("empty-query", {"queries.jsonl": '{"_id": "q1", "text": ""}\n'}, ("queries.jsonl", 1), "empty query text for id 'q1'", "non-empty query text"),
    Bad("unknown-query", {"qrels/train.tsv": "query-id\tcorpus-id\tscore\nq1\td1\t1\nq9\td2\t1\n"}, ("qrels/train.tsv", 3), "unknown query id 'q9'", r"an id from .*queries\.jsonl"),
    Bad("unknown-passage", {"qrels/test.tsv": "query-id\tcorpus-id\tscore\nq3\td3\t1\nq4\td9\t1\n"}, ("qrels/test.tsv", 3), "unknown passage id 'd9'", r"an id from .*corpus\.jsonl"),
    Bad("duplicate-passage", {"corpus.jsonl": '{"_id": "d1", "text": "a"}\n{"_id": "d1", "text": "b"}\n'}, ("corpus.jsonl", 2), "duplicate passage id 'd1'", "each id once"),
    Bad("header-not-expected", {"corpus.jsonl": '_id\ttitle\ttext\n{"_id": "d1", "text": "a"}\n'}, ("corpus.jsonl", 1), "header row", "one JSON object per line .*, no header"),
    Bad("qrels-without-header", {"qrels/test.tsv": "q3\td3\t1\n"}, ("qrels/test.tsv", 1), "first line is", "the header row query-id<TAB>corpus-id<TAB>score"),
    Bad("fractional-score", {"qrels/train.tsv": "query-id\tcorpus-id\tscore\nq1\td1\t1.5\n"}, ("qrels/train.tsv", 2), "relevance '1.5'", "an integer relevance"),
    Bad("empty-file", {"corpus.jsonl": ""}, ("corpus.jsonl", 1), "empty file", "one JSON object per line"),
    Bad("missing-file", {"queries.jsonl": None}, ("queries.jsonl", None), "no such file", "a file of one JSON object per line", FileNotFoundError),
]


def hf(**columns) -> datasets.Dataset:
    return datasets.Dataset.from_dict(columns)


HF_CASES = [
    Bad("missing-column", {"corpus": hf(id=["d1"], text=["a"])}, ("corpus", None), r"missing column\(s\) \['_id'\]", r"columns \['_id', 'text', 'title'\], found \['id', 'text'\]"),
    # an Arrow row cannot have an extra field: the analogue is a cell holding several values
    Bad("extra-value-in-cell", {"corpus": hf(_id=["d1", "d2", "d3"], text=[["a", "b"], ["c"], ["d"]])}, ("corpus", 1), r"text is \['a', 'b'\]", "a string or an integer"),
    # the JSON of a dataset on disk is its metadata
    Bad("malformed-json-metadata", {"file:dataset_dict.json": '{"splits": ["corpus", "queries"\n'}, ("dataset_dict.json", 2), "malformed JSON", "the JSON metadata of a DatasetDict"),
    Bad("malformed-json-split-state", {"file:corpus/state.json": '{"_data_files": [\n'}, ("corpus/state.json", 2), "malformed JSON", "the JSON metadata"),
    # Arrow strings are always valid UTF-8: the analogue is a bytes column
    Bad("invalid-utf8", {"corpus": hf(_id=["d1", "d2", "d3"], text=[b"a", b"\xff\xfe", b"c"])}, ("corpus", 2), "invalid UTF-8 in text at byte 0", "UTF-8 text"),
    Bad("empty-passage", {"corpus": hf(_id=["d1", "d2", "d3"], text=["a", " ", "c"])}, ("corpus", 2), "empty passage text for id 'd2'", "non-empty passage text"),
    Bad("missing-id", {"queries": hf(_id=["q1", None], text=["a", "b"])}, ("queries", 2), "_id is None", "a string or an integer"),
    Bad("unknown-query", {"qrels-train": hf(**{"query-id": ["q9"], "corpus-id": ["d1"], "score": [1]})}, ("qrels-train", 1), "unknown query id 'q9'", r"an id from .*\[queries\]"),
    Bad("unknown-passage", {"qrels-test": hf(**{"query-id": ["q2"], "corpus-id": ["d9"], "score": [1]})}, ("qrels-test", 1), "unknown passage id 'd9'", r"an id from .*\[corpus\]"),
    Bad("duplicate-query", {"queries": hf(_id=["q1", "q1"], text=["a", "b"])}, ("queries", 2), "duplicate query id 'q1'", "each id once"),
    # column names belong in the schema: a first row repeating them is a header read as data
    Bad("header-row", {"corpus": hf(_id=["_id", "d1", "d2", "d3"], text=["text", "a", "b", "c"])}, ("corpus", 1), r"header row \['_id', 'text', ''\]", "data rows only"),
    Bad("empty-split", {"corpus": hf(_id=[], text=[])}, ("corpus", 1), r"no rows \(an empty split\)", "at least one row"),
    Bad("missing-split", {"queries": None}, ("", None), r"no split 'queries'", "corpus, queries, qrels-<split>"),
]

CASES = [("msmarco", c) for c in MSMARCO_CASES] + [("t2ranking", c) for c in T2RANKING_CASES] + \
        [("beir", c) for c in BEIR_CASES] + [("hf", c) for c in HF_CASES]


def write_source(folder: Path, source: str, changes: dict) -> Path:
    """A valid data set of `source` under `folder` with `changes` applied."""
    if source != "hf":
        return write(folder, {**{"msmarco": MSMARCO, "t2ranking": T2RANKING, "beir": BEIR}[source], **changes})
    tables = {key: value for key, value in changes.items() if not key.startswith("file:")}
    hf_tables(**tables).save_to_disk(str(folder))
    for key, content in changes.items():
        if key.startswith("file:"):
            (folder / key.removeprefix("file:")).write_text(content)
    return folder


def location(folder: Path, source: str, at: tuple[str, int | None]) -> str:
    """How a message must begin: the file (or table) and the line (or row)."""
    name, position = at
    if source == "hf" and not name.endswith(".json"):
        where = f"{folder}[{name}]" if name else str(folder)
        return f"{where} row {position}: " if position else f"{where}: "
    return f"{folder / name} line {position}: " if position else f"{folder / name}: "


def snapshot(folder: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None for p in sorted(folder.rglob("*"))}


@pytest.mark.bad_input
@pytest.mark.parametrize(("source", "bad"), CASES, ids=[f"{source}-{bad.case}" for source, bad in CASES])
def test_bad_data_is_refused_naming_file_line_and_expectation(tmp_path, source, bad):
    folder = write_source(tmp_path / "raw", source, bad.changes)
    data_dir = tmp_path / "data"
    ResultsStore(data_dir / "runs" / "results.jsonl").append(finished_record("earlier", 3.1))
    before = snapshot(data_dir)

    with pytest.raises(bad.error) as caught:
        prepare_data(source, data_dir=data_dir, path=folder)

    message = str(caught.value)
    start = location(folder, source, bad.at)
    assert message.startswith(start), message
    found, separator, expected = message[len(start):].partition("; expected ")
    assert separator, f"no expectation in: {message}"
    assert re.search(bad.found, found), message
    assert re.search(bad.expected, expected), message
    assert snapshot(data_dir) == before  # no preparation, not even a staging folder; the store untouched


def test_each_format_has_every_kind_of_damage():
    """The matrix is complete: every format meets every kind of damage (or its analogue)."""
    kinds = {
        "missing column": {"missing-column"},
        "extra column": {"extra-column", "extra-value-in-cell"},
        "malformed line": {"malformed-line", "malformed-json", "malformed-json-metadata"},
        "invalid UTF-8": {"invalid-utf8"},
        "empty text": {"empty-passage", "empty-query"},
        "unknown query": {"unknown-query"},
        "unknown passage": {"unknown-passage"},
        "duplicate id": {"duplicate-passage", "duplicate-query"},
        "unexpected header": {"header-not-expected", "repeated-header", "header-row"},
        "empty file": {"empty-file", "empty-split"},
    }
    for source in ("msmarco", "t2ranking", "beir", "hf"):
        present = {bad.case for s, bad in CASES if s == source}
        assert {kind for kind, names in kinds.items() if not names & present} == set(), source


# ------------------------------------------------------------------ parameters, before training

TINY = {"eval_points": 0, "selection": "last", "steps": 4, "batch_size": 8, "negatives": 16, "warmup_steps": 1, "passage_max_length": 24, "query_max_length": 12}
GRID = {"models": ["L1_H16"], "data_sizes": [32]}

PARAMETER_CASES = [
    ("unknown-model-size", {"grid": {**GRID, "models": ["L1_H16", "L2_H100"]}}, r"'L2_H100' is neither a size name, a MiniLM_L<k> name, a local model folder nor a hub id"),
    ("negative-steps", {"train": {**TINY, "steps": -5}}, r"TrainConfig\.steps must be a positive integer; got -5"),
    ("fractional-steps", {"train": {**TINY, "steps": 2.5}}, r"TrainConfig\.steps must be a positive integer; got 2\.5"),
    ("zero-batch", {"train": {**TINY, "batch_size": 0}}, r"TrainConfig\.batch_size must be a positive integer; got 0"),
    ("batch-larger-than-data", {"grid": {**GRID, "data_sizes": [32, 4]}}, "batch_size 8 exceeds data_size 4"),
    ("training-negatives-more-than-corpus", {"train": {**TINY, "negatives": 100_000}}, r"training negatives \(100000\) plus batch_size \(8\) exceed the \d+ passages of small"),
    ("evaluation-negatives-more-than-pool", {"evaluation": {"negatives": 200, "pool_size": 100}}, r"evaluation negatives \(200\) exceed the pool of 100 passages"),
    ("evaluation-pool-larger-than-corpus", {"evaluation": {"negatives": 32, "pool_size": 100_000}}, r"evaluation pool_size 100000 exceeds the \d+ pool passages of small"),
    ("data-size-larger-than-training-set", {"grid": {**GRID, "data_sizes": [32, 100_000]}}, r"data_size 100000 exceeds the \d+ training pairs of small"),
    ("zero-data-size", {"grid": {**GRID, "data_sizes": [0]}}, "data_size must be a positive integer; got 0"),
    ("warmup-not-below-steps", {"train": {**TINY, "warmup_steps": 4}}, r"warmup_steps must be in \[0, steps=4\); got 4"),
    ("negative-learning-rate", {"train": {**TINY, "learning_rate": -1e-3}}, "learning_rate must be a positive finite number; got -0.001"),
    ("learning-rate-as-text", {"train": {**TINY, "learning_rate": "1e-3"}}, r"learning_rate must be a positive finite number; got '1e-3'"),
    ("steps-as-text", {"train": {**TINY, "steps": "10"}}, r"TrainConfig\.steps must be a positive integer; got '10'"),
    ("negative-grad-norm", {"train": {**TINY, "max_grad_norm": -1}}, r"max_grad_norm must be a positive number \(inf: no clipping\); got -1"),
    ("negative-weight-decay", {"train": {**TINY, "weight_decay": -0.1}}, r"weight_decay must be a non-negative finite number"),
    ("passage-longer-than-positions", {"train": {**TINY, "passage_max_length": 600}}, r"passage_max_length 600 exceeds the 512 token positions of model L1_H16"),
    ("data-size-as-text", {"grid": {**GRID, "data_sizes": ["32"]}}, r"grid\.data_sizes must list integers; got '32'"),
    ("empty-seed-list", {"grid": {**GRID, "seeds": []}}, r"grid\.seeds must be a non-empty list"),
    ("zero-repeats", {"evaluation": {"negatives": 32, "repeats": 0, "pool_size": 128}}, r"EvalConfig\.repeats must be a positive integer; got 0"),
    ("pool-size-as-text", {"evaluation": {"negatives": 32, "pool_size": "128"}}, r"EvalConfig\.pool_size must be a positive integer or None"),
    ("ranking-as-text", {"evaluation": {"negatives": 32, "pool_size": 128, "ranking": "yes"}}, r"EvalConfig\.ranking must be True or False"),
    ("unknown-device", {"device": "gpu"}, r"device 'gpu' is not a torch device"),
    ("absent-cuda", {"device": "cuda:7"}, r"device 'cuda:7': this machine has \d+ CUDA device"),
    ("zero-threads", {"threads": 0}, r"RunConfig\.threads must be a positive integer; got 0"),
    ("zero-workers", {"workers": 0}, r"workers must be a positive integer or None; got 0"),
]


@pytest.fixture
def no_training(monkeypatch):
    """Any training or run started by the code under test fails the test."""
    def started(*args, **kwargs):
        raise AssertionError("training started despite a bad parameter")

    monkeypatch.setattr(one_run, "train", started)
    monkeypatch.setattr(one_run, "run_one", started)


@pytest.mark.bad_input
@pytest.mark.parametrize(("case", "change", "message"), PARAMETER_CASES, ids=[c[0] for c in PARAMETER_CASES])
def test_bad_parameters_are_refused_before_any_training(tmp_path, small_data, no_training, case, change, message):
    """Spec to sweep, as `python -m drscale sweep` does it: the error names the parameter and
    its value, nothing trains and no results store is created."""
    raw = {"store": "results.jsonl", "train": TINY, "evaluation": {"negatives": 32, "repeats": 2, "pool_size": 128},
           "grid": GRID, **change}
    with pytest.raises(ValueError, match=message):
        spec = SweepSpec.from_dict(raw, base=tmp_path, source="spec.json")
        run_sweep(spec.configs(), small_data, spec.store, device=spec.device, progress=False,
                        backend=LocalBackend(workers=1))
    assert not (tmp_path / "results.jsonl").exists()


@pytest.mark.bad_input
def test_an_incomplete_checkpoint_as_model_is_refused_before_any_training(tmp_path, small_data, no_training):
    staging = tmp_path / "models" / ".tmp-abc-x1y2"
    staging.mkdir(parents=True)
    (staging / "modules.json").write_text("[]")
    config = RunConfig(str(staging), 32, with_overrides(CPU_PRESET, **TINY))
    with pytest.raises(ValueError, match=r"\.tmp-abc-x1y2: not a complete checkpoint: a staging folder left by a save"):
        run_sweep([config], small_data, tmp_path / "results.jsonl", progress=False)
    assert not (tmp_path / "results.jsonl").exists()


# ------------------------------------------------------------------ results stores

GOOD = json.dumps(finished_record("a", 3.0))
STORE_CASES = [
    ("corrupt-middle-line", f"{GOOD}\n{{\"run_id\": \"b\", \"sta\n{GOOD}\n", 2, "not a JSON record"),
    ("record-without-status", f"{GOOD}\n{json.dumps({'run_id': 'b', 'ce': 2.0})}\n", 2, r"\['ce', 'run_id'\]"),
    ("not-an-object", f"{GOOD}\n[1, 2]\n", 2, "a JSON list"),
    ("invalid-utf8-line", GOOD.encode() + b"\n\xff\xfe\n", 2, "not a JSON record"),
]


@pytest.mark.bad_input
@pytest.mark.parametrize(("case", "content", "line", "found"), STORE_CASES, ids=[c[0] for c in STORE_CASES])
def test_a_damaged_store_is_refused_naming_the_line_and_left_as_it_was(tmp_path, small_data, no_training, case, content, line, found):
    """Only a torn last line is a crash's doing and skipped; damage elsewhere would silently
    drop finished runs, so it stops the sweep before any training, with the store unchanged."""
    path = tmp_path / "results.jsonl"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    before = path.read_bytes()
    config = RunConfig("L1_H16", 32, with_overrides(CPU_PRESET, **TINY))
    with pytest.raises(ValueError, match=rf"^{re.escape(str(path))} line {line}: .*{found}.*; expected one JSON run record per line"):
        run_sweep([config], small_data, path, progress=False)
    assert path.read_bytes() == before
