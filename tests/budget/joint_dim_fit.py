"""A planted joint_dim law as a `FitResult`, with log-normal scatter on every parameter as its bootstrap.

Budget tests need a fit with known parameters, so the optima it gives can be checked against a
brute-force search; building the result itself (instead of fitting runs) keeps them exact and quick.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from drscale.fit import laws
from drscale.fit.result import FitResult

TRUE = {"a": 2e5, "c": 60.0, "alpha": 0.4, "gamma": 0.7, "delta": 1.2}


def joint_dim_fit(n_samples: int = 200, seed: int = 0) -> FitResult:
    """The planted law on a 4 x 4 grid of runs (N 1e4..1e7, d 8..1024), resamples scattered by 3%."""
    rng = np.random.default_rng(seed)
    bootstrap = pd.DataFrame({k: v * np.exp(rng.normal(0, 0.03, n_samples)) for k, v in TRUE.items()})
    n, d = (g.ravel() for g in np.meshgrid(np.geomspace(1e4, 1e7, 4), [8.0, 64.0, 256.0, 1024.0]))
    return FitResult(law="joint_dim", title=laws.LAWS["joint_dim"].title, method="lmfit", description="planted",
                     variables={"encoder_params": n, "embedding_dim": d}, ce=laws.joint_dim_law(n, d, **TRUE),
                     params=dict(TRUE), converged=True, level=0.95, seed=seed, bootstrap=bootstrap,
                     r2={"linear": 1.0, "log": 1.0}, extrapolation=None, route_check=None)
