"""Stage 8, budget: the cost model, budget-optimal (N, D), and the interactive panel."""
