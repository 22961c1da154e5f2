"""Training throughput: drscale.train.loop against SentenceTransformerTrainer, and FLOP/s against peak.

Both train the same randomly initialised encoder (same size, same init seed) on the embedded
default's pairs with the CPU preset's shapes (32 pairs, 64 shared negatives, 32-token
queries, 64-token passages), the same batches in the same order, the same shared negatives
per step, the same loss (raw dot product, no in-batch negatives) and fused AdamW with
clipping and linear decay, in this process with the same torch threads:

- drscale: `drscale.train.loop.train` (text tokenised once per data set, passages padded per
  batch, positives and negatives encoded in one pass, dropout masks drawn by numpy: the same
  dropout probabilities, another random stream, see `drscale.train._cpu.dropout`). The benchmark
  keeps freed memory for reuse (`drscale.train.keep_freed_memory`), as a sweep's workers do; it is
  a setting of the whole process, so the baseline's runs get it too;
- baseline: `SentenceTransformerTrainer` with a custom loss that draws the step's shared
  negatives with the same generator, tokenises them with `model.tokenize` and encodes them,
  as a user of sentence-transformers would write it (its collator tokenises the batch's
  text every step; its model truncates every text to the passage length).

Each loop runs `--warmup + --steps` steps and records the wall time of every step (drscale's
`TrainResult.step_seconds`; a trainer callback at each step's end for the baseline); the
steady-state step time is the median over the steps after the first `--warmup`, so set-up,
first-call costs and a stray slow step of either loop do not count. The two loops alternate
`--repeats` times and each keeps its fastest. Achieved FLOP/s counts the timed steps'
floating-point operations with `torch.utils.flop_counter.FlopCounterMode` (forward and
backward matmuls and attention: a counted run of `--warmup + --steps` steps minus one of
`--warmup`) and divides by drscale's step time; the peak is this machine's measured matmul
rate (`_measure.matmul_peak_flops`).
Prints a table and ratio lines; asserts nothing (timings depend on the machine and its load).

    python benchmarks/bench_train.py [--sizes L1_H8 ... L2_H512] [--steps 8] [--repeats 1] [--data-dir data]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
import time
from dataclasses import replace

import numpy as np
import torch
from datasets import Dataset
from torch.utils.flop_counter import FlopCounterMode
from transformers import TrainerCallback

from _measure import bf16_matmul_supported, matmul_peak_flops
from drscale.data.corpus import RetrievalData
from drscale.model.encoder import CPU_FAMILY, build_encoder
from drscale.data.prepare import prepare_data
from drscale.model.tokens import TokenizedData
from drscale.train import keep_freed_memory
from drscale.train.loop import batch_order, contrastive_loss, sample_shared_negatives, step_rows, train
from drscale.train.config import CPU_PRESET, TrainConfig

LARGER_SIZES = ("L6_H256", "L2_H512")
"""Two of the paper's miniatures above the CPU family: deeper (6 layers) and wider (512)."""


def drscale_steps(size: str, tokens: TokenizedData, pairs: np.ndarray, config: TrainConfig) -> list[float]:
    """Wall seconds of each of `config.steps` drscale steps, from a fresh encoder. The loss is
    read every step, as the trainer reads it, so on a GPU each step's time holds its device work."""
    return train(build_encoder(size, seed=0), tokens, pairs, config, progress=False, loss_read_every=1).step_seconds


def drscale_flops(size: str, tokens: TokenizedData, pairs: np.ndarray, config: TrainConfig) -> float:
    """Floating-point operations of `config.steps` drscale steps."""
    with FlopCounterMode(display=False) as counter:
        train(build_encoder(size, seed=0), tokens, pairs, config, progress=False)
    return counter.get_total_flops()


class StepClock(TrainerCallback):
    """Records the wall time of each trainer step, from one step's end to the next's."""

    def __init__(self) -> None:
        self.step_seconds: list[float] = []

    def on_train_begin(self, args, state, control, **kwargs) -> None:
        self.last = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs) -> None:
        now = time.perf_counter()
        self.step_seconds.append(now - self.last)
        self.last = now


class SharedNegativesLoss(torch.nn.Module):
    """drscale's loss for SentenceTransformerTrainer: each step draws the shared negatives
    with the generator drscale would use at that step, then tokenises and encodes them."""

    def __init__(self, model, data: RetrievalData, order: np.ndarray, pairs: np.ndarray, rng, config: TrainConfig) -> None:
        super().__init__()
        self.model, self.order, self.pairs, self.rng, self.config = model, order, pairs, rng, config
        self.corpus = data.corpus["text"]
        self.step = 0

    def forward(self, sentence_features, labels) -> torch.Tensor:
        queries_features, positives_features = list(sentence_features)
        positive_rows = self.pairs[self.order[self.step], 1]
        self.step += 1
        rows = sample_shared_negatives(self.rng, len(self.corpus), self.config.negatives, positive_rows)
        negatives_features = self.model.preprocess([self.corpus[r] for r in rows])
        embed = lambda features: self.model(features)["sentence_embedding"]  # noqa: E731
        return contrastive_loss(embed(queries_features), embed(positives_features), embed(negatives_features))


def sentence_transformers_steps(size: str, data: RetrievalData, pairs: np.ndarray, config: TrainConfig) -> list[float]:
    """Wall seconds of each of `config.steps` SentenceTransformerTrainer steps on drscale's batches."""
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.base.sampler import DefaultBatchSampler
    from torch.utils.data import SequentialSampler

    model = build_encoder(size, seed=0, max_seq_length=config.passage_max_length)
    rng = np.random.default_rng(config.seed)
    order = batch_order(len(pairs), config.batch_size, config.steps, rng)  # advances rng as drscale does
    queries, passages = data.queries["text"], data.corpus["text"]
    rows = pairs[order.reshape(-1)]
    dataset = Dataset.from_dict({"query": [queries[q] for q in rows[:, 0]], "positive": [passages[p] for p in rows[:, 1]]})

    def in_order(dataset, batch_size, drop_last, valid_label_columns=None, generator=None, seed=0):
        return DefaultBatchSampler(SequentialSampler(range(len(dataset))), batch_size=batch_size, drop_last=drop_last)

    with tempfile.TemporaryDirectory(prefix="drscale-bench-st-") as folder:
        args = SentenceTransformerTrainingArguments(
            output_dir=folder, max_steps=config.steps, per_device_train_batch_size=config.batch_size,
            learning_rate=config.learning_rate, weight_decay=config.weight_decay, warmup_steps=config.warmup_steps,
            max_grad_norm=config.max_grad_norm, lr_scheduler_type="linear", optim="adamw_torch_fused",
            batch_sampler=in_order, dataloader_drop_last=True, logging_strategy="no", save_strategy="no",
            report_to="none", disable_tqdm=True, seed=config.seed, use_cpu=True,
        )
        loss = SharedNegativesLoss(model, data, order, pairs, rng, config)
        clock = StepClock()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):  # its log lines
            trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=dataset, loss=loss, callbacks=[clock])
            trainer.train()
        return clock.step_seconds


def step_tokens(tokens: TokenizedData, pairs: np.ndarray, config: TrainConfig, first_step: int) -> float:
    """Mean non-padding tokens per step (queries, positives, negatives) from `first_step` on."""
    rng = np.random.default_rng(config.seed)
    order = batch_order(len(pairs), config.batch_size, config.steps, rng)
    total = 0
    for step in range(config.steps):
        query_rows, passage_rows, _ = step_rows(pairs, order[step], rng, len(tokens.passages), config.negatives)
        if step >= first_step:
            total += sum(len(tokens.queries[r]) for r in query_rows)
            total += sum(len(tokens.passages[r]) for r in passage_rows)
    return total / (config.steps - first_step)


def steady_seconds(step_seconds: list[float], warmup: int) -> float:
    """Median wall seconds of the steps after the first `warmup`."""
    return float(np.median(step_seconds[warmup:]))


def measure(size: str, data: RetrievalData, tokens: TokenizedData, pairs: np.ndarray, args: argparse.Namespace) -> dict:
    short = replace(CPU_PRESET, steps=args.warmup, warmup_steps=0, epochs=None, eval_points=0, selection="last")
    long = replace(short, steps=args.warmup + args.steps)
    ours, theirs = [], []
    for _ in range(args.repeats):
        ours.append(steady_seconds(drscale_steps(size, tokens, pairs, long), args.warmup))
        theirs.append(steady_seconds(sentence_transformers_steps(size, data, pairs, long), args.warmup))
    flops = (drscale_flops(size, tokens, pairs, long) - drscale_flops(size, tokens, pairs, short)) / args.steps
    return {"size": size, "ours_s": min(ours), "theirs_s": min(theirs), "flops": flops,
            "tokens": step_tokens(tokens, pairs, long, first_step=args.warmup)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=[*CPU_FAMILY, *LARGER_SIZES])
    parser.add_argument("--steps", type=int, default=8, help="timed steps per run")
    parser.add_argument("--warmup", type=int, default=2, help="first steps of each run left out of its timing")
    parser.add_argument("--repeats", type=int, default=1, help="alternating runs of each loop; each keeps its fastest")
    parser.add_argument("--data-dir", default="data", help="where the embedded default is (or will be) prepared")
    args = parser.parse_args()

    keep_freed_memory()
    data = prepare_data("docstrings", args.data_dir)
    model = build_encoder("L1_H8")
    tokens = TokenizedData.build(data, model.tokenizer, CPU_PRESET.query_max_length, CPU_PRESET.passage_max_length)
    pairs = data.train_pair_rows(data.n_train_pairs)
    peak = matmul_peak_flops()
    bf16 = f"{matmul_peak_flops(torch.bfloat16) / 1e9:.0f} GFLOP/s" if bf16_matmul_supported() else "not native on this CPU"
    batch = CPU_PRESET.batch_size
    print(f"training step: {batch} pairs, {CPU_PRESET.negatives} shared negatives, query/passage "
          f"{CPU_PRESET.query_max_length}/{CPU_PRESET.passage_max_length} tokens, float32, torch threads "
          f"{torch.get_num_threads()}; embedded default ({len(pairs):,} pairs)")
    print(f"measured matmul peak: float32 {peak / 1e9:.0f} GFLOP/s; bfloat16 {bf16}")
    print(f"{'size':<9}{'drscale pairs/s':>16}{'s-t pairs/s':>13}{'ratio':>7}{'drscale tok/s':>15}"
          f"{'GFLOP/step':>12}{'GFLOP/s':>9}{'of peak':>9}")
    results = []
    for size in args.sizes:
        r = measure(size, data, tokens, pairs, args)
        results.append(r)
        print(f"{size:<9}{batch / r['ours_s']:>16.0f}{batch / r['theirs_s']:>13.0f}{r['theirs_s'] / r['ours_s']:>7.2f}"
              f"{r['tokens'] / r['ours_s']:>15.0f}{r['flops'] / 1e9:>12.2f}{r['flops'] / r['ours_s'] / 1e9:>9.1f}"
              f"{r['flops'] / r['ours_s'] / peak:>9.0%}", flush=True)
    family = [r for r in results if r["size"] in CPU_FAMILY]
    larger = [r for r in results if r["size"] not in CPU_FAMILY]
    for label, group in (("embedded default family", family), ("larger sizes", larger)):
        if group:
            ratios = [r["theirs_s"] / r["ours_s"] for r in group]
            print(f"ratio drscale / sentence-transformers pairs/s, {label}: min x{min(ratios):.2f}, max x{max(ratios):.2f}")
    if family:
        largest = max(family, key=lambda r: r["flops"])
        print(f"largest CPU size {largest['size']}: {largest['flops'] / largest['ours_s'] / peak:.0%} of the measured "
              "float32 matmul peak")


if __name__ == "__main__":
    main()
