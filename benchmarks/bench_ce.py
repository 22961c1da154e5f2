"""Contrastive entropy: drscale against the release's per-pair loop and the memory-traffic bound.

The workload is the paper's: 7,437 test pairs, 256 random negatives, 10 repeats, on
precomputed 768-d float32 embeddings. Two pools are measured: the release's 1,000,000
passages (3 GB, far larger than any cache: the "sampled" route) and the demo's 4,096 (12 MB:
it stays in cache, the "scores" route).

- Baseline, in the same process on the same embeddings and the same drawn negatives: the
  release's loop, one pair and one repeat at a time (gather 256 rows, score, log-sum-exp).
  It is timed on `--loop-pairs` pairs and scaled to all pairs, which the table says.
- Bound: the bytes the per-draw computation must read (pairs x repeats x (negatives + 1)
  x dim x 4) divided by this machine's measured copy bandwidth (`_measure.copy_bandwidth`):
  a computation that reads each drawn embedding from memory cannot beat it. Both drscale
  routes go under it by not doing so: the sampled route reads each pool row about once per
  chunk of draws and the queries from cache; a pool that fits in cache is scored whole.
- The reduced-precision pool (`pool_dtype=torch.bfloat16`) is reported with its error.

Prints a table and ratio lines; asserts nothing (timings depend on the machine and its load)
except that drscale equals the loop to 1e-5 on the pairs the loop ran.

    python benchmarks/bench_ce.py [--pairs 7437] [--pools 1000000 4096] [--loop-pairs 250]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from _measure import copy_bandwidth
from drscale.measure.entropy import cheaper_route, contrastive_entropy, sample_negative_rows


def embeddings(pairs: int, pool: int, dim: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Queries, their positives (query plus noise, so CE lies in a realistic range) and a pool."""
    generator = torch.Generator().manual_seed(seed)
    scale = dim**-0.5  # unit-length vectors: a positive scores about 1, a negative about 0 +- 0.04
    queries = torch.randn(pairs, dim, generator=generator) * scale
    positives = queries + torch.randn(pairs, dim, generator=generator) * scale
    return queries, positives, torch.randn(pool, dim, generator=generator) * scale


def release_loop(queries: torch.Tensor, positives: torch.Tensor, pool: torch.Tensor, rows: torch.Tensor) -> np.ndarray:
    """Per-pair CE the release's way: a Python loop over pairs and repeats."""
    values = np.empty(len(queries))
    for pair in range(len(queries)):
        positive = (queries[pair] * positives[pair]).sum()
        per_repeat = []
        for repeat in range(rows.shape[1]):
            logits = torch.cat([positive[None], pool[rows[pair, repeat]] @ queries[pair]]).double()
            per_repeat.append(float(torch.logsumexp(logits, 0) - logits[0]))
        values[pair] = np.mean(per_repeat)
    return values


def timed(call):
    start = time.perf_counter()
    result = call()
    return result, time.perf_counter() - start


def best_of_two(call):
    """The result and the faster of two timed calls: the first pass over a freshly written
    multi-GB pool can run several times slower while the machine maps its memory."""
    (result, first), (_, second) = timed(call), timed(call)
    return result, min(first, second)


def regime(args: argparse.Namespace, pool_size: int, bandwidth: float) -> list[dict]:
    queries, positives, pool = embeddings(args.pairs, pool_size, args.dim)
    config = dict(negatives=args.negatives, repeats=args.repeats, seed=1)
    contrastive_entropy(queries[:50], positives[:50], pool, **config)  # warm-up
    ours, ours_s = best_of_two(lambda: contrastive_entropy(queries, positives, pool, per_pair=True, **config))
    rows = sample_negative_rows(args.pairs, args.repeats, args.negatives, pool_size, seed=1)
    subset = min(args.loop_pairs, args.pairs)
    loop, loop_s = timed(lambda: release_loop(queries[:subset], positives[:subset], pool, rows[:subset]))
    loop_s *= args.pairs / subset
    difference = float(np.max(np.abs(ours[:subset].numpy() - loop)))
    if difference > 1e-5:
        raise AssertionError(f"drscale and the loop differ by {difference:.2e} on pool {pool_size}")
    pool_bf16 = pool.bfloat16()
    reduced, reduced_s = best_of_two(
        lambda: contrastive_entropy(queries, positives, pool_bf16, per_pair=True, pool_dtype=torch.bfloat16, **config)
    )
    bound_s = args.pairs * args.repeats * (args.negatives + 1) * args.dim * 4 / bandwidth
    common = {"pool": pool_size, "route": cheaper_route(pool_size, args.repeats, args.negatives), "bound_s": bound_s}
    return [
        {**common, "variant": f"release loop (x{args.pairs / subset:.1f} from {subset} pairs)", "seconds": loop_s,
         "ce": float(loop.mean()), "error": "reference"},
        {**common, "variant": "drscale", "seconds": ours_s, "ce": float(ours.mean()),
         "error": f"max {difference:.1e} on {subset} pairs"},
        {**common, "variant": "drscale, bfloat16 pool", "seconds": reduced_s, "ce": float(reduced.mean()),
         "error": f"mean CE {float(reduced.mean() - ours.mean()):+.1e}, max per pair {float((reduced - ours).abs().max()):.1e}"},
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=7437)
    parser.add_argument("--negatives", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--pools", type=int, nargs="+", default=[1_000_000, 4096])
    parser.add_argument("--loop-pairs", type=int, default=250)
    args = parser.parse_args()

    bandwidth = copy_bandwidth()
    gigabytes = args.pairs * args.repeats * (args.negatives + 1) * args.dim * 4 / 1e9
    print(f"contrastive entropy: {args.pairs:,} pairs x {args.negatives} negatives x {args.repeats} repeats, dim "
          f"{args.dim}, float32, torch threads {torch.get_num_threads()}")
    print(f"memory-traffic bound: {gigabytes:.1f} GB to read / {bandwidth / 1e9:.2f} GB/s measured copy bandwidth")
    print(f"{'pool':>10} {'route':<7} {'variant':<42}{'seconds':>9}{'x bound':>9}{'mean CE':>10}  error")
    summaries = []
    for pool_size in args.pools:
        results = regime(args, pool_size, bandwidth)
        for r in results:
            print(f"{r['pool']:>10,} {r['route']:<7} {r['variant']:<42}{r['seconds']:>9.2f}"
                  f"{r['seconds'] / r['bound_s']:>9.2f}{r['ce']:>10.4f}  {r['error']}")
        loop, ours, reduced = results
        summaries.append(
            f"ratio pool {pool_size:,}: drscale x{loop['seconds'] / ours['seconds']:.1f} faster than the loop, "
            f"{ours['seconds'] / ours['bound_s']:.2f}x the memory-traffic bound "
            f"(bfloat16 pool {reduced['seconds'] / reduced['bound_s']:.2f}x)"
        )
    print("\n".join(summaries))


if __name__ == "__main__":
    main()
