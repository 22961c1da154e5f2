"""Studies that test a claim of the paper with the pipeline: annotation quality, metric agreement."""
