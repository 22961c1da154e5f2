"""drscale: scaling laws for dense retrieval, from data to budget allocation."""

__version__ = "0.1.0"
