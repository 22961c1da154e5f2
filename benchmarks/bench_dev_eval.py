"""What dev measurements during training cost: a run with and without them, side by side.

Best-on-dev selection needs dev contrastive entropy at `eval_points` log-spaced steps (256
dev pairs, a 1,024-passage pool, the same draws each time). This times the same run of the
CPU preset twice, alternating, with `eval_points=0` (the baseline) and with the preset's 12
measurements, and prints the overhead as a ratio of wall times and as the share of the run
spent measuring dev (`TrainResult.dev_eval_s`). Target: at most 10% added to a run.
Asserts nothing.

    python benchmarks/bench_dev_eval.py [--models L1_H32 L1_H64] [--data-size 8192] [--repeats 2]
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import torch

from drscale.model.encoder import build_encoder
from drscale.data.prepare import prepare_data
from drscale.sweep.run import dev_set
from drscale.model.tokens import TokenizedData
from drscale.train import keep_freed_memory
from drscale.train.loop import train
from drscale.train.config import CPU_PRESET


def timed_run(model_name: str, data, tokens, pairs, config, dev) -> tuple[float, float]:
    """(wall seconds, dev seconds) of one run of `config`."""
    result = train(build_encoder(model_name, seed=0), tokens, pairs, config, progress=False, dev=dev)
    return result.wall_time_s, result.dev_eval_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["L1_H32", "L1_H64"])
    parser.add_argument("--data-size", type=int, default=None, help="training pairs (default: all of them, as the model-size sweep)")
    parser.add_argument("--repeats", type=int, default=2, help="alternating runs of each setting")
    parser.add_argument("--data-dir", default="data")
    args = parser.parse_args()
    torch.set_num_threads(1)  # as a sweep worker, which also keeps freed memory
    keep_freed_memory()
    data = prepare_data(data_dir=args.data_dir)
    pairs = data.train_pair_rows(args.data_size, seed=0)
    watched = CPU_PRESET
    plain = replace(CPU_PRESET, eval_points=0, selection="last")
    dev = dev_set(data, watched)
    print(f"{'model':<9} {'steps':>6} {'plain s':>9} {'with dev s':>11} {'dev s':>7} {'ratio':>7} {'dev share':>10}")
    for name in args.models:
        tokens = TokenizedData.build(data, build_encoder(name).tokenizer, watched.query_max_length, watched.passage_max_length)
        plain_times, dev_times, dev_parts = [], [], []
        for _ in range(args.repeats):
            plain_times.append(timed_run(name, data, tokens, pairs, plain, None)[0])
            wall, part = timed_run(name, data, tokens, pairs, watched, dev)
            dev_times.append(wall)
            dev_parts.append(part)
        base, with_dev, part = min(plain_times), min(dev_times), min(dev_parts)
        steps = watched.steps_for(len(pairs))
        print(f"{name:<9} {steps:>6} {base:>9.1f} {with_dev:>11.1f} {part:>7.1f} {with_dev / base:>7.3f} {part / with_dev:>10.1%}")
    print(f"ratio: wall time with {watched.eval_points} dev measurements over the same run without them (1.10 = 10% added)")


if __name__ == "__main__":
    main()
