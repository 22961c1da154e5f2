"""Atomic whole-file writes: the old file or the new one, never half of one."""

import os

import pandas as pd
import pytest

from drscale.common import files
from drscale.common.files import write_text_atomic
from drscale.sweep.records import save_table


def test_writes_creates_the_folder_and_replaces(tmp_path):
    path = tmp_path / "deep" / "table.csv"
    assert write_text_atomic(path, "first") == path
    write_text_atomic(path, "second")
    assert path.read_text() == "second"
    assert os.listdir(path.parent) == ["table.csv"]


def interrupted_rename(*args):
    raise KeyboardInterrupt


def test_a_crash_before_the_rename_keeps_the_old_file_and_no_staging(tmp_path, monkeypatch):
    path = tmp_path / "table.csv"
    path.write_text("old")
    monkeypatch.setattr(files.os, "replace", interrupted_rename)
    with pytest.raises(KeyboardInterrupt):
        write_text_atomic(path, "new")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["table.csv"]


def test_save_table_writes_through_it(tmp_path, monkeypatch):
    table = pd.DataFrame({"model": ["L1_H8"], "ce": [5.2]})
    path = save_table(table, tmp_path, "model_size")
    pd.testing.assert_frame_equal(pd.read_csv(path), table)
    monkeypatch.setattr(files.os, "replace", interrupted_rename)
    with pytest.raises(KeyboardInterrupt):
        save_table(table.assign(ce=[9.9]), tmp_path, "model_size")
    pd.testing.assert_frame_equal(pd.read_csv(path), table)


def test_an_atomic_write_gets_the_permissions_of_a_plain_write(tmp_path):
    """The staged file is private to its writer; the published one is readable as any file `open` makes."""
    import os
    import stat

    from drscale.common.files import write_bytes_atomic

    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    atomic = write_bytes_atomic(tmp_path / "atomic.bin", b"\x00\x01")
    assert atomic.read_bytes() == b"\x00\x01"
    assert stat.S_IMODE(os.stat(atomic).st_mode) == stat.S_IMODE(os.stat(plain).st_mode)
