"""Stage 3, models: the size family and its parameter count N, encoders built or loaded, tokenisation, checkpoints."""
