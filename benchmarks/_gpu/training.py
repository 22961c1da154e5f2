"""The paper preset's training step, measured: time, FLOPs, memory, and where the time goes.

Token data is synthetic (`synthetic_tokens`): random ids with every query and passage at its
maximum length, so each step has the largest shapes the preset allows. Times are read over a
window that starts after a loss read and ends with one (`steady_step_seconds`), because
`train` waits for the device only when it reads the loss.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from _gpu.device import free_memory, peak_gib, reset_peak, sync, timed_call
from drscale.model.encoder import PAPER_MINIATURES, build_encoder, n_params
from drscale.model.tokens import TokenizedData
from drscale.train.config import PRECISIONS, TrainConfig
from drscale.train.loop import LOSS_READ_EVERY, batch_order, contrastive_loss, step_rows, to_device, train

TF32_SIZES = ("L4_H256", "L6_H512", "L12_H768")
"""Sizes also timed in float32 with TF32 matmuls (on CUDA)."""
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

    def host_part(batch: np.ndarray) -> None:
        query_rows, rows, index = step_rows(pairs, batch, rng, len(tokens.passages), config.negatives)
        for features in (tokens.query_batch(query_rows), tokens.passage_batch(rows)):
            for value in features.values():
                to_device(value, device)
        to_device(torch.from_numpy(index), device)

    return float(np.median([timed_call(partial(host_part, order[step]), device)[1] for step in range(steps)]))


def profile_step(model: torch.nn.Module, tokens: TokenizedData, pairs: np.ndarray, config: TrainConfig,
                 device: torch.device, steps: int = 3) -> dict:
    """Kernels launched and their summed device time per step, over `steps` steps of `train`
    (after one unprofiled step), against the steps' wall time: the device's busy share."""
    from torch.profiler import ProfilerActivity, profile

    train(model, tokens, pairs, replace(config, steps=1), device=device, progress=False)
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        result = train(model, tokens, pairs, replace(config, steps=steps), device=device, progress=False)
    # kernels and copies; not the device-side spans of record_function regions (the optimizer's
    # step, zero_grad), which cover kernels already counted, as torch's own table leaves them out
    on_device = [e for e in prof.events()
                 if e.device_type == torch.autograd.DeviceType.CUDA and not e.is_user_annotation]
    kernels = len(on_device)
    kernel_s = sum(e.self_device_time_total for e in on_device) / 1e6  # microseconds
    wall = sum(result.step_seconds)
    return {"kernels_per_step": kernels / steps, "kernel_s_per_step": kernel_s / steps,
            "profiled_step_s": wall / steps, "device_busy": kernel_s / wall}


def measure_size(size: str, tokens: TokenizedData, pairs: np.ndarray, base: TrainConfig, device: torch.device,
                 peak: float, steps: tuple[int, int] | None = None, profile: bool = False, tf32: bool = False) -> dict:
    """Every training figure of one miniature: FLOPs a step; steps/s, pairs/s, share of `peak`
    and peak memory in float32 and bfloat16; bf16 reading the loss every step (the baseline)
    and device-bound; TF32 where asked; the profile and the host's waits where asked.
    `steps` is (warm-up, timed), by default `schedule(size)`."""
    warmup, timed = steps or schedule(size)
    started = time.perf_counter()
    model = build_encoder(size, seed=0)
    build_s = time.perf_counter() - started
    record = {"size": size, "n_params": n_params(size), "warmup_steps": warmup, "timed_steps": timed, "build_s": build_s}
    bf16 = replace(base, steps=timed, precision="bfloat16")
    record["flops_per_step"] = step_flops(model, tokens, pairs, bf16, device)
    for precision in ("float32", "bfloat16"):
        record[precision] = timed_train(model, tokens, pairs, replace(base, steps=timed, precision=precision), device, warmup)
    record["bf16_read_every_step"] = timed_train(model, tokens, pairs, bf16, device, warmup, read_every=1)
    if tf32 and device.type == "cuda":
        previous = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = True
        try:
            record["tf32"] = timed_train(model, tokens, pairs, replace(base, steps=timed, precision="float32"), device, warmup)
        except Exception as error:  # a diagnostic: report, carry on
            record["tf32_error"] = f"{type(error).__name__}: {error}"
        finally:
            torch.backends.cuda.matmul.allow_tf32 = previous
    record["bf16_device_bound_step_s"] = device_bound_step(model, tokens, pairs, bf16, device, warmup, timed)
    if profile:
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
            r["of_bf16_peak"] = r["flop_per_s"] / peak
    record["seconds"] = time.perf_counter() - started
    del model
    free_memory(device)
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
