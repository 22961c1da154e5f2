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
  time, as a fraction of the H200's dense bf16 peak, 989.4 TFLOP/s (NVIDIA's H200 SXM
  datasheet gives 1,979 TFLOP/s bf16 Tensor Core "with sparsity"; dense is half, the H100
  SXM's figure). The matmul rates this card reaches are measured too (8192^3 products).
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

Prints tables; writes every number as JSON to `--out` (`-`: stdout). Asserts nothing beyond
the 1e-4 CE checks, which it reports rather than raises.

    python benchmarks/bench_gpu.py [--out results.json] [--sizes L2_H128 ...] [--skip-ce] [--skip-retrieval]
    python benchmarks/bench_gpu.py --tiny            # CPU smoke test on tiny shapes
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
import time
import traceback
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from drscale.budget.cost import Hardware, paper_cost_model
from drscale.measure.entropy import contrastive_entropy, sample_negative_rows
from drscale.model.encoder import PAPER_MINIATURES, build_encoder, n_params
from drscale.measure.ranking import retrieve
from drscale.model.tokens import TokenizedData
from drscale.train.loop import LOSS_READ_EVERY, batch_order, contrastive_loss, step_rows, to_device, train
from drscale.train.config import PAPER_PRESET, PRECISIONS, TrainConfig

H200_BF16_DENSE_PEAK = 989.4e12
"""FLOP/s: NVIDIA H200 SXM datasheet, bf16 Tensor Core 1,979 TFLOP/s with 2:4 sparsity, halved (= H100 SXM)."""
H200_FP32_PEAK = 66.9e12
"""FLOP/s: the same datasheet's plain (non-Tensor-Core) fp32 rate, what float32 matmuls get without TF32."""

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK_03 = REPO / "notebooks" / "03_data_size_sweep.ipynb"
TF32_SIZES = ("L4_H256", "L6_H512", "L12_H768")
CLS, SEP = 101, 102


def training_only(config: TrainConfig) -> TrainConfig:
    """`config` without dev measurements during training: the step is what is timed; dev CE
    is an evaluation cost, left out like the test evaluation."""
    return replace(config, eval_points=0, selection="last")


def schedule(size: str) -> tuple[int, int]:
    """(warm-up, timed) steps per run: one block of loss reads to warm up, then two blocks, or
    one for the big ones, to keep the whole script near 5 minutes."""
    hidden = PAPER_MINIATURES[size].hidden
    return LOSS_READ_EVERY, (2 if hidden <= 256 else 1) * LOSS_READ_EVERY


def steady_step_seconds(step_seconds: list[float], warmup: int, read_every: int) -> float:
    """Mean step time from the first loss read at or after `warmup` steps to the end (`train`
    always reads after its last step): a window whose device work has all finished inside it."""
    first = -(-warmup // read_every) * read_every
    if first >= len(step_seconds):
        raise ValueError(f"no steps after the first loss read at or after step {warmup} (reads every {read_every}, "
                         f"{len(step_seconds)} steps): time more steps")
    return float(np.mean(step_seconds[first:]))


def synthetic_tokens(n_pairs: int, query_length: int, passage_length: int, seed: int = 0) -> tuple[TokenizedData, np.ndarray]:
    """Random WordPiece ids, every query and passage at full length; pair i is (query i, passage i)."""
    rng = np.random.default_rng(seed)

    def sequences(count: int, length: int) -> list[np.ndarray]:
        body = rng.integers(1000, 30000, size=(count, length - 2))
        return [np.concatenate([[CLS], row, [SEP]]).astype(np.int64) for row in body]

    tokens = TokenizedData(queries=sequences(n_pairs, query_length), passages=sequences(n_pairs, passage_length), pad_id=0)
    return tokens, np.stack([np.arange(n_pairs), np.arange(n_pairs)], axis=1)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def peak_gib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None


def matmul_rate(dtype: torch.dtype, device: torch.device, n: int, repeats: int = 10) -> float:
    """FLOP/s of an n x n by n x n product on the device (random data; events; median)."""
    generator = torch.Generator(device).manual_seed(0)
    a = torch.randn(n, n, device=device, generator=generator).to(dtype)
    b = torch.randn(n, n, device=device, generator=generator).to(dtype)
    times = []
    for i in range(repeats + 2):
        sync(device)
        start = time.perf_counter()
        a @ b
        sync(device)
        if i >= 2:
            times.append(time.perf_counter() - start)
    return 2 * n**3 / float(np.median(times))


def copy_rate(device: torch.device, megabytes: int) -> float:
    """Bytes read plus written per second by a device-to-device copy (median of 5)."""
    source = torch.randn(megabytes * 2**20 // 4, device=device)
    target = torch.empty_like(source)
    times = []
    for i in range(7):
        sync(device)
        start = time.perf_counter()
        target.copy_(source)
        sync(device)
        if i >= 2:
            times.append(time.perf_counter() - start)
    return 2 * source.numel() * 4 / float(np.median(times))


# ---------------------------------------------------------------- training


def step_flops(model: torch.nn.Module, tokens: TokenizedData, pairs: np.ndarray, config: TrainConfig,
               device: torch.device) -> float:
    """Floating-point operations of one step (forward, backward; the optimiser counts none).
    Every step has the same shapes here (full-length sequences, distinct positives)."""
    with FlopCounterMode(display=False) as counter:
        train(model, tokens, pairs, replace(config, steps=1, warmup_steps=0), device=device, progress=False)
    return float(counter.get_total_flops())


def timed_train(model: torch.nn.Module, tokens: TokenizedData, pairs: np.ndarray, config: TrainConfig,
                device: torch.device, warmup: int, read_every: int = LOSS_READ_EVERY) -> dict:
    """Steady step seconds after `warmup` steps of `drscale.train.loop.train` reading the loss
    every `read_every` steps, and the run's peak memory."""
    reset_peak(device)
    result = train(model, tokens, pairs, replace(config, steps=warmup + config.steps), device=device, progress=False,
                   loss_read_every=read_every)
    losses = np.asarray(result.losses)
    return {"step_s": steady_step_seconds(result.step_seconds, warmup, read_every), "loss_read_every": read_every,
            "peak_gib": peak_gib(device), "loss_first": float(losses[0]), "loss_last": float(losses[-1]),
            "finite": bool(np.isfinite(losses).all())}


def sync_sites(model: torch.nn.Module, tokens: TokenizedData, pairs: np.ndarray, config: TrainConfig,
               device: torch.device, steps: int = 3) -> dict:
    """The synchronisations torch reports in `steps` steps of `train`
    (`torch.cuda.set_sync_debug_mode("warn")`): each warning's file and line, counted. The one
    loss read at the end is expected; anything else stalls the host every step. Waits torch
    does not report (a pinned-memory or device allocation that misses its cache) are not
    listed, and those inside backward are reported from autograd's line, not their own."""
    import warnings

    train(model, tokens, pairs, replace(config, steps=1), device=device, progress=False)  # set-up outside the count
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            train(model, tokens, pairs, replace(config, steps=steps), device=device, progress=False, loss_read_every=steps)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    sites = Counter(f"{'/'.join(Path(warning.filename).parts[-2:])}:{warning.lineno}"
                    for warning in caught if "synchroniz" in str(warning.message))
    return {"steps": steps, "per_step": sum(sites.values()) / steps, "sites": dict(sites)}


def device_batches(tokens: TokenizedData, pairs: np.ndarray, config: TrainConfig, steps: int, device: torch.device) -> list:
    """The batches `train` would build for `steps` steps, built ahead and moved to the device."""
    rng = np.random.default_rng(config.seed)
    order = batch_order(len(pairs), config.batch_size, steps, rng)
    batches = []
    for step in range(steps):
        query_rows, rows, index = step_rows(pairs, order[step], rng, len(tokens.passages), config.negatives)
        on = lambda features: {k: v.to(device) for k, v in features.items()}  # noqa: E731
        batches.append((on(tokens.query_batch(query_rows)), on(tokens.passage_batch(rows)), torch.from_numpy(index).to(device)))
    return batches


def device_bound_step(model: torch.nn.Module, tokens: TokenizedData, pairs: np.ndarray, config: TrainConfig,
                      device: torch.device, warmup: int, steps: int) -> float:
    """Mean seconds of `train`'s step (encode, loss, backward, clip, fused AdamW) with the
    batches already on the device and the loss never read back: what the device and the
    eager launches alone cost. The gap to `train`'s step is host work the device waited for."""
    batches = device_batches(tokens, pairs, config, warmup + steps, device)
    model.to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay, fused=True)
    autocast = torch.autocast(device.type, dtype=PRECISIONS[config.precision], enabled=config.precision != "float32")
    batch = config.batch_size

    def step(queries_in, passages_in, index) -> None:
        with autocast:
            queries = model(queries_in)["sentence_embedding"]
            passages = model(passages_in)["sentence_embedding"]
        passages = passages[index]
        loss = contrastive_loss(queries.float(), passages[:batch].float(), passages[batch:].float())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for b in batches[:warmup]:
        step(*b)
    sync(device)
    start = time.perf_counter()
    for b in batches[warmup:]:
        step(*b)
    sync(device)
    model.eval()
    return (time.perf_counter() - start) / steps


def host_step_seconds(tokens: TokenizedData, pairs: np.ndarray, config: TrainConfig, device: torch.device, steps: int = 20) -> float:
    """Median seconds of the host's part of one `train` step alone: draw the negatives,
    deduplicate, pad the 128 queries and 384 passages, copy them to the device (as `train` does)."""
    rng = np.random.default_rng(config.seed)
    order = batch_order(len(pairs), config.batch_size, steps, rng)
    times = []
    for step in range(steps):
        sync(device)
        start = time.perf_counter()
        query_rows, rows, index = step_rows(pairs, order[step], rng, len(tokens.passages), config.negatives)
        for features in (tokens.query_batch(query_rows), tokens.passage_batch(rows)):
            for value in features.values():
                to_device(value, device)
        to_device(torch.from_numpy(index), device)
        sync(device)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def profile_step(model: torch.nn.Module, tokens: TokenizedData, pairs: np.ndarray, config: TrainConfig,
                 device: torch.device, steps: int = 3) -> dict:
    """Kernels launched and their summed device time per step, over `steps` steps of `train`
    (after one unprofiled step), against the steps' wall time: the device's busy share."""
    from torch.profiler import ProfilerActivity, profile

    train(model, tokens, pairs, replace(config, steps=1), device=device, progress=False)
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        result = train(model, tokens, pairs, replace(config, steps=steps), device=device, progress=False)
    on_device = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]  # kernels, copies
    kernels = len(on_device)
    kernel_s = sum(e.self_device_time_total for e in on_device) / 1e6  # microseconds
    wall = sum(result.step_seconds)
    return {"kernels_per_step": kernels / steps, "kernel_s_per_step": kernel_s / steps,
            "profiled_step_s": wall / steps, "device_busy": kernel_s / wall}


def measure_size(size: str, tokens: TokenizedData, pairs: np.ndarray, base: TrainConfig, device: torch.device,
                 args: argparse.Namespace) -> dict:
    warmup, timed = (args.warmup, args.steps) if args.steps else schedule(size)
    started = time.perf_counter()
    model = build_encoder(size, seed=0)
    build_s = time.perf_counter() - started
    record = {"size": size, "n_params": n_params(size), "warmup_steps": warmup, "timed_steps": timed, "build_s": build_s}
    bf16 = replace(base, steps=timed, precision="bfloat16")
    record["flops_per_step"] = step_flops(model, tokens, pairs, bf16, device)
    for precision in ("float32", "bfloat16"):
        record[precision] = timed_train(model, tokens, pairs, replace(base, steps=timed, precision=precision), device, warmup)
    record["bf16_read_every_step"] = timed_train(model, tokens, pairs, bf16, device, warmup, read_every=1)
    if size in TF32_SIZES and device.type == "cuda" and not args.tiny:
        previous = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = True
        try:
            record["tf32"] = timed_train(model, tokens, pairs, replace(base, steps=timed, precision="float32"), device, warmup)
        except Exception as error:  # a diagnostic: report, carry on
            record["tf32_error"] = f"{type(error).__name__}: {error}"
        finally:
            torch.backends.cuda.matmul.allow_tf32 = previous
    record["bf16_device_bound_step_s"] = device_bound_step(model, tokens, pairs, bf16, device, warmup, timed)
    if size in args.profile:
        for key, diagnostic in (("bf16_profile", profile_step), ("bf16_syncs", sync_sites)):
            try:
                record[key] = diagnostic(model, tokens, pairs, bf16, device)
            except Exception as error:  # a diagnostic: report, carry on
                record[key] = {"error": f"{type(error).__name__}: {error}"}
    for key in ("float32", "bfloat16", "tf32", "bf16_read_every_step"):
        if key in record:
            r = record[key]
            r["steps_per_s"] = 1 / r["step_s"]
            r["pairs_per_s"] = base.batch_size / r["step_s"]
            r["flop_per_s"] = record["flops_per_step"] / r["step_s"]
            r["of_bf16_peak"] = r["flop_per_s"] / H200_BF16_DENSE_PEAK
    record["seconds"] = time.perf_counter() - started
    del model
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return record


def print_training(records: list[dict], host_s: float, base: TrainConfig) -> None:
    print(f"{'size':<9}{'N':>11}{'GFLOP/step':>11} | {'fp32 st/s':>9}{'pairs/s':>8}{'%pk':>6}{'GiB':>6} | "
          f"{'bf16 st/s':>9}{'pairs/s':>8}{'%pk':>6}{'GiB':>6} | {'read/step':>9}{'x':>6} | {'dev-bound':>9}{'tf32 st/s':>10}")
    for r in records:
        f, b = r["float32"], r["bfloat16"]
        gib = lambda x: f"{x['peak_gib']:6.1f}" if x["peak_gib"] is not None else f"{'-':>6}"  # noqa: E731
        tf32 = f"{r['tf32']['steps_per_s']:10.2f}" if "tf32" in r else f"{'':>10}"
        print(f"{r['size']:<9}{r['n_params']:>11,}{r['flops_per_step'] / 1e9:>11.0f} | "
              f"{f['steps_per_s']:>9.2f}{f['pairs_per_s']:>8.0f}{f['of_bf16_peak']:>6.1%}{gib(f)} | "
              f"{b['steps_per_s']:>9.2f}{b['pairs_per_s']:>8.0f}{b['of_bf16_peak']:>6.1%}{gib(b)} | "
              f"{r['bf16_read_every_step']['steps_per_s']:>9.2f}{b['steps_per_s'] / r['bf16_read_every_step']['steps_per_s']:>5.2f}x | "
              f"{1 / r['bf16_device_bound_step_s']:>9.2f}{tf32}", flush=True)
    print(f"read/step: bf16 with the loss read every step (the loop before {LOSS_READ_EVERY}-step reads); "
          "x: bf16 steps/s over it")
    print(f"host work alone per step (draw negatives, pad {base.batch_size} queries + {base.batch_size + base.negatives} "
          f"passages, copy): {host_s * 1e3:.1f} ms")
    for r in records:
        p = r.get("bf16_profile")
        if p and "error" not in p:
            print(f"profile {r['size']} bf16: {p['kernels_per_step']:.0f} kernels/step, {p['kernel_s_per_step'] * 1e3:.1f} ms of "
                  f"kernels in a {p['profiled_step_s'] * 1e3:.1f} ms step: device busy {p['device_busy']:.0%}")
        elif p:
            print(f"profile {r['size']}: {p['error']}")
        syncs = r.get("bf16_syncs")
        if syncs and "error" not in syncs:
            print(f"host waits in {r['size']} bf16 over {syncs['steps']} steps ({syncs['per_step']:.1f} a step): "
                  + (", ".join(f"{site} x{n}" for site, n in sorted(syncs["sites"].items())) or "none"))
        elif syncs:
            print(f"host waits {r['size']}: {syncs['error']}")


def concurrent_worker(size: str, config: TrainConfig, steps: int, device: str, barrier) -> tuple[float, float]:
    """One process of `concurrent_runs`: set up and warm up, wait for the others, train
    `steps` steps; the (start, end) of the timed run on the system-wide monotonic clock. A
    process that fails before the barrier breaks it, so the others stop waiting too."""
    try:
        tokens, pairs = synthetic_tokens(4096, config.query_max_length, config.passage_max_length)
        model = build_encoder(size, seed=0)
        train(model, tokens, pairs, replace(config, steps=LOSS_READ_EVERY), device=device, progress=False)
    except BaseException:
        barrier.abort()
        raise
    barrier.wait()
    start = time.perf_counter()
    train(model, tokens, pairs, replace(config, steps=steps), device=device, progress=False)
    return start, time.perf_counter()


def concurrent_runs(size: str, config: TrainConfig, device: torch.device, processes: tuple[int, ...] = (1, 2, 4),
                    steps: int = 3 * LOSS_READ_EVERY) -> dict:
    """Steps per second that `n` processes training `size` at once finish together, for each
    `n` in `processes`; from the first start to the last end."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")
    out: dict = {"size": size, "steps": steps, "processes": {}}
    if device.type == "cuda":
        torch.cuda.empty_cache()  # this process's cached blocks from the large sizes, for the workers
    for n in processes:
        with context.Manager() as manager, ProcessPoolExecutor(n, mp_context=context) as pool:
            barrier = manager.Barrier(n, timeout=300)  # a backstop: a failing process aborts it
            spans = list(pool.map(concurrent_worker, *zip(*[(size, config, steps, str(device), barrier)] * n)))
        wall = max(end for _, end in spans) - min(start for start, _ in spans)
        out["processes"][str(n)] = {"wall_s": wall, "steps_per_s": n * steps / wall}
    return out


def print_concurrent(runs: list[dict]) -> None:
    for r in runs:
        one = r["processes"]["1"]["steps_per_s"]
        cells = ", ".join(f"{n} at once {p['steps_per_s']:.1f} ({p['steps_per_s'] / one:.2f}x)"
                          for n, p in r["processes"].items())
        print(f"runs at once, {r['size']} bf16, {r['steps']} steps each: steps/s of all processes together: {cells}")


# ---------------------------------------------------------------- contrastive entropy


@torch.no_grad()
def device_contrastive_entropy(query_embeddings: torch.Tensor, positive_embeddings: torch.Tensor, pool_embeddings: torch.Tensor,
                               negatives: int = 256, repeats: int = 10, seed: int = 1, per_pair: bool = False,
                               draws_per_chunk: int = 1 << 21) -> float | torch.Tensor:
    """`drscale.measure.entropy.contrastive_entropy` computed where the embeddings are (a CUDA device).

    The same negatives (`sample_negative_rows`, drawn by the CPU generator, then moved), the
    same float32 scores and float64 softmax; the drawn scores come from gathering the drawn
    pool rows and one batched product per chunk (`draws_per_chunk` x dim floats of gathered
    rows at a time: 6 GB at 768-d), which on a GPU reads the draws at memory speed.
    """
    device = pool_embeddings.device
    queries = query_embeddings.to(device).float().contiguous()
    positives = positive_embeddings.to(device).float()
    pool = pool_embeddings.float().contiguous()
    rows = sample_negative_rows(len(queries), repeats, negatives, len(pool), seed).to(device)
    positive_scores = (queries * positives).sum(dim=1)
    values = torch.empty(len(queries), dtype=torch.float64, device=device)
    chunk = max(1, draws_per_chunk // (repeats * negatives))
    for start in range(0, len(queries), chunk):
        block = queries[start : start + chunk]
        drawn = rows[start : start + chunk].reshape(len(block), repeats * negatives)
        negative_scores = torch.bmm(pool[drawn], block[:, :, None]).view(-1, repeats, negatives)
        positive = positive_scores[start : start + chunk, None, None].expand(-1, repeats, 1)
        logits = torch.cat([positive, negative_scores], dim=2).double()
        values[start : start + chunk] = (torch.logsumexp(logits, dim=2) - logits[:, :, 0]).mean(dim=1)
    return values if per_pair else float(values.mean())


def embeddings(pairs: int, pool: int, dim: int, device: torch.device, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Queries, positives (query plus noise, a realistic CE) and a pool, unit-length scale, made on `device`."""
    generator = torch.Generator(device).manual_seed(seed)
    scale = dim**-0.5
    queries = torch.randn(pairs, dim, generator=generator, device=device) * scale
    positives = queries + torch.randn(pairs, dim, generator=generator, device=device) * scale
    return queries, positives, torch.randn(pool, dim, generator=generator, device=device) * scale


def timed_call(call, device: torch.device) -> tuple[object, float]:
    sync(device)
    start = time.perf_counter()
    result = call()
    sync(device)
    return result, time.perf_counter() - start


def best_of(call, device: torch.device, repeats: int = 2) -> tuple[object, float]:
    runs = [timed_call(call, device) for _ in range(repeats)]
    return runs[0][0], min(seconds for _, seconds in runs)


def library_on_device(call) -> dict:
    """Run a library call on device tensors; on an error, keep its traceback."""
    try:
        return {"ok": True, "value": call()}
    except Exception as error:
        return {"ok": False, "error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}


def measure_ce(args: argparse.Namespace, device: torch.device) -> dict:
    config = dict(negatives=args.negatives, repeats=args.repeats, seed=1)
    out: dict = {"pairs": args.pairs, "pool": args.pool, "dim": args.dim, **config, "checks": []}
    # smaller cases first: the library on the CPU against both device routes, both CPU routes
    for pairs, pool_size, route in args.ce_checks:
        q, p, pool = embeddings(pairs, pool_size, args.dim, device, seed=1)
        cpu = contrastive_entropy(q.cpu(), p.cpu(), pool.cpu(), route=route, **config)
        ours = device_contrastive_entropy(q, p, pool, **config)
        lib = library_on_device(lambda: contrastive_entropy(q, p, pool, route=route, **config))  # noqa: B023
        check = {"pairs": pairs, "pool": pool_size, "cpu_route": route, "cpu": cpu, "device_impl": ours,
                 "device_impl_diff": abs(ours - cpu), "library_on_device_ok": lib["ok"]}
        if lib["ok"]:
            check["library_on_device_diff"] = abs(lib["value"] - cpu)
        else:
            check["library_on_device_error"] = lib["error"]
            out.setdefault("library_traceback", lib["traceback"])
        out["checks"].append(check)
    # the release's scale
    q, p, pool = embeddings(args.pairs, args.pool, args.dim, device)
    device_contrastive_entropy(q[:50], p[:50], pool, **config)  # warm-up
    out["device_impl"], out["device_impl_s"] = best_of(lambda: device_contrastive_entropy(q, p, pool, **config), device)
    lib = library_on_device(lambda: timed_call(lambda: contrastive_entropy(q, p, pool, **config), device))
    out["library_on_device_ok"] = lib["ok"]
    if lib["ok"]:
        out["library_on_device"], out["library_on_device_s"] = lib["value"]
    else:
        out["library_on_device_error"] = lib["error"]
        out.setdefault("library_traceback", lib["traceback"])
    started = time.perf_counter()
    q_cpu, p_cpu, pool_cpu = q.cpu(), p.cpu(), pool.cpu()
    out["to_cpu_s"] = time.perf_counter() - started
    out["cpu"], out["cpu_s"] = timed_call(lambda: contrastive_entropy(q_cpu, p_cpu, pool_cpu, **config), torch.device("cpu"))
    out["cpu_threads"] = torch.get_num_threads()
    out["device_impl_diff"] = abs(out["device_impl"] - out["cpu"])
    if lib["ok"]:
        out["library_on_device_diff"] = abs(out["library_on_device"] - out["cpu"])
    out["all_within_1e-4"] = out["device_impl_diff"] <= 1e-4 and all(c["device_impl_diff"] <= 1e-4 for c in out["checks"])
    gathered = args.pairs * args.repeats * args.negatives * args.dim * 4
    out["gathered_bytes"] = gathered
    return out, (q, pool)


def print_ce(ce: dict) -> None:
    print(f"contrastive entropy: {ce['pairs']:,} pairs x {ce['negatives']} negatives x {ce['repeats']} repeats, pool "
          f"{ce['pool']:,} x {ce['dim']} float32")
    for c in ce["checks"]:
        lib = (f"library on device diff {c['library_on_device_diff']:.1e}" if c["library_on_device_ok"]
               else f"library on device FAILS: {c['library_on_device_error'][:110]}")
        print(f"  check {c['pairs']:,} pairs, pool {c['pool']:,} (CPU {c['cpu_route']} route): CPU {c['cpu']:.6f}, "
              f"device impl diff {c['device_impl_diff']:.1e}; {lib}")
    lib = (f"{ce['library_on_device_s']:.3f} s, diff {ce['library_on_device_diff']:.1e}" if ce["library_on_device_ok"]
           else f"FAILS: {ce['library_on_device_error'][:110]}")
    print(f"  full scale: device impl {ce['device_impl_s']:.3f} s (CE {ce['device_impl']:.6f}); CPU library "
          f"{ce['cpu_s']:.2f} s on {ce['cpu_threads']} threads (CE {ce['cpu']:.6f}); diff {ce['device_impl_diff']:.1e}; "
          f"library on device: {lib}")
    print(f"  gathered draws {ce['gathered_bytes'] / 1e9:.1f} GB; all checks within 1e-4: {ce['all_within_1e-4']}")


# ---------------------------------------------------------------- retrieval


def topk_chunked(queries: torch.Tensor, passages: torch.Tensor, k: int, chunk: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact top-k by inner product: score `chunk` queries against every passage, keep k."""
    scores, rows = [], []
    for start in range(0, len(queries), chunk):
        values, indices = torch.topk(queries[start : start + chunk] @ passages.T, k, dim=1)
        scores.append(values)
        rows.append(indices)
    return torch.cat(scores), torch.cat(rows)


def measure_retrieval(queries: torch.Tensor, passages: torch.Tensor, k: int, chunk: int, device: torch.device) -> dict:
    out = {"queries": len(queries), "passages": len(passages), "dim": passages.shape[1], "k": k}
    retrieve(queries[:64], passages, k)  # warm-up
    (lib_scores, lib_rows), out["library_s"] = best_of(lambda: retrieve(queries, passages, k), device)
    topk_chunked(queries[:64], passages, k, chunk)
    (scores, rows), out["topk_chunked_s"] = best_of(lambda: topk_chunked(queries, passages, k, chunk), device)
    out["chunk"] = chunk
    overlap = [len(np.intersect1d(a, b)) / k for a, b in zip(lib_rows.cpu().numpy(), rows.cpu().numpy())]
    out["mean_overlap"] = float(np.mean(overlap))
    out["min_overlap"] = float(np.min(overlap))
    out["max_score_diff"] = float((lib_scores - scores).abs().max())
    out["flops"] = 2 * len(queries) * len(passages) * passages.shape[1]
    return out


def print_retrieval(r: dict) -> None:
    print(f"retrieval: top-{r['k']} of {r['queries']:,} queries over {r['passages']:,} x {r['dim']} float32 passages: "
          f"drscale.measure.ranking.retrieve {r['library_s']:.3f} s, torch.topk over {r['chunk']}-query chunks "
          f"{r['topk_chunked_s']:.3f} s; same passages {r['mean_overlap']:.4%} (min {r['min_overlap']:.3%}), max score "
          f"diff {r['max_score_diff']:.1e}; {r['flops'] / 1e12:.1f} TFLOP of scores")


# ---------------------------------------------------------------- the paper study


def notebook_data_sizes(path: Path = NOTEBOOK_03) -> list[int]:
    """`data_sizes` of notebook 03's parameters cell."""
    notebook = json.loads(path.read_text())
    for cell in notebook["cells"]:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            for node in ast.parse("".join(cell["source"])).body:
                if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "data_sizes":
                    return [int(x) for x in ast.literal_eval(node.value)]
    raise ValueError(f"no data_sizes in the parameters cell of {path}")


def full_study(records: list[dict], steps: int = PAPER_PRESET.steps) -> dict:
    data_sizes = notebook_data_sizes()
    runs_per_model = 1 + len(data_sizes)  # the full data (model-size sweep) + each data size (data-size sweep)
    hardware = Hardware()
    cost = paper_cost_model()
    out = {"data_sizes": data_sizes, "runs_per_model": runs_per_model, "models": len(records), "steps": steps,
           "gpu_hour_usd": hardware.gpu_hour_usd, "runs": runs_per_model * len(records)}
    for precision in ("float32", "bfloat16"):
        hours = sum(runs_per_model * steps * r[precision]["step_s"] for r in records) / 3600
        full_data_hours = sum(steps * r[precision]["step_s"] for r in records) / 3600
        out[precision] = {"gpu_hours": hours, "usd": hours * hardware.gpu_hour_usd,
                          "model_size_sweep_hours": full_data_hours, "data_size_sweep_hours": hours - full_data_hours}
    # what drscale.budget.cost's FLOP-based model would charge for the same training (its own workload)
    out["cost_model_train_usd"] = sum(runs_per_model * cost.z_train_per_param * r["n_params"] for r in records)
    out["counted_flops"] = sum(runs_per_model * steps * r["flops_per_step"] for r in records)
    return out


def print_study(s: dict) -> None:
    print(f"full paper study: {s['models']} models x ({s['runs_per_model'] - 1} data sizes of notebook 03 "
          f"{s['data_sizes']} + the full data) = {s['runs']} runs x {s['steps']:,} steps, training only, at the measured "
          f"(full-length) step times, ${s['gpu_hour_usd']}/GPU-hour (drscale.budget.cost.Hardware):")
    for precision in ("float32", "bfloat16"):
        p = s[precision]
        print(f"  {precision:<9} {p['gpu_hours']:8.1f} GPU-hours  ${p['usd']:9,.0f}   (model-size sweep "
              f"{p['model_size_sweep_hours']:.1f} h, data-size sweep {p['data_size_sweep_hours']:.1f} h)")
    print(f"  {s['counted_flops']:.2e} FLOPs counted; drscale.budget.cost's FLOP model (A100 312 TFLOP/s at 25%, batch 256 x "
          f"150 tokens) would charge ${s['cost_model_train_usd']:,.0f}")


# ---------------------------------------------------------------- main


def guarded(results: dict, key: str, call) -> object:
    """Run one section; on an error keep its traceback under results["errors"] and carry on."""
    try:
        return call()
    except Exception as error:
        results.setdefault("errors", {})[key] = traceback.format_exc()
        print(f"{key}: FAILED {type(error).__name__}: {error}", file=sys.stderr, flush=True)
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny shapes on the CPU: a smoke test of every code path")
    parser.add_argument("--sizes", nargs="+", default=None, help="miniatures to train (default: all 24)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per run (default: by size, see schedule)")
    parser.add_argument("--warmup", type=int, default=LOSS_READ_EVERY, help="warm-up steps per run, with --steps")
    parser.add_argument("--profile", nargs="*", default=["L2_H128", "L6_H512", "L12_H768"], help="sizes to profile (bf16)")
    parser.add_argument("--concurrent", nargs="*", default=["L2_H128"],
                        help="sizes to train in 1, 2 and 4 processes at once (bf16)")
    parser.add_argument("--pairs", type=int, default=7437)
    parser.add_argument("--pool", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--negatives", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--k", type=int, default=1000)
    parser.add_argument("--skip-ce", action="store_true", help="skip contrastive entropy (and retrieval, which reuses its pool)")
    parser.add_argument("--skip-retrieval", action="store_true")
    parser.add_argument("--out", default="-", help="JSON of every number: a path (rewritten after each section), or - for stdout")
    args = parser.parse_args()

    if not torch.cuda.is_available() and not args.tiny:
        print(f"bench_gpu: skipped: CUDA is not available (torch {torch.__version__}); --tiny runs tiny shapes on the CPU")
        return
    device = torch.device("cpu" if args.tiny else "cuda")
    base = training_only(PAPER_PRESET)
    args.ce_checks = [(1000, 4096, "scores"), (1000, 200_000, "sampled")]
    chunk = 1024
    if args.tiny:
        base = replace(base, batch_size=8, negatives=16, query_max_length=8, passage_max_length=16)
        args.sizes = args.sizes or ["L2_H128"]
        args.steps, args.warmup = args.steps or LOSS_READ_EVERY, LOSS_READ_EVERY if args.steps is None else args.warmup
        args.pairs, args.pool, args.dim, args.negatives, args.repeats, args.k = 200, 20_000, 64, 32, 2, 50
        args.ce_checks = [(100, 256, "scores"), (100, 20_000, "sampled")]
        args.profile, chunk = [], 64
        args.concurrent = args.concurrent[:1]
    sizes = args.sizes or list(PAPER_MINIATURES)
    started = time.perf_counter()
    results: dict = {"device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu (--tiny)",
                     "torch": torch.__version__, "tiny": args.tiny, "peak_bf16_dense_flops": H200_BF16_DENSE_PEAK,
                     "peak_source": "NVIDIA H200 SXM datasheet: bf16 Tensor Core 1,979 TFLOP/s with sparsity, halved",
                     "preset": {k: getattr(base, k) for k in ("batch_size", "negatives", "query_max_length", "passage_max_length",
                                                               "learning_rate")}}

    def save() -> None:
        results["script_s"] = time.perf_counter() - started
        if args.out != "-":
            Path(args.out).write_text(json.dumps(results, indent=1, default=float))

    print(f"device {results['device']}, torch {torch.__version__}; peak used: dense bf16 {H200_BF16_DENSE_PEAK / 1e12:.1f} "
          f"TFLOP/s ({results['peak_source']})", flush=True)
    if device.type == "cuda":
        def ceilings() -> dict:
            n = 8192
            measured = {"bf16_matmul_flops": matmul_rate(torch.bfloat16, device, n),
                        "fp32_matmul_flops": matmul_rate(torch.float32, device, n, repeats=4),
                        "copy_bytes_per_s": copy_rate(device, 4096)}
            torch.backends.cuda.matmul.allow_tf32 = True
            try:
                measured["tf32_matmul_flops"] = matmul_rate(torch.float32, device, n, repeats=4)
            finally:
                torch.backends.cuda.matmul.allow_tf32 = False
            print(f"measured: bf16 matmul {measured['bf16_matmul_flops'] / 1e12:.0f} TFLOP/s, fp32 "
                  f"{measured['fp32_matmul_flops'] / 1e12:.0f}, tf32 {measured['tf32_matmul_flops'] / 1e12:.0f} ({n}^3); "
                  f"device copy {measured['copy_bytes_per_s'] / 1e12:.2f} TB/s read+write", flush=True)
            return measured

        results["measured"] = guarded(results, "measured", ceilings)
        save()

    # contrastive entropy and retrieval first: short, and they hold the library's device bugs
    if not args.skip_ce:
        measured = guarded(results, "ce", lambda: measure_ce(args, device))
        if measured:
            results["ce"], (queries, pool) = measured
            print_ce(results["ce"])
            if not args.skip_retrieval:
                results["retrieval"] = guarded(results, "retrieval", lambda: measure_retrieval(queries, pool, args.k, chunk, device))
                if results["retrieval"]:
                    print_retrieval(results["retrieval"])
            del queries, pool
        if device.type == "cuda":
            torch.cuda.empty_cache()
        save()

    tokens, pairs = synthetic_tokens(4096, base.query_max_length, base.passage_max_length)
    print(f"training step: {base.batch_size} pairs, {base.negatives} shared negatives, query/passage "
          f"{base.query_max_length}/{base.passage_max_length} tokens (all full length), synthetic ids; "
          f"mean step after warm-up, between loss reads every {LOSS_READ_EVERY} steps", flush=True)
    results["host_step_s"] = host_step_seconds(tokens, pairs, replace(base, steps=20), device)
    records: list[dict] = []
    results["training"] = records
    for size in sizes:
        record = guarded(results, f"training {size}", lambda: measure_size(size, tokens, pairs, base, device, args))  # noqa: B023
        if record:
            records.append(record)
            print(f"  {size}: fp32 {record['float32']['steps_per_s']:.2f} st/s, bf16 {record['bfloat16']['steps_per_s']:.2f} "
                  f"st/s, bf16 device-bound {1 / record['bf16_device_bound_step_s']:.2f} ({record['seconds']:.1f} s, "
                  f"script {time.perf_counter() - started:.0f} s)", flush=True)
        save()
    results["concurrent"] = []
    for size in args.concurrent:
        processes = (1, 2) if args.tiny else (1, 2, 4)
        runs = guarded(results, f"concurrent {size}",
                       lambda: concurrent_runs(size, replace(base, precision="bfloat16"), device, processes))  # noqa: B023
        if runs:
            results["concurrent"].append(runs)
            print_concurrent([runs])
        save()
    if args.tiny or {r["size"] for r in records} == set(PAPER_MINIATURES):
        # with --tiny this exercises the arithmetic only: tiny steps say nothing about the study
        results["study"] = guarded(results, "study", lambda: full_study(records))
    save()

    if args.out == "-":
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
