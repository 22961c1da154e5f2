"""Stage 6, sweeps: many runs over model and data sizes, each recorded once in a results store."""
