"""A sweep's wall time on one 2-thread process against two 1-thread workers, and peak memory.

- Sweep: the same runs (`--models` on `--data-size` pairs, `--steps` steps of the CPU
  preset, the demo's evaluation with ranking) through `drscale.sweep.runner.run_sweep`, once with
  `LocalBackend(workers=1)` in this process with runs of 2 torch threads (`RunConfig.threads`),
  once with `LocalBackend(workers=2)` and runs of 1 thread, each into a fresh results store. The
  stores must agree on every run's CE to within float noise of thread count (reported).
  `--steps` defaults to the CPU preset's 256, the demo's shortest runs: each worker pays a
  start-up (spawning, importing torch, tokenising) that much shorter runs do not earn back.
- Peak memory: the largest model trained, and evaluated (encoding the pool and test
  positives, contrastive entropy, ranking; untrained, the same shapes), each in a fresh
  process, as the resident-set high-water mark above the resident set before it
  (`_measure.PeakMemory`).
Prints a table and a ratio line; asserts nothing.

    python benchmarks/bench_sweep.py [--models L1_H16 L1_H32 L1_H64 L2_H64] [--steps 256]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from _measure import PeakMemory
from drscale.sweep.executors import LocalBackend
from drscale.measure.entropy import encode, evaluate_contrastive_entropy, evaluation_rows
from drscale.model.encoder import build_encoder
from drscale.data.prepare import prepare_data
from drscale.measure.ranking import evaluate_ranking
from drscale.sweep.runner import run_sweep
from drscale.sweep.config import model_size_grid
from drscale.measure.config import EvalConfig
from drscale.model.tokens import TokenizedData
from drscale.train.loop import train
from drscale.train.config import CPU_PRESET

EVALUATION = EvalConfig(pool_size=4096, ranking=True)
"""The demo's evaluation (notebook 02): CE and ranking against a 4,096-passage pool."""


def preset(steps: int):
    """The CPU preset shortened to `steps`, its warm-up a tenth of them as in the preset."""
    return replace(CPU_PRESET, steps=steps, warmup_steps=steps // 10, epochs=None, eval_points=0, selection="last")


def peak_memory(args: argparse.Namespace, stage: str) -> dict:
    """Peak MiB of one stage of a run of `--memory-model`, in this (fresh) process: "training"
    for `--memory-steps` steps (the peak is reached in the first), or "evaluation" of the
    untrained model (the same shapes). One stage per process: after training, freed memory
    stays resident and evaluation would reuse it unseen."""
    data = prepare_data("docstrings", args.data_dir)
    config = preset(args.memory_steps)
    model = build_encoder(args.memory_model, seed=0)
    tokens = TokenizedData.build(data, model.tokenizer, config.query_max_length, config.passage_max_length)
    if stage == "training":
        pairs = data.train_pair_rows(args.data_size)
        with PeakMemory() as peak:
            train(model, tokens, pairs, config, progress=False)
    else:
        with PeakMemory() as peak:
            rows = evaluation_rows(data, EVALUATION.pool_size, EVALUATION.seed)
            passages = encode(model, [tokens.passages[r] for r in rows], pad_id=tokens.pad_id)
            evaluate_contrastive_entropy(model, data, tokens, pool_size=EVALUATION.pool_size, seed=EVALUATION.seed,
                                         passage_embeddings=passages, passage_rows=rows)
            evaluate_ranking(model, data, tokens, passage_embeddings=passages, corpus_rows=rows)
    return {"mib": peak.mib, "method": peak.method}


def sweep_seconds(backend: LocalBackend, threads: int, args: argparse.Namespace, store: Path) -> tuple[float, np.ndarray]:
    data = prepare_data("docstrings", args.data_dir)
    configs = model_size_grid(args.models, args.data_size, preset(args.steps), evaluation=EVALUATION, threads=threads)
    start = time.perf_counter()
    table = run_sweep(configs, data, store, backend=backend, progress=False)
    return time.perf_counter() - start, table.sort_values("model")["ce"].to_numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["L1_H16", "L1_H32", "L1_H64", "L2_H64"])
    parser.add_argument("--memory-model", default="L4_H256")
    parser.add_argument("--steps", type=int, default=CPU_PRESET.steps)
    parser.add_argument("--memory-steps", type=int, default=10)
    parser.add_argument("--data-size", type=int, default=2048)
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--memory-only", choices=("training", "evaluation"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_only:
        print(json.dumps(peak_memory(args, args.memory_only)))
        return

    prepare_data("docstrings", args.data_dir)
    memory = {}
    for stage in ("training", "evaluation"):
        command = [sys.executable, __file__, "--memory-only", stage, "--memory-model", args.memory_model,
                   "--memory-steps", str(args.memory_steps), "--data-size", str(args.data_size), "--data-dir", args.data_dir]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        memory[stage] = json.loads(output.strip().splitlines()[-1])
    with tempfile.TemporaryDirectory(prefix="drscale-bench-sweep-") as folder:
        one_process, ce_one = sweep_seconds(LocalBackend(workers=1), 2, args, Path(folder) / "one.jsonl")
        two_workers, ce_two = sweep_seconds(LocalBackend(workers=2), 1, args, Path(folder) / "two.jsonl")
    print(f"sweep: {len(args.models)} runs ({', '.join(args.models)}), {args.data_size:,} pairs, {args.steps} steps, "
          f"evaluation with ranking against a 4,096-passage pool")
    print(f"{'local backend':<40}{'wall s':>8}")
    print(f"{'one process, 2 torch threads':<40}{one_process:>8.1f}")
    print(f"{'two workers, 1 torch thread each':<40}{two_workers:>8.1f}")
    print(f"CE agreement between the two: max |difference| {np.max(np.abs(ce_one - ce_two)):.1e} "
          "(thread count changes float summation order)")
    print(f"ratio two 1-thread workers / one 2-thread process: x{one_process / two_workers:.2f} faster")
    print(f"peak memory of {args.memory_model}: training {memory['training']['mib']:.0f} MiB, evaluation "
          f"{memory['evaluation']['mib']:.0f} MiB ({memory['training']['method']}, a fresh process each)")


if __name__ == "__main__":
    main()
