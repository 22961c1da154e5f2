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


# ------------------------------------------------------------------ staging folders


def dead_pid() -> int:
    """The id of a process that has exited."""
    import subprocess
    import sys

    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    return int(child.stdout)


def test_a_new_staging_folder_removes_only_what_dead_writers_of_that_folder_left(tmp_path):
    dead = dead_pid()
    leftovers = {
        f".tmp-run-pid{dead}-a1b2c3": False,  # a killed save of run: removed
        f".old-run-.tmp-run-pid{dead}-d4e5f6": False,  # the old version a killed replacement moved aside: removed
        f".tmp-run-pid{os.getpid()}-g7h8i9": True,  # a save in progress (this process): kept
        f".tmp-run-2-pid{dead}-j1k2l3": True,  # another folder's (run-2): kept
        ".tmp-run-m4n5o6": True,  # written before staging names held a process id: kept
    }
    for name in [*leftovers, "run"]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "weights").write_text("x")
    staging = files.staging_folder(tmp_path / "run")
    assert staging.parent == tmp_path and staging.name.startswith(f".tmp-run-pid{os.getpid()}-") and not any(staging.iterdir())
    assert {p.name for p in tmp_path.iterdir()} == {name for name, kept in leftovers.items() if kept} | {staging.name, "run"}


def test_a_scratch_folder_removes_what_killed_processes_left_and_itself_on_exit(tmp_path, monkeypatch):
    monkeypatch.setattr(files.tempfile, "tempdir", str(tmp_path))
    dead = dead_pid()
    leftovers = {
        f"drscale-pool-pid{dead}-a1b2c3": False,  # a killed sweep's: removed
        f"drscale-pool-pid{os.getpid()}-d4e5f6": True,  # a live process's: kept
        "drscale-pool-g7h8i9": True,  # written before the names held a process id: kept
        f"other-pid{dead}-j1k2l3": True,  # another prefix: kept
    }
    for name in leftovers:
        (tmp_path / name).mkdir()
        (tmp_path / name / "shared.pickle").write_bytes(b"x")
    with files.scratch_folder("drscale-pool") as folder:
        assert folder.parent == tmp_path and folder.name.startswith(f"drscale-pool-pid{os.getpid()}-")
        (folder / "shared.pickle").write_bytes(b"x")
    assert {p.name for p in tmp_path.iterdir()} == {name for name, kept in leftovers.items() if kept}


def test_a_replacement_killed_between_its_renames_gets_the_old_version_back(tmp_path):
    dead = dead_pid()
    moved_aside, half_staged = tmp_path / f".old-run-.tmp-run-pid{dead}-a1b2c3", tmp_path / f".tmp-run-pid{dead}-a1b2c3"
    for folder, weights in ((moved_aside, "complete"), (half_staged, "half")):
        folder.mkdir()
        (folder / "weights").write_text(weights)
    staging = files.staging_folder(tmp_path / "run")
    assert (tmp_path / "run" / "weights").read_text() == "complete"
    assert {p.name for p in tmp_path.iterdir()} == {"run", staging.name}


@pytest.mark.slow
def test_a_save_after_a_killed_save_leaves_no_staging_folder(tmp_path):
    import signal
    import subprocess
    import sys

    killed = subprocess.run([sys.executable, "-c", (
        "import os, signal, sys; from drscale.common.files import staging_folder; "
        "(staging_folder(sys.argv[1]) / 'model.safetensors').write_bytes(b'half'); os.kill(os.getpid(), signal.SIGKILL)"
    ), str(tmp_path / "run")])
    assert killed.returncode == -signal.SIGKILL
    assert [p.name.startswith(".tmp-run-pid") for p in tmp_path.iterdir()] == [True]
    staging = files.staging_folder(tmp_path / "run")
    staging.rename(tmp_path / "run")
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_a_published_folder_gets_the_permissions_of_plain_writes(tmp_path):
    old_mask = os.umask(0o022)
    try:
        staging = files.staging_folder(tmp_path / "run")
        (staging / "sub").mkdir(mode=0o700)
        (staging / "sub" / "model.safetensors").write_bytes(b"w")
        (staging / "sub" / "model.safetensors").chmod(0o600)  # as safetensors leaves it
        files.plain_permissions(staging)
    finally:
        os.umask(old_mask)
    modes = {p.relative_to(staging).as_posix(): p.stat().st_mode & 0o777 for p in [staging, *staging.rglob("*")]}
    assert modes == {".": 0o755, "sub": 0o755, "sub/model.safetensors": 0o644}


def test_a_half_deleted_old_copy_is_never_put_back(tmp_path):
    dead = dead_pid()
    half_deleted = tmp_path / f".del.old-run-.tmp-run-pid{dead}-a1b2c3"
    half_deleted.mkdir()
    (half_deleted / "weights").write_text("half")
    files.recover(tmp_path / "run")
    assert not any(tmp_path.iterdir())


def test_prepared_data_killed_mid_replace_loads_its_old_version(tmp_path, small_data):
    from drscale.data.corpus import RetrievalData

    folder = small_data.save(tmp_path / "small")
    dead = dead_pid()
    folder.rename(tmp_path / f".old-small-.tmp-small-pid{dead}-a1b2c3")  # as a replacement killed between its renames
    assert RetrievalData.load(folder).fingerprint() == small_data.fingerprint()
    assert [p.name for p in tmp_path.iterdir()] == ["small"]


def test_publish_replaces_a_folder_whole_and_leaves_nothing_beside_it(tmp_path):
    for version in ("old", "new"):
        staging = files.staging_folder(tmp_path / "run")
        (staging / "weights").write_text(version)
        files.publish(staging, tmp_path / "run")
    assert (tmp_path / "run" / "weights").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["run"]
