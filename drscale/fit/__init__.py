"""Stage 7, fitting: the paper's laws fitted to sweep tables, with bootstrap intervals and the published values."""
