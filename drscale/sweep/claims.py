"""Claims on runs, so that sweeps started at once on one results store train each run once.

A sweep claims a run before training it by taking an exclusive POSIX record lock on one
byte of the store's claims file (`<store>.claims`), at an offset derived from the run id.
The lock is held until the run's record is in the store, so a second sweep either finds
the record or finds the claim, never neither. The operating system drops a crashed
process's locks, so a claim cannot outlive its sweep and no stale claim ever needs
clearing by hand. One file serves any number of runs (one lock per run, one open file).

POSIX record locks belong to a process: two sweeps in one process do not exclude each
other, which is why a sweep is one process and its workers never claim.
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Iterable
from pathlib import Path


class RunClaims:
    """Claims on run ids, held by this process through one open claims file."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = open(self.path, "a+b")
        self._held: set[str] = set()

    def claim(self, run_id: str) -> bool:
        """Claim `run_id` if no other process holds it; True when this process now holds it."""
        if run_id in self._held:
            return True
        try:
            fcntl.lockf(self._handle, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, _offset(run_id))
        except OSError as error:
            if error.errno in (errno.EACCES, errno.EAGAIN):  # another process holds it
                return False
            raise OSError(error.errno, f"cannot lock {self.path} to claim runs ({error.strerror}); a file system "
                                       f"without POSIX record locks cannot hold a results store shared by sweeps") from None
        self._held.add(run_id)
        return True

    def release(self, run_id: str) -> None:
        """Let other processes claim `run_id` (after its record is in the store)."""
        if run_id in self._held:
            self._held.discard(run_id)
            if all(_offset(other) != _offset(run_id) for other in self._held):  # a run sharing the byte keeps it
                fcntl.lockf(self._handle, fcntl.LOCK_UN, 1, _offset(run_id))

    def wait(self, run_ids: Iterable[str]) -> None:
        """Block until no other process holds any of `run_ids` (their sweep recorded them or ended)."""
        for run_id in run_ids:
            fcntl.lockf(self._handle, fcntl.LOCK_EX, 1, _offset(run_id))
            fcntl.lockf(self._handle, fcntl.LOCK_UN, 1, _offset(run_id))

    def close(self) -> None:
        """Release every claim and the claims file."""
        self._handle.close()  # closing drops all of this process's locks on the file
        self._held.clear()

    def __enter__(self) -> RunClaims:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _offset(run_id: str) -> int:
    """A byte offset per run id: the first 32 bits of its hash, an offset every file system's
    locks take. Two runs that share one only wait for each other, never train twice."""
    return int(run_id[:8], 16)
