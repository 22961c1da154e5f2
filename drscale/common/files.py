"""Files and keys: whole-file and whole-folder writes that a crash cannot leave half done, and
stable config hashes."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write `text` (UTF-8) to `path` as `write_bytes_atomic` does."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` through a temporary file in the same folder, then rename it.

    A reader sees the old file or the new one, never a torn one: the rename is atomic on
    POSIX and Windows, and the data is flushed to disk before it. The folder is created. The
    file gets the permissions a plain `open(path, "w")` would give it (the staged file is
    private to its writer until the rename publishes it).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fchmod(out.fileno(), 0o666 & ~_umask())
            os.fsync(out.fileno())
        os.replace(staging, path)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise
    return path


def staging_folder(folder: str | os.PathLike) -> Path:
    """A new, empty folder beside `folder` in which its next version is written before
    `publish` renames it into place (the parent is created).

    Its name, `.tmp-<name>-pid<id>-<random>`, holds the writing process's id. A process that
    is killed outright (SIGKILL, out of memory) cannot clean up after itself, so each new save
    of `folder` first settles what dead writers left (`recover`); a live writer's staging is
    left alone. Such leftovers are never loaded in the meantime.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    recover(folder)
    return Path(tempfile.mkdtemp(prefix=f".tmp-{folder.name}-pid{os.getpid()}-", dir=folder.parent))


def publish(staging: Path, folder: Path) -> None:
    """Make the complete folder `staging` (from `staging_folder`) into `folder`, replacing an
    old version whole: the old one moves aside as `.old-<staging name>`, the new one is
    renamed in, and the old one is renamed `.del-...` before it is deleted. A kill at any point
    leaves a complete version under `folder`, or none there and the complete old one aside,
    which `recover` puts back; a half-deleted copy is only ever named `.del-`."""
    retired = folder.parent / f".old-{folder.name}-{staging.name}" if folder.exists() else None
    if retired is not None:
        os.replace(folder, retired)
    try:
        os.replace(staging, folder)
    except BaseException:
        if retired is not None:
            os.replace(retired, folder)
        raise
    if retired is not None:
        doomed = retired.with_name(f".del{retired.name}")
        os.replace(retired, doomed)
        shutil.rmtree(doomed)


def recover(folder: str | os.PathLike) -> None:
    """Settle what writers of `folder` that are no longer running left beside it: the old
    version a replacement moved aside is put back where `folder` is missing (the staged new one
    may be incomplete) and removed otherwise; staging folders and half-deleted copies are
    removed. Other folders' leftovers (`run-2` beside `run`), a live writer's and names without
    a process id are left alone. Loaders call it too, so a kill mid-replace costs no reload."""
    folder = Path(folder)
    if not folder.parent.is_dir():
        return
    name = re.escape(folder.name)
    for entry in sorted(folder.parent.iterdir()):
        writer = re.fullmatch(rf"(\.del)?(\.old-{name}-)?\.tmp-{name}-pid(\d+)-[^-]+", entry.name)
        if writer is None or _running(int(writer.group(3))):
            continue
        if writer.group(2) and not writer.group(1) and not folder.exists():
            os.replace(entry, folder)
        else:
            shutil.rmtree(entry, ignore_errors=True)


@contextlib.contextmanager
def scratch_folder(prefix: str) -> Iterator[Path]:
    """A temporary folder, removed on exit, whose name `<prefix>-pid<id>-<random>` holds this
    process's id, so that the next one removes what a process killed outright could not (as
    `recover` does for staging folders); a live process's folder is left alone."""
    base = Path(tempfile.gettempdir())
    for entry in base.glob(f"{prefix}-pid*-*"):
        writer = re.fullmatch(rf"{re.escape(prefix)}-pid(\d+)-[^-]+", entry.name)
        if writer is not None and not _running(int(writer.group(1))):
            shutil.rmtree(entry, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix=f"{prefix}-pid{os.getpid()}-", dir=base) as folder:
        yield Path(folder)


def plain_permissions(folder: Path) -> None:
    """Give a staged folder and everything in it the permissions a plain mkdir and open(path,
    "w") would (mkdtemp makes 0700, and some writers, safetensors among them, 0600 files), so
    that a colleague on a shared file system can read what is published by a rename."""
    mask = _umask()
    folder.chmod(0o777 & ~mask)
    for path in folder.rglob("*"):
        path.chmod((0o777 if path.is_dir() else 0o666) & ~mask)


def _running(pid: int) -> bool:
    """Whether process `pid` exists (one of another user counts: it may be writing)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _umask() -> int:
    """The process's file-creation mask (read by setting it, then putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def config_hash(config: Mapping[str, Any]) -> str:
    """Stable 16-hex-digit key of a run configuration (order of keys does not matter)."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]
