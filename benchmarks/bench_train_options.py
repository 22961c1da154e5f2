"""The training speed options: numpy-drawn dropout, bfloat16 autocast, torch.compile; speed and effect on CE.

Only the numpy-drawn dropout masks (`TrainConfig.fast_dropout`, `drscale.train._cpu.dropout`) are on by
default, because their CE is within run-to-run noise of torch's masks; this says what each
option buys and costs on this machine.

- Speed: steady-state step time of each option against float32 eager with torch's own
  dropout, on the same model, batches and negatives (median step time after the first
  `--warmup` steps, so compilation and set-up do not count; the first steps' time, which
  holds the compilation, is reported on its own).
- Effect on CE: full CPU-preset runs (one epoch of at least 256 steps, best on dev, `--ce-size` on `--ce-data-size` pairs,
  contrastive entropy on the test split) next to the run-to-run noise: the spread of default
  runs that differ only in their seeds. Other dropout masks are another random stream, so
  torch's masks are compared over the same seeds by their mean; bfloat16 keeps the masks, so
  it is compared with the same seed.

bfloat16 is measured only where the CPU multiplies it natively (AVX-512 BF16 or AMX) or on
CUDA; torch.compile only with `--compile` (its first compilation takes minutes on 2 cores).
Prints a table and ratio lines; asserts nothing.

    python benchmarks/bench_train_options.py [--speed-sizes L4_H256] [--ce-size L1_H32] [--compile]
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np
import torch

from _measure import bf16_matmul_supported
from bench_train import drscale_steps, steady_seconds
from drscale.model.encoder import build_encoder
from drscale.data.prepare import prepare_data
from drscale.sweep.run import run_one
from drscale.sweep.config import RunConfig
from drscale.measure.config import EvalConfig
from drscale.model.tokens import TokenizedData
from drscale.train import keep_freed_memory
from drscale.train.config import CPU_PRESET


def step_seconds(size: str, tokens: TokenizedData, pairs: np.ndarray, args: argparse.Namespace, **option) -> tuple[float, float]:
    """(steady-state seconds per step, seconds of the first `--warmup` steps) with `option`."""
    config = replace(CPU_PRESET, steps=args.warmup + args.steps, warmup_steps=0, epochs=None, eval_points=0, selection="last", **option)
    seconds = drscale_steps(size, tokens, pairs, config)
    return steady_seconds(seconds, args.warmup), sum(seconds[: args.warmup])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed-sizes", nargs="+", default=["L4_H256"])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--ce-size", default="L1_H32")
    parser.add_argument("--ce-data-size", type=int, default=4096)
    parser.add_argument("--noise-seeds", type=int, default=3, help="float32 runs that differ only in seeds")
    parser.add_argument("--compile", action="store_true", help="also measure torch.compile (minutes)")
    parser.add_argument("--data-dir", default="data")
    args = parser.parse_args()

    keep_freed_memory()  # as a sweep's workers do
    data = prepare_data("docstrings", args.data_dir)
    tokens = TokenizedData.build(data, build_encoder("L1_H8").tokenizer, CPU_PRESET.query_max_length, CPU_PRESET.passage_max_length)
    pairs = data.train_pair_rows(data.n_train_pairs)
    options = {"float32, torch's dropout": {"fast_dropout": False}, "float32 (default)": {}}
    if bf16_matmul_supported() or torch.cuda.is_available():
        options["bfloat16 autocast"] = {"precision": "bfloat16"}
    else:
        print("bfloat16: not native on this CPU (no AVX-512 BF16 or AMX): skipped")
    if args.compile:
        options["torch.compile"] = {"compile": True}
    print(f"training options, CPU preset shapes, torch threads {torch.get_num_threads()}")
    print(f"{'size':<9}{'option':<27}{'s/step':>9}{'speed-up':>10}{'first steps s':>15}")
    for size in args.speed_sizes:
        baseline = None
        for label, option in options.items():
            seconds, first = step_seconds(size, tokens, pairs, args, **option)
            baseline = baseline or seconds
            print(f"{size:<9}{label:<27}{seconds:>9.3f}{baseline / seconds:>9.2f}x{first:>15.1f}", flush=True)

    fingerprint = data.fingerprint()
    evaluation = EvalConfig(pool_size=4096, ranking=False)

    def ce(seed: int, **option) -> float:
        config = RunConfig(args.ce_size, args.ce_data_size, replace(CPU_PRESET, seed=CPU_PRESET.seed + seed, **option),
                           evaluation, init_seed=seed)
        record = run_one(config, data, fingerprint)
        if record["status"] != "finished":
            raise RuntimeError(f"{option or 'default'} seed {seed}: {record['error']}")
        return record["ce"]

    seeds = range(args.noise_seeds)
    noise = [ce(seed) for seed in seeds]
    spread = float(np.std(noise, ddof=1)) if len(noise) > 1 else float("nan")
    print(f"\nCE of {args.ce_size} on {args.ce_data_size:,} pairs, {CPU_PRESET.steps_for(args.ce_data_size)} steps, "
          f"best on dev (test split, pool 4,096)")
    print(f"default, seeds 0..{args.noise_seeds - 1}: " + ", ".join(f"{v:.4f}" for v in noise)
          + f" (mean {np.mean(noise):.4f}, run-to-run sd {spread:.4f})")
    torch_masks = [ce(seed, fast_dropout=False) for seed in seeds]
    gap = float(np.mean(torch_masks) - np.mean(noise))
    print(f"torch's dropout, seeds 0..{args.noise_seeds - 1}: " + ", ".join(f"{v:.4f}" for v in torch_masks)
          + f" (mean {np.mean(torch_masks):.4f}; difference of means {gap:+.4f}, "
          f"{abs(gap) / (spread * np.sqrt(2 / len(noise))):.1f} standard errors)")
    for label, option in list(options.items())[2:]:
        value = ce(0, **option)
        print(f"{label}, seed 0: {value:.4f} (difference {value - noise[0]:+.4f}, {abs(value - noise[0]) / spread:.1f} sd)")


if __name__ == "__main__":
    main()
