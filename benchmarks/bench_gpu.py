"""GPU throughput: the paper preset's training step for the 24 miniatures, and CE and top-1000 retrieval at the release's scale.

Run where CUDA is present (it prints one skip line and exits 0 elsewhere; `--tiny` runs tiny
shapes on the CPU instead, a smoke test of every code path). Token data is synthetic: random
ids with every query 32 tokens and every passage 180 (the preset's maxima), so each step has
the largest shapes the preset allows and a real data set, padded per batch, runs no slower.

- Training: for each of `drscale.model.encoder.PAPER_MINIATURES`, `drscale.train.loop.train` with
  `PAPER_PRESET` (128 pairs, 256 shared negatives: 128 x 32 query tokens and 384 x 180
  passage tokens a step; without its dev-CE measurements, `eval_points=0`, which are an
  evaluation cost) in float32 and bfloat16 autocast; warm-up steps, then the mean of the
  timed steps, over a window that starts after a loss read and ends with one (`train` reads
  the loss every `LOSS_READ_EVERY` steps, and only a read waits for the device, so only such
  a window holds all of its steps' device work). Steps/s, pairs/s, peak device memory
  (`torch.cuda.max_memory_allocated`), and achieved FLOP/s: one step's floating-point
  operations counted by `torch.utils.flop_counter.FlopCounterMode` over the mean step
  time, as a fraction of the card's dense bf16 peak from its datasheet
  (`_gpu.device.BF16_DENSE_PEAKS`: 989.4 TFLOP/s for an H200 or H100 SXM, half the 1,979
  "with sparsity" the datasheets give), or of the measured bf16 matmul rate for a card the
  table does not know. The matmul rates this card reaches are measured too (8192^3 products).
  The baseline, side by side in bfloat16: the same `train` reading the loss every step
  (`loss_read_every=1`), which waits for every step, as the loop did before. Three
  diagnostics, in bfloat16: the synchronisations torch reports in `train`'s steps
  (`torch.cuda.set_sync_debug_mode`; transformers' check of the padding mask is one per
  forward, see the README); a "device-bound" loop, the same step (encode, loss,
  backward, clip, fused AdamW) on batches already on the device and without reading the
  loss, whose gap to `train` is the host's share; and the host's own per-step work (draw
  negatives, pad, copy) timed alone. A few sizes also run float32 with TF32 matmuls.
- Runs at once: small models leave the GPU idle while the host launches kernels, so a
  sweep might run several of them side by side. For `--concurrent` sizes (L2_H128), 1, 2 and 4
  processes each train the same bf16 run at the same time on the one GPU; the steps all of
  them finish per second, against one process's. Without MPS the processes' kernels take
  turns on the GPU rather than overlap, so this measures how much idle time the others fill.
- Contrastive entropy: 7,437 pairs against a 1,000,000-passage pool of 768-d float32
  embeddings, 256 negatives x 10 repeats, on the GPU: `drscale.measure.entropy.contrastive_entropy`
  given CUDA tensors, and `device_contrastive_entropy` below (the same draws scored on the
  device); each checked against the library on the CPU copies within 1e-4, at full scale and
  on smaller cases (both of the library's routes).
- Retrieval: exact top-1000 inner-product search of 7,437 queries over the 1M passages on the
  GPU, by `drscale.measure.ranking.retrieve` and by plain `torch.topk` over query chunks, timed, with
  their agreement.
- The full paper study: the model-size sweep (24 models on the full data) plus the data-size
  sweep (24 models x the data sizes of notebooks/03_data_size_sweep.ipynb), 10,000 steps a
  run, at the measured step times and the GPU price of `drscale.budget.cost.Hardware`.

The measurements live in `benchmarks/_gpu/`, one module each; this script runs them in order,
keeping going past a failed section. Prints tables; writes every number as JSON to `--out`
(`-`: stdout). Asserts nothing beyond the 1e-4 CE checks, which it reports rather than raises.

    python benchmarks/bench_gpu.py [--out results.json] [--sizes L2_H128 ...] [--skip-ce] [--skip-retrieval]
    python benchmarks/bench_gpu.py --tiny            # CPU smoke test on tiny shapes
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from _gpu.concurrent import concurrent_runs, print_concurrent
from _gpu.device import ceilings, free_memory, print_ceilings, reference_peak
from _gpu.evaluation import TINY_CE, CEScale, measure_ce, measure_retrieval, print_ce, print_retrieval
from _gpu.study import full_study, print_study
from _gpu.training import (TF32_SIZES, host_step_seconds, measure_size, print_training, synthetic_tokens,
                           training_only)
from drscale.model.encoder import MODEL_SIZES, PAPER_MINIATURES
from drscale.train.config import PAPER_PRESET
from drscale.train.loop import LOSS_READ_EVERY


def guarded(results: dict, key: str, call) -> object:
    """Run one section; on an error keep its traceback under results["errors"] and carry on."""
    try:
        return call()
    except Exception as error:
        results.setdefault("errors", {})[key] = traceback.format_exc()
        print(f"{key}: FAILED {type(error).__name__}: {error}", file=sys.stderr, flush=True)
        return None


def evaluation(results: dict, settings: Settings, device: torch.device) -> None:
    """CE at `settings.ce`'s scale, then retrieval over the same embeddings, into `results`.
    A function of its own so that the pool (3 GB at the release's scale) is dropped on return."""
    measured = guarded(results, "ce", lambda: measure_ce(settings.ce, device))
    if not measured:
        return
    results["ce"], (queries, pool) = measured
    print_ce(results["ce"])
    if not settings.skip_retrieval:
        results["retrieval"] = guarded(results, "retrieval",
                                       lambda: measure_retrieval(queries, pool, settings.k, settings.chunk, device))
        if results["retrieval"]:
            print_retrieval(results["retrieval"])


CE_OPTIONS = ("pairs", "pool", "dim", "negatives", "repeats")
"""`CEScale` fields the command line sets, each an option of its own name."""


@dataclass(frozen=True)
class Settings:
    """What one run of the script measures, read from the command line (`--tiny` shrinks
    every shape so the CPU runs each code path in seconds)."""

    tiny: bool
    sizes: tuple[str, ...]
    steps: tuple[int, int] | None  # (warm-up, timed) steps per run; None: by size, see `schedule`
    profile: tuple[str, ...]
    concurrent: tuple[str, ...]
    ce: CEScale
    k: int
    chunk: int  # queries a torch.topk call scores at once
    matmul_n: int  # side of the square products that measure the card's matmul rates
    skip_ce: bool
    skip_retrieval: bool
    out: str


def read_settings(argv: list[str] | None = None) -> Settings:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny shapes on the CPU: a smoke test of every code path")
    parser.add_argument("--sizes", nargs="+", default=None,
                        help="sizes to train (default: the 24 miniatures; another drscale size needs --steps)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per run (default: by size, see schedule)")
    parser.add_argument("--warmup", type=int, default=LOSS_READ_EVERY, help="warm-up steps per run, with --steps")
    parser.add_argument("--profile", nargs="*", default=["L2_H128", "L6_H512", "L12_H768"], help="sizes to profile (bf16)")
    parser.add_argument("--concurrent", nargs="*", default=["L2_H128"],
                        help="sizes to train in 1, 2 and 4 processes at once (bf16)")
    for name in CE_OPTIONS:
        parser.add_argument(f"--{name}", type=int, default=None, help=f"CE {name} (default: the release's, "
                            f"{getattr(CEScale(), name):,}; with --tiny {getattr(TINY_CE, name):,})")
    parser.add_argument("--k", type=int, default=None, help="retrieval depth (default 1000; with --tiny 50)")
    parser.add_argument("--skip-ce", action="store_true", help="skip contrastive entropy (and retrieval, which reuses its pool)")
    parser.add_argument("--skip-retrieval", action="store_true")
    parser.add_argument("--out", default="-", help="JSON of every number: a path (rewritten after each section), or - for stdout")
    args = parser.parse_args(argv)
    for option in ("sizes", "profile", "concurrent"):
        unknown = [size for size in getattr(args, option) or () if size not in MODEL_SIZES]
        if unknown:
            parser.error(f"--{option}: {', '.join(unknown)} not a drscale size ({', '.join(MODEL_SIZES)})")
    unscheduled = [size for size in args.sizes or () if size not in PAPER_MINIATURES]
    if unscheduled and not args.steps and not args.tiny:
        parser.error(f"--sizes: {', '.join(unscheduled)} not among the miniatures, whose step counts are scheduled; "
                     f"give --steps for them")
    scale = TINY_CE if args.tiny else CEScale()
    given = {name: getattr(args, name) for name in CE_OPTIONS}
    steps = (args.warmup, args.steps) if args.steps else ((LOSS_READ_EVERY, LOSS_READ_EVERY) if args.tiny else None)
    return Settings(tiny=args.tiny, sizes=tuple(args.sizes or (["L2_H128"] if args.tiny else PAPER_MINIATURES)),
                    steps=steps, profile=() if args.tiny else tuple(args.profile),
                    concurrent=tuple(args.concurrent[:1] if args.tiny else args.concurrent),
                    ce=replace(scale, **{name: value for name, value in given.items() if value is not None}),
                    k=args.k if args.k is not None else (50 if args.tiny else 1000), chunk=64 if args.tiny else 1024,
                    matmul_n=256 if args.tiny else 8192, skip_ce=args.skip_ce, skip_retrieval=args.skip_retrieval,
                    out=args.out)


def main(argv: list[str] | None = None) -> None:
    settings = read_settings(argv)
    if not torch.cuda.is_available() and not settings.tiny:
        print(f"bench_gpu: skipped: CUDA is not available (torch {torch.__version__}); --tiny runs tiny shapes on the CPU")
        return
    device = torch.device("cpu" if settings.tiny else "cuda")
    base = training_only(PAPER_PRESET)
    if settings.tiny:
        base = replace(base, batch_size=8, negatives=16, query_max_length=8, passage_max_length=16)
    started = time.perf_counter()
    name = torch.cuda.get_device_name() if device.type == "cuda" else "cpu (--tiny)"
    results: dict = {"device": name, "torch": torch.__version__, "tiny": settings.tiny,
                     "preset": {k: getattr(base, k) for k in ("batch_size", "negatives", "query_max_length", "passage_max_length",
                                                               "learning_rate")}}

    def save() -> None:
        results["script_s"] = time.perf_counter() - started
        if settings.out != "-":
            Path(settings.out).write_text(json.dumps(results, indent=1, default=float))

    results["measured"] = guarded(results, "measured", lambda: ceilings(device, settings.matmul_n))
    if results["measured"]:
        print_ceilings(results["measured"])
    measured_bf16 = (results["measured"] or {}).get("bf16_matmul_flops")
    peak, results["peak_source"] = (guarded(results, "peak", lambda: reference_peak(name, measured_bf16))
                                    or (float("nan"), "none: no datasheet peak and no measured matmul rate"))
    results["peak_bf16_dense_flops"] = peak
    print(f"device {name}, torch {torch.__version__}; peak used: dense bf16 {peak / 1e12:.1f} TFLOP/s "
          f"({results['peak_source']})", flush=True)
    save()

    # contrastive entropy and retrieval first: short, and they hold the library's device bugs
    if not settings.skip_ce:
        evaluation(results, settings, device)
        free_memory(device)  # the pool's 3 GB, before training measures its peak memory
        save()

    tokens, pairs = synthetic_tokens(4096, base.query_max_length, base.passage_max_length)
    print(f"training step: {base.batch_size} pairs, {base.negatives} shared negatives, query/passage "
          f"{base.query_max_length}/{base.passage_max_length} tokens (all full length), synthetic ids; "
          f"mean step after warm-up, between loss reads every {LOSS_READ_EVERY} steps", flush=True)
    results["host_step_s"] = host_step_seconds(tokens, pairs, replace(base, steps=20), device)
    records: list[dict] = []
    results["training"] = records
    for size in settings.sizes:
        record = guarded(results, f"training {size}", lambda: measure_size(  # noqa: B023
            size, tokens, pairs, base, device, peak, settings.steps, profile=size in settings.profile,  # noqa: B023
            tf32=size in TF32_SIZES and not settings.tiny))  # noqa: B023
        if record:
            records.append(record)
            print(f"  {size}: fp32 {record['float32']['steps_per_s']:.2f} st/s, bf16 {record['bfloat16']['steps_per_s']:.2f} "
                  f"st/s, bf16 device-bound {1 / record['bf16_device_bound_step_s']:.2f} ({record['seconds']:.1f} s, "
                  f"script {time.perf_counter() - started:.0f} s)", flush=True)
        save()
    results["concurrent"] = []
    for size in settings.concurrent:
        processes = (1, 2) if settings.tiny else (1, 2, 4)
        runs = guarded(results, f"concurrent {size}",
                       lambda: concurrent_runs(size, replace(base, precision="bfloat16"), device, processes))  # noqa: B023
        if runs:
            results["concurrent"].append(runs)
            print_concurrent([runs])
        save()
    if settings.tiny or {r["size"] for r in records} == set(PAPER_MINIATURES):
        # with --tiny this exercises the arithmetic only: tiny steps say nothing about the study
        results["study"] = guarded(results, "study", lambda: full_study(records))
    save()

    if settings.out == "-":
        print(json.dumps(results, indent=1, default=float))
    print()
    if records:
        print_training(records, results["host_step_s"], base)
    if results["concurrent"]:
        print_concurrent(results["concurrent"])
    if results.get("ce"):
        print_ce(results["ce"])
    if results.get("retrieval"):
        print_retrieval(results["retrieval"])
    if results.get("study"):
        print_study(results["study"])
    print(f"script {results['script_s']:.0f} s; errors: {sorted(results.get('errors', {})) or 'none'}")
    if results.get("ce", {}).get("library_traceback"):
        print("drscale.measure.entropy.contrastive_entropy on device tensors failed; first traceback:", file=sys.stderr)
        print(results["ce"]["library_traceback"], file=sys.stderr)


if __name__ == "__main__":
    main()
