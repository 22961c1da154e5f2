"""Stage 5, training: TrainConfig and its presets, the training loop, Inverse Cloze pre-training.

`keep_freed_memory()` is the one switch a process turns on for faster CPU training: glibc
then keeps freed memory for reuse (see `drscale.train._cpu.allocator`).
"""

from drscale.train._cpu.allocator import keep_freed_memory

__all__ = ["keep_freed_memory"]
