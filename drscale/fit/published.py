"""The paper's published scaling-law fits, so notebooks and tests can set ours beside them.

Values are those of "Scaling Laws for Dense Retrieval" (Fang et al.): arXiv v1 (the
"contrastive perplexity" version) and the SIGIR version as quoted by secondary sources.
The paper's "R^2" is a Pearson correlation of logs, not a coefficient of determination.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

from drscale.fit import laws

MINIATURE_SIZES = {"Tiny": 512_128, "Mini": 3_422_208, "Small": 13_266_176, "Medium": 25_875_712, "Base": 86_235_648}
"""Non-embedding parameter counts of the five named BERT miniatures (L2/H128 ... L12/H768)."""


@dataclass(frozen=True)
class PublishedLaw:
    """One published fit: which law, on which data set, from which version of the paper."""

    law: str  # "model_size", "data_size" or "joint"
    dataset: str  # "msmarco" or "t2ranking"
    version: str  # "v1" or "sigir"
    params: dict[str, float] = field(hash=False)
    r2_reported: float | None = None

    def __post_init__(self) -> None:
        laws.get(self.law).parameters(self.params, source="params")

    def predict(self, n_params: ArrayLike | None = None, data_size: ArrayLike | None = None) -> np.ndarray:
        """Evaluate the law; pass `n_params`, `data_size` or both, as the law needs."""
        law = laws.get(self.law)
        given = {"n_params": n_params, "data_size": data_size}
        for name in law.variables:
            if given[name] is None:
                raise ValueError(f"the {self.law} law needs `{name}`")
        return law.predict(self.params, *(given[name] for name in law.variables))


PUBLISHED: tuple[PublishedLaw, ...] = (
    PublishedLaw("model_size", "msmarco", "v1", {"a": 4.54e4, "alpha": 0.46, "delta": 0.02}, 0.990),
    PublishedLaw("model_size", "t2ranking", "v1", {"a": 9.88e6, "alpha": 0.53, "delta": 0.14}, 0.999),
    PublishedLaw("data_size", "msmarco", "v1", {"b": 2.37e-2, "beta": 0.19, "delta": 0.01}, 0.971),
    PublishedLaw("data_size", "t2ranking", "v1", {"b": 6.04e4, "beta": 0.50, "delta": 0.15}, 0.991),
    PublishedLaw(
        "joint", "msmarco", "v1", {"a": 8.2e5, "b": 5.2e3, "alpha": 0.57, "beta": 1.39, "delta": 0.03}
    ),
    PublishedLaw("model_size", "msmarco", "sigir", {"a": 3.22e4, "alpha": 0.53, "delta": 0.04}, 0.991),
    PublishedLaw("model_size", "t2ranking", "sigir", {"a": 9.89e6, "alpha": 0.53, "delta": 0.14}),
    # The secondary source quotes no delta for this fit; 0 is assumed so the curve can be drawn.
    PublishedLaw("data_size", "msmarco", "sigir", {"b": 3.49e3, "beta": 1.05, "delta": 0.0}, 0.954),
    PublishedLaw(
        "joint", "msmarco", "sigir", {"a": 3.6e4, "b": 7.1e3, "alpha": 0.56, "beta": 1.31, "delta": 0.03}
    ),
)


def published_law(law: str, dataset: str = "msmarco", version: str = "v1") -> PublishedLaw:
    """Look up one published fit by law, data set and paper version."""
    for entry in PUBLISHED:
        if (entry.law, entry.dataset, entry.version) == (law, dataset, version):
            return entry
    known = sorted({(e.law, e.dataset, e.version) for e in PUBLISHED})
    raise ValueError(f"no published fit for law={law!r}, dataset={dataset!r}, version={version!r}; known: {known}")


PAPER_MEASURED_RANGE = {"n_params": (float(min(MINIATURE_SIZES.values())), float(max(MINIATURE_SIZES.values()))),
                        "data_size": (None, 532_000.0)}
"""(smallest, largest) N and D the paper measured its laws over: N from BERT-Tiny to BERT-Base (its
24 miniatures), D up to MS MARCO's about 532k annotated training pairs. The smallest D of its
data-size sweep is not recorded in the project's reference, so that end is None (unknown).
Its curves and optima beyond these are extrapolations of the paper's, not its measurements."""
