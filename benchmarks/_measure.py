"""Measurements the benchmarks share: this machine's ceilings, peak memory, best-of timings.

The ceilings are measured, not looked up: the fp32 (and bf16) matmul rate a large square
product reaches with this process's threads, and the rate at which a large copy reads
memory. A benchmark states its result as a fraction of them, so a table from another
machine reads the same way.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from pathlib import Path

import torch


def best_time(call: Callable[[], object], repeats: int = 3) -> float:
    """Seconds of the fastest of `repeats` calls (after one untimed warm-up call)."""
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


def matmul_peak_flops(dtype: torch.dtype = torch.float32, n: int = 2048, repeats: int = 5) -> float:
    """FLOP/s of an n x n by n x n product in `dtype` with this process's torch threads."""
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=generator).to(dtype)
    b = torch.randn(n, n, generator=generator).to(dtype)
    return 2 * n**3 / best_time(lambda: a @ b, repeats)


def bf16_matmul_supported() -> bool:
    """Whether this CPU multiplies bfloat16 natively (AVX-512 BF16 or AMX); otherwise
    bfloat16 is emulated and slower than float32, so benchmarks report it as unsupported."""
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    return any(flag in flags for flag in ("avx512_bf16", "amx_bf16"))


def copy_bandwidth(megabytes: int = 1024, repeats: int = 3) -> float:
    """Bytes read per second by a copy of a `megabytes` buffer into another (both touched
    first, so page faults are not timed): the rate any computation that must read memory
    it cannot keep in cache is bounded by."""
    source = torch.ones(megabytes * 2**20 // 4)
    target = torch.zeros_like(source)
    return source.numel() * 4 / best_time(lambda: target.copy_(source), repeats)


def status_kib(field: str) -> int:
    """A field of /proc/self/status in KiB (VmRSS, VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


class PeakMemory:
    """Peak resident memory added by the code inside `with PeakMemory() as peak:`.

    The kernel's high-water mark (VmHWM) minus the resident set on entry, with the mark reset
    on entry through /proc/self/clear_refs (Linux): it counts every allocation, torch's and
    BLAS's included, which tracemalloc cannot see. Where the mark cannot be reset, the
    difference of getrusage's ru_maxrss is used (a lower bound if earlier work peaked
    higher); `method` says which. Run one measurement per fresh process for clean numbers.
    """

    def __enter__(self) -> PeakMemory:
        self.rss_before = status_kib("VmRSS")
        self.maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            Path("/proc/self/clear_refs").write_text("5")
            self.method = "VmHWM"
        except OSError:
            self.method = "ru_maxrss"
        return self

    def __exit__(self, *exc: object) -> None:
        if self.method == "VmHWM":
            self.mib = (status_kib("VmHWM") - self.rss_before) / 1024
        else:
            self.mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - self.maxrss_before) / 1024
