"""Keep freed CPU memory for reuse instead of handing it back to the operating system.

A CPU training step allocates and frees tens of activation tensors of 1 to 30 MB. With
glibc's defaults each of them comes from a fresh `mmap` (or from heap the allocator has just
trimmed), so every page is faulted in and zeroed again, step after step: 35,000-55,000 page
faults per L4_H256 step on the development machine, about 6% of the step. Raising glibc's
mmap threshold to its maximum (32 MB on 64-bit) and its trim threshold to 1 GiB keeps those
blocks in the heap, where the next step reuses them: under 1,000 faults per step. The peak
memory is unchanged; the process just keeps what it used until it exits.

This is what the PyTorch CPU tuning guides get by preloading jemalloc or tcmalloc, done in
process with `mallopt`, so it needs nothing installed. It changes no result. Where the C
library has no `mallopt` (macOS, musl) it does nothing.

It is a setting of the whole process, so neither importing drscale nor training applies it:
a sweep's pool workers, processes that only train, apply it when they start, and anyone
training in their own process applies it by calling `drscale.train.keep_freed_memory()`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3
"""glibc's `mallopt` parameter numbers (malloc.h)."""

SETTINGS = ((M_MMAP_THRESHOLD, 32 * 2**20), (M_TRIM_THRESHOLD, 2**30), (M_TOP_PAD, 64 * 2**20))
"""Blocks up to 32 MB (glibc's ceiling) from the heap; keep up to 1 GiB of freed heap; grow
the heap 64 MB at a time."""


@functools.cache
def keep_freed_memory() -> bool:
    """Apply `SETTINGS` to this process's allocator, once; True where the C library took them."""
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):
        mallopt = None
    if mallopt is None:
        return False
    return all(mallopt(parameter, value) == 1 for parameter, value in SETTINGS)
