"""The parts of `benchmarks/bench_gpu.py`, one measurement each: the device's ceilings, the
training step, runs at once, contrastive entropy and retrieval, and the paper study's cost."""
