"""Exact, fast CPU training: per-generator dropout masks and glibc malloc tuning, used by the training loop."""
