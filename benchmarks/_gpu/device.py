"""The device under measurement: its datasheet peak, its measured ceilings and timing that
waits for it.

A step's achieved FLOP/s means something only against the card it ran on, so the bf16 peak
is looked up by the name CUDA reports (`bf16_dense_peak`). Where the name is not in the
table the measured rate of a large bf16 matmul stands in, and the results say which was used.
"""

from __future__ import annotations

import gc
import time

import numpy as np
import torch

BF16_DENSE_PEAKS: tuple[tuple[str, float, str], ...] = (
    ("H200 NVL", 835.5e12, "NVIDIA H200 NVL datasheet: bf16 Tensor Core 1,671 TFLOP/s with sparsity, halved"),
    ("H200", 989.4e12, "NVIDIA H200 SXM datasheet: bf16 Tensor Core 1,979 TFLOP/s with sparsity, halved"),
    ("H100 NVL", 835.5e12, "NVIDIA H100 NVL datasheet: bf16 Tensor Core 1,671 TFLOP/s with sparsity, halved"),
    ("H100 PCIe", 756.5e12, "NVIDIA H100 PCIe datasheet: bf16 Tensor Core 1,513 TFLOP/s with sparsity, halved"),
    ("H100", 989.4e12, "NVIDIA H100 SXM datasheet: bf16 Tensor Core 1,979 TFLOP/s with sparsity, halved"),
    ("A100", 312e12, "NVIDIA A100 datasheet: bf16 Tensor Core 312 TFLOP/s dense"),
)
"""Dense bf16 peaks by a fragment of the device name, the more specific names first (an
"NVIDIA H100 PCIe" is not an SXM "NVIDIA H100 80GB HBM3"). Datasheets quote bf16 with 2:4
sparsity; a dense matmul gets half."""


def bf16_dense_peak(device_name: str) -> tuple[float, str] | None:
    """(FLOP/s, source) of the datasheet's dense bf16 peak for `device_name`, or None when the
    table does not know the device or it is a MIG slice (a fraction of the card's peak)."""
    if "MIG" in device_name:
        return None
    for fragment, flops, source in BF16_DENSE_PEAKS:
        if fragment.lower() in device_name.lower():
            return flops, source
    return None


def reference_peak(device_name: str, measured_bf16_matmul: float | None) -> tuple[float, str]:
    """The peak a step's FLOP/s is stated against: the datasheet's, else the measured bf16
    matmul rate (then a share of 100% means the step runs as fast as a large matmul)."""
    known = bf16_dense_peak(device_name)
    if known is not None:
        return known
    if measured_bf16_matmul is None:
        raise ValueError(f"no datasheet bf16 peak for {device_name!r} and no measured matmul rate to stand in")
    return measured_bf16_matmul, f"no datasheet peak for {device_name!r}: the measured bf16 matmul rate"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def free_memory(device: torch.device) -> None:
    """Hand the device's cached blocks back, after collecting garbage first: a dropped
    SentenceTransformer, or an optimizer tied to its scheduler, lives on in a reference cycle
    until the collector runs, and its tensors with it."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def reset_peak(device: torch.device) -> None:
    """Start a new peak-memory window from what is live now (garbage collected first, so
    earlier runs' cycles do not count)."""
    if device.type == "cuda":
        gc.collect()
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def peak_gib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None


def timed_call(call, device: torch.device) -> tuple[object, float]:
    sync(device)
    start = time.perf_counter()
    result = call()
    sync(device)
    return result, time.perf_counter() - start


def best_of(call, device: torch.device, repeats: int = 2) -> tuple[object, float]:
    runs = [timed_call(call, device) for _ in range(repeats)]
    return runs[0][0], min(seconds for _, seconds in runs)


def median_seconds(call, device: torch.device, repeats: int, warmup: int = 2) -> float:
    """Median seconds of `repeats` timed calls after `warmup` untimed ones."""
    times = [timed_call(call, device)[1] for _ in range(warmup + repeats)]
    return float(np.median(times[warmup:]))


def matmul_rate(dtype: torch.dtype, device: torch.device, n: int, repeats: int = 10) -> float:
    """FLOP/s of an n x n by n x n product on the device (random data; median)."""
    generator = torch.Generator(device).manual_seed(0)
    a = torch.randn(n, n, device=device, generator=generator).to(dtype)
    b = torch.randn(n, n, device=device, generator=generator).to(dtype)
    return 2 * n**3 / median_seconds(lambda: a @ b, device, repeats)


def copy_rate(device: torch.device, megabytes: int) -> float:
    """Bytes read plus written per second by a device-to-device copy (median of 5)."""
    source = torch.randn(megabytes * 2**20 // 4, device=device)
    target = torch.empty_like(source)
    return 2 * source.numel() * 4 / median_seconds(lambda: target.copy_(source), device, repeats=5)


def ceilings(device: torch.device, n: int) -> dict:
    """The rates this device reaches: n^3 matmuls in bf16, fp32 and TF32, and a device copy."""
    measured = {"matmul_n": n, "bf16_matmul_flops": matmul_rate(torch.bfloat16, device, n),
                "fp32_matmul_flops": matmul_rate(torch.float32, device, n, repeats=4),
                "copy_bytes_per_s": copy_rate(device, 4096 if device.type == "cuda" else 64)}
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        try:
            measured["tf32_matmul_flops"] = matmul_rate(torch.float32, device, n, repeats=4)
        finally:
            torch.backends.cuda.matmul.allow_tf32 = False
    return measured


def print_ceilings(measured: dict) -> None:
    tf32 = f", tf32 {measured['tf32_matmul_flops'] / 1e12:.0f}" if "tf32_matmul_flops" in measured else ""
    print(f"measured: bf16 matmul {measured['bf16_matmul_flops'] / 1e12:.1f} TFLOP/s, fp32 "
          f"{measured['fp32_matmul_flops'] / 1e12:.1f}{tf32} ({measured['matmul_n']}^3); "
          f"device copy {measured['copy_bytes_per_s'] / 1e12:.2f} TB/s read+write", flush=True)
