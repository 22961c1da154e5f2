"""Exact top-k retrieval: drscale's blocked search against the full score matrix, speed and peak memory.

Baseline: `torch.topk(Q @ P.T, k)`, which materialises every query-passage score at once.
Ours: `drscale.measure.ranking.retrieve`, which scores `--block-size` passages at a time and merges a
running top-k; and, when FAISS is installed, the same call with `backend="faiss"` (its time
and memory include building the `IndexFlatIP`, a copy of the passages).

Each variant runs in a fresh subprocess on the same seeded random embeddings, so one
variant's memory cannot hide another's. Peak memory is the kernel's resident-set high-water
mark (VmHWM) minus the resident set just before the timed calls, with the mark reset there
through /proc/self/clear_refs (Linux): it counts every allocation, including those of torch,
BLAS and FAISS, which tracemalloc cannot see. Where the mark cannot be reset, the difference
of getrusage's ru_maxrss is used instead (a lower bound if setup peaked higher), and the
table says which. Speed is the best of `--repeats` timed calls, after one warm-up call on a
few queries. Prints timings; asserts nothing (timings depend on the machine and its load).

    python benchmarks/bench_retrieval.py [--passages 100000] [--queries 1000] [--k 1000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from _measure import PeakMemory
from drscale.measure.ranking import faiss_available, retrieve

VARIANTS = {
    "full": "baseline: torch.topk(Q @ P.T)",
    "blocked": "drscale blocked retrieve",
    "faiss": "drscale retrieve, backend faiss",
}


def measure(variant: str, args: argparse.Namespace, rows_path: Path) -> dict:
    """Run one variant in this process; return qps and peak extra memory, save its top-k rows."""
    generator = torch.Generator().manual_seed(0)
    passages = torch.randn(args.passages, args.dim, generator=generator)
    queries = torch.randn(args.queries, args.dim, generator=generator)
    if variant == "full":
        def search(q: torch.Tensor) -> torch.Tensor:
            return torch.topk(q @ passages.T, args.k, dim=1).indices
    else:
        backend = "faiss" if variant == "faiss" else "torch"

        def search(q: torch.Tensor) -> torch.Tensor:
            return retrieve(q, passages, args.k, block_size=args.block_size, backend=backend)[1]

    search(queries[:16])  # warm-up: thread pools, BLAS buffers, FAISS import
    times = []
    with PeakMemory() as peak:
        for _ in range(args.repeats):
            start = time.perf_counter()
            rows = search(queries)
            times.append(time.perf_counter() - start)
    np.save(rows_path, rows.numpy())
    return {"qps": args.queries / min(times), "seconds": min(times), "peak_mib": peak.mib, "method": peak.method}


def run_variant(variant: str, args: argparse.Namespace, folder: Path) -> dict:
    """`measure` in a fresh interpreter, so each variant starts from the same empty heap."""
    command = [sys.executable, __file__, "--variant", variant, "--rows", str(folder / f"{variant}.npy")]
    for name in ("passages", "queries", "dim", "k", "block_size", "repeats"):
        command += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def agreement(rows: np.ndarray, reference: np.ndarray) -> str:
    """Share of the baseline's top-k passages found, and share of ranks with the same passage."""
    found = np.mean([len(np.intersect1d(a, b)) / len(b) for a, b in zip(rows, reference)])
    return f"{found:.2%} same passages, {np.mean(rows == reference):.2%} same rank"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--k", type=int, default=1000)
    parser.add_argument("--block-size", type=int, default=16384)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--variant", choices=sorted(VARIANTS), help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(measure(args.variant, args, args.rows)))
        return

    variants = ["full", "blocked"] + (["faiss"] if faiss_available() else [])
    with tempfile.TemporaryDirectory(prefix="drscale-bench-") as folder:
        results = {v: run_variant(v, args, Path(folder)) for v in variants}
        rows = {v: np.load(Path(folder) / f"{v}.npy") for v in variants}

    full_mib = args.queries * args.passages * 4 / 2**20
    print(f"exact top-{args.k} retrieval: {args.queries:,} queries x {args.passages:,} passages, dim {args.dim}, "
          f"float32, torch threads {torch.get_num_threads()}, block size {args.block_size:,}")
    print(f"{'variant':<36}{'queries/s':>10}{'seconds':>9}{'peak MiB':>10}  top-k vs baseline")
    for variant in variants:
        r = results[variant]
        versus = "(reference)" if variant == "full" else agreement(rows[variant], rows["full"])
        print(f"{VARIANTS[variant]:<36}{r['qps']:>10.0f}{r['seconds']:>9.2f}{r['peak_mib']:>10.0f}  {versus}")
    full, blocked = results["full"], results["blocked"]
    print(f"ratio blocked / baseline: speed x{blocked['qps'] / full['qps']:.2f}, "
          f"peak memory x{blocked['peak_mib'] / full['peak_mib']:.2f}")
    print(f"the full score matrix alone is {full_mib:,.0f} MiB; the blocked search's score buffer is "
          f"{args.queries * (args.block_size + args.k) * 4 / 2**20:,.0f} MiB")
    methods = {r["method"] for r in results.values()}
    print("peak MiB: resident-set high-water mark above the resident set before the timed calls, one fresh "
          f"process per variant ({', '.join(sorted(methods))}); counts torch, BLAS and FAISS allocations")


if __name__ == "__main__":
    main()
