"""Exact, fast CPU training: per-generator dropout masks, which the training loop swaps in, and glibc malloc tuning, which a process opts into."""
