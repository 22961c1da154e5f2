"""Stage 5, training: TrainConfig and its presets, the training loop, Inverse Cloze pre-training."""
