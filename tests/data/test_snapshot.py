"""The shipped snapshot: the default data, the same on every install, refused when damaged."""

import hashlib
import json
import lzma
import sysconfig
from pathlib import Path

import pytest

from drscale.data import docstrings
from drscale.data.corpus import column
from drscale.data.docstrings import DEFAULT_PACKAGES, source_files
from drscale.data.prepare import prepare_data
from drscale.data.snapshot import (
    REBUILD,
    SNAPSHOT_FINGERPRINT,
    SNAPSHOT_PAIRS,
    SNAPSHOT_PATH,
    SNAPSHOT_SHA256,
    load_docstring_snapshot,
    manifest_path,
    read_docstring_snapshot,
    write_docstring_snapshot,
)

STDLIB = Path(sysconfig.get_paths()["stdlib"])


@pytest.fixture(scope="module")
def snapshot_data():
    return load_docstring_snapshot()


def test_the_shipped_snapshot_holds_the_pinned_pairs_with_its_manifest_and_notices():
    content = lzma.decompress(SNAPSHOT_PATH.read_bytes())
    assert hashlib.sha256(content).hexdigest() == SNAPSHOT_SHA256
    assert content.count(b"\n") == SNAPSHOT_PAIRS
    manifest = json.loads(manifest_path(SNAPSHOT_PATH).read_text())
    assert (manifest["pairs"], manifest["sha256"], manifest["default_split"]["fingerprint"]) == (
        SNAPSHOT_PAIRS, SNAPSHOT_SHA256, SNAPSHOT_FINGERPRINT)
    assert [source["name"] for source in manifest["sources"]] == ["stdlib", *DEFAULT_PACKAGES]
    assert manifest["rebuild"] == REBUILD and manifest["built_with"]["function"] == f"{write_docstring_snapshot.__module__}.write_docstring_snapshot"
    assert sum(source["pairs"] for source in manifest["sources"]) == SNAPSHOT_PAIRS
    notice = (SNAPSHOT_PATH.parent / "NOTICE.md").read_text()
    licences = (SNAPSHOT_PATH.parent / "THIRD_PARTY_LICENSES.txt").read_text()
    for source in manifest["sources"]:
        assert f"## {source['name']}: {source['distribution']} {source['version']}" in notice
        assert f"{source['distribution']} {source['version']} -- " in licences
    assert "PYTHON SOFTWARE FOUNDATION LICENSE VERSION 2" in licences


@pytest.mark.slow
def test_the_snapshot_loads_the_same_data_every_time(snapshot_data):
    assert snapshot_data.name == "docstrings"
    assert len(snapshot_data.corpus) == len(snapshot_data.queries) == SNAPSHOT_PAIRS
    assert snapshot_data.fingerprint() == SNAPSHOT_FINGERPRINT
    assert load_docstring_snapshot().fingerprint() == snapshot_data.fingerprint()


def test_snapshot_splits_follow_test_queries_and_seed(snapshot_data):
    assert (len(snapshot_data.test_qrels), len(snapshot_data.train_qrels)) == (1000, SNAPSHOT_PAIRS - 1000)
    other = load_docstring_snapshot(test_queries=50, seed=1)
    assert (len(other.test_qrels), len(other.train_qrels)) == (50, SNAPSHOT_PAIRS - 50)
    test_queries = set(column(other.test_qrels, "query_id"))
    assert len(test_queries) == 50 and not test_queries & set(column(other.train_qrels, "query_id"))


@pytest.mark.bad_input
def test_a_damaged_or_edited_snapshot_is_refused_naming_its_file(tmp_path):
    content = lzma.decompress(SNAPSHOT_PATH.read_bytes())
    edited = tmp_path / "edited.jsonl.xz"
    edited.write_bytes(lzma.compress(content.replace(b"the ", b"teh ", 1), preset=0))
    with pytest.raises(ValueError, match=r"edited\.jsonl\.xz is damaged or edited"):
        load_docstring_snapshot(path=edited)
    truncated = tmp_path / "truncated.jsonl.xz"
    truncated.write_bytes(SNAPSHOT_PATH.read_bytes()[:100_000])
    with pytest.raises(ValueError, match=r"truncated\.jsonl\.xz is damaged"):
        load_docstring_snapshot(path=truncated)
    with pytest.raises(FileNotFoundError, match=r"absent\.jsonl\.xz is missing"):
        load_docstring_snapshot(path=tmp_path / "absent.jsonl.xz")


@pytest.mark.slow
def test_prepare_data_reads_the_snapshot_and_parses_no_installed_sources(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("parsed installed sources")

    monkeypatch.setattr(docstrings, "source_roots", refuse)
    monkeypatch.setattr(docstrings, "source_files", refuse)
    data = prepare_data("docstrings", data_dir=tmp_path)
    assert data.source.startswith("docstring snapshot") and len(data.corpus) == SNAPSHOT_PAIRS
    assert len(data.test_qrels) == 1000
    # notebook 01 passes the default list explicitly: still the snapshot
    named = prepare_data("docstrings", data_dir=tmp_path, name="explicit", packages=list(DEFAULT_PACKAGES), test_queries=20, seed=2)
    assert named.source.startswith("docstring snapshot") and len(named.test_qrels) == 20
    # another package list builds from the installed sources
    with pytest.raises(AssertionError, match="parsed installed sources"):
        prepare_data("docstrings", data_dir=tmp_path, name="stdlib-only", packages=[])


def test_a_written_snapshot_reads_back_its_records(tmp_path, monkeypatch):
    sources = [("stdlib", STDLIB / "json", source_files(STDLIB / "json", "stdlib.json"))]
    monkeypatch.setattr(docstrings, "docstring_sources", lambda packages: sources)
    path = tmp_path / "mine.jsonl.xz"
    manifest = write_docstring_snapshot(path, workers=1)
    records = docstrings.docstring_records(workers=1, sources=sources)
    assert records and manifest["pairs"] == len(records) and manifest["default_split"] is None
    assert json.loads(manifest_path(path).read_text()) == manifest
    assert read_docstring_snapshot(path, sha256=manifest["sha256"]) == records
    assert {"NOTICE.md", "THIRD_PARTY_LICENSES.txt"} <= {p.name for p in tmp_path.iterdir()}
    with pytest.raises(ValueError, match="mine.jsonl.xz"):  # not the pinned content
        read_docstring_snapshot(path)
