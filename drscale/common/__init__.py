"""Low-level helpers every stage uses: atomic file writes, config hashing, devices and threads, value checks."""
