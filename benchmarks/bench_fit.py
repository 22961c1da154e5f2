"""Time a one-variable fit with 1,000 bootstrap resamples against a naive bootstrap.

Ours: `fit_model_size(..., n_bootstrap=1000)`: the full fit with its checks, the resamples
refitted by the vectorised variable projection of `drscale.fit.projection`.
Baseline, run in the same process on the same data: the same bootstrap done the obvious way,
every resample refitted by the multi-start lmfit route (`drscale.fit.robust.lmfit_fit`); it is
timed on `--baseline-resamples` resamples and scaled to 1,000, which the table says.
Prints timings; asserts nothing (timings depend on the machine and its load).

    python benchmarks/bench_fit.py [--runs 24] [--baseline-resamples 10]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from drscale.fit import estimate as fit
from drscale.fit import laws
from drscale.fit.robust import lmfit_fit

RESAMPLES = 1000


def study(n_runs: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`n_runs` runs over 8 model sizes spanning 2 decades, 2% log-normal noise."""
    n = np.resize(np.geomspace(2e4, 2e6, 8), n_runs)
    clean = laws.model_size_law(n, a=5e5, alpha=0.5, delta=1.0)
    return n, clean * np.exp(np.random.default_rng(seed).normal(0, 0.02, n_runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=24)
    parser.add_argument("--baseline-resamples", type=int, default=10)
    args = parser.parse_args()
    n, ce = study(args.runs)

    start = time.perf_counter()
    result = fit.fit_model_size(n, ce, n_bootstrap=RESAMPLES, seed=0)
    ours_total = time.perf_counter() - start
    start = time.perf_counter()
    fit.fit_model_size(n, ce, n_bootstrap=RESAMPLES, seed=0, cross_check=False)
    ours_no_check = time.perf_counter() - start

    rows = np.random.default_rng(0).integers(0, n.size, size=(args.baseline_resamples, n.size))
    start = time.perf_counter()
    naive = [lmfit_fit(laws.LAWS["model_size"], {"n_params": n[i]}, ce[i])[0]["alpha"] for i in rows]
    per_resample = (time.perf_counter() - start) / args.baseline_resamples
    baseline = per_resample * RESAMPLES

    lo, hi = result.intervals()["alpha"]
    print(f"model-size law, {n.size} runs, {RESAMPLES} bootstrap resamples")
    print(f"{'variant':<58}{'seconds':>10}")
    print(f"{'ours: fit + checks + vectorised varpro bootstrap':<58}{ours_total:>10.2f}")
    print(f"{'ours: fit + extrapolation + bootstrap (no route check)':<58}{ours_no_check:>10.2f}")
    print(f"{f'baseline: multi-start lmfit per resample (x{RESAMPLES // args.baseline_resamples} of {args.baseline_resamples})':<58}"
          f"{baseline:>10.2f}")
    print(f"ratio baseline / ours: {baseline / ours_total:.0f}x (with checks), {baseline / ours_no_check:.0f}x (without)")
    print(f"alpha = {result.params['alpha']:.4f}, 95% interval [{lo:.4f}, {hi:.4f}]; "
          f"baseline resamples' alpha median {np.median(naive):.4f}")


if __name__ == "__main__":
    main()
