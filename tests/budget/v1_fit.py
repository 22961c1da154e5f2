"""The paper's v1 joint law as a `FitResult`, with log-normal scatter on every parameter as its bootstrap.

Budget tests need a fit with known parameters, so the optima it gives can be set beside the
paper's; building the result itself (instead of fitting runs) keeps them exact and quick.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from drscale.fit import laws
from drscale.fit import published
from drscale.fit.result import FitResult

V1 = published.published_law("joint", "msmarco", "v1")


def v1_fit(n_samples: int = 400, seed: int = 0) -> FitResult:
    """The v1 law on a 4 x 4 grid of runs that lie on it, `n_samples` resamples scattered by 3%."""
    rng = np.random.default_rng(seed)
    bootstrap = pd.DataFrame({k: v * np.exp(rng.normal(0, 0.03, n_samples)) for k, v in V1.params.items()})
    n, d = (g.ravel() for g in np.meshgrid(np.geomspace(1e6, 1e9, 4), np.geomspace(1e3, 1e6, 4)))
    return FitResult(law="joint", title=laws.LAWS["joint"].title, method="lmfit", description="the paper's v1 law",
                     variables={"n_params": n, "data_size": d}, ce=V1.predict(n, d), params=dict(V1.params),
                     converged=True, level=0.95, seed=seed, bootstrap=bootstrap, r2={"linear": 1.0, "log": 1.0},
                     extrapolation=None, route_check=None)
