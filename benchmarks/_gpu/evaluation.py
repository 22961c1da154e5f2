"""Contrastive entropy and exact retrieval at the release's scale on the device, checked
against the library on the CPU.

`device_contrastive_entropy` scores the library's own negative draws where the embeddings
are, so its value must equal `drscale.measure.entropy.contrastive_entropy` on the CPU copies;
the library is also called on the device tensors directly, and any failure there is kept
with its traceback rather than stopping the benchmark.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass

import numpy as np
import torch

from _gpu.device import best_of, timed_call
from drscale.measure.entropy import contrastive_entropy, sample_negative_rows
from drscale.measure.ranking import retrieve


@dataclass(frozen=True)
class CEScale:
    """The shapes CE is measured at: the release's scale (7,437 pairs against 1M 768-d
    passages, 256 negatives x 10 repeats), and `checks`, smaller (pairs, pool, CPU route)
    cases measured first, one per route of the library on the CPU, that the device must match."""

    pairs: int = 7437
    pool: int = 1_000_000
    dim: int = 768
    negatives: int = 256
    repeats: int = 10
    checks: tuple[tuple[int, int, str], ...] = ((1000, 4096, "scores"), (1000, 200_000, "sampled"))


TINY_CE = CEScale(pairs=200, pool=20_000, dim=64, negatives=32, repeats=2,
                  checks=((100, 256, "scores"), (100, 20_000, "sampled")))
"""`--tiny`'s shapes: every code path of `CEScale`'s, in seconds on a CPU."""


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


def library_on_device(call) -> dict:
    """Run a library call on device tensors; on an error, keep its traceback."""
    try:
        return {"ok": True, "value": call()}
    except Exception as error:
        return {"ok": False, "error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}


def measure_ce(scale: CEScale, device: torch.device) -> tuple[dict, tuple[torch.Tensor, torch.Tensor]]:
    """CE at `scale` on `device`, by this module's implementation and by the library, each
    against the library on the CPU copies; returns the figures and the full-scale queries and
    pool, which retrieval reuses."""
    config = dict(negatives=scale.negatives, repeats=scale.repeats, seed=1)
    out: dict = {"pairs": scale.pairs, "pool": scale.pool, "dim": scale.dim, **config, "checks": []}
    # smaller cases first: the library on the CPU against both device routes, both CPU routes
    for pairs, pool_size, route in scale.checks:
        q, p, pool = embeddings(pairs, pool_size, scale.dim, device, seed=1)
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
    q, p, pool = embeddings(scale.pairs, scale.pool, scale.dim, device)
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
    out["gathered_bytes"] = scale.pairs * scale.repeats * scale.negatives * scale.dim * 4
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
