"""Devices and thread counts: which torch device a run uses, and a run's fixed thread count."""

from __future__ import annotations

import contextlib

import torch


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """The device asked for, else CUDA when present, else the CPU; a device that is not a
    torch device, or not on this machine, is refused here rather than at the first tensor."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    chosen = device_named(device)
    if chosen.type == "cuda" and not (torch.cuda.is_available() and (chosen.index or 0) < torch.cuda.device_count()):
        raise ValueError(f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s) "
                         f"(torch.cuda.is_available() is {torch.cuda.is_available()}); use 'cpu' or None")
    return chosen


def device_named(device: str | torch.device) -> torch.device:
    """The torch device `device` names, whether or not this machine has it (a sweep run on a
    cluster names the workers' device); a name torch does not know is refused."""
    try:
        return torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device {device!r} is not a torch device: use 'cpu', 'cuda', 'cuda:N' or None "
                         f"(CUDA where present, else the CPU)") from None


@contextlib.contextmanager
def fixed_threads(threads: int):
    """Run the block with `threads` torch threads, then restore the previous count.

    CPU kernels sum in an order that depends on the thread count, so the same run at 1 and
    2 threads differs in the last digits: a run's thread count is part of its configuration.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
