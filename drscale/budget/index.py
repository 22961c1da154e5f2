"""What the search index costs as a function of the embedding dimension d.

    index_usd(d) = storage_usd(d) + search_usd(d)
    storage_usd(d) = P * d * bytes_per_dimension / 1e9 * usd_per_gb_month * months
    search_usd(d)  = Q * P * d * flops_per_passage_dimension * usd_per_flop

P passages are stored as d-dimensional vectors for a number of months, and each of Q
queries is scored against all of them by exact inner-product search (a multiply and an add
per passage and dimension). Both terms are linear in d, which is why a smaller embedding
can pay for a larger encoder (Killingback et al. 2026). Approximate search (IVF, HNSW) or
quantised vectors lower both terms; set `search_flops_per_passage_dimension` or
`bytes_per_dimension` to match.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from drscale.budget.cost import Hardware, _check_positive

BYTES_PER_GB = 1e9
"""A GB as cloud storage is billed: 10^9 bytes."""


@dataclass(frozen=True)
class IndexWorkload:
    """Keeping and searching a dense index of `index_passages` d-dimensional vectors.

    The defaults are assumptions for a reader to change, not measurements:
    - `index_passages` 1e9: a web-scale index of a billion passages (the paper's cost model
      prices encoding a 30-trillion-page index, which no one stores as dense vectors);
    - `bytes_per_dimension` 4: float32 vectors, uncompressed;
    - `storage_usd_per_gb_month` 0.08: a cloud block-SSD price (gp3-class volumes); object
      storage is cheaper (about 0.02), serving the index from RAM far dearer (several USD);
    - `storage_months` 12: the index is kept a year before the encoder is replaced;
    - `queries_served` 1e8 over those months: about 270,000 queries a day;
    - `search_flops_per_passage_dimension` 2: exact inner-product search, a multiply and an
      add per passage and dimension.
    With the paper's hardware (`cost.Hardware()`) and d = 768 these give about 2,900 USD of
    storage and 2,100 USD of search: neither term can be left out.
    """

    index_passages: float = 1e9
    bytes_per_dimension: float = 4.0
    storage_usd_per_gb_month: float = 0.08
    storage_months: float = 12.0
    queries_served: float = 1e8
    search_flops_per_passage_dimension: float = 2.0

    def __post_init__(self) -> None:
        _check_positive(**dataclasses.asdict(self))

    @property
    def storage_usd_per_dimension(self) -> float:
        """Dollars to keep one dimension of every passage's vector for `storage_months`."""
        gb = self.index_passages * self.bytes_per_dimension / BYTES_PER_GB
        return gb * self.storage_usd_per_gb_month * self.storage_months

    def search_usd_per_dimension(self, hardware: Hardware) -> float:
        """Dollars of search compute per dimension over all `queries_served`."""
        flops = self.queries_served * self.index_passages * self.search_flops_per_passage_dimension
        return flops * hardware.usd_per_flop

    def usd_per_dimension(self, hardware: Hardware) -> float:
        """Z_dim: dollars per embedding dimension, storage and search together (`index_usd` is linear in d)."""
        return self.storage_usd_per_dimension + self.search_usd_per_dimension(hardware)

    def storage_usd(self, embedding_dim: ArrayLike) -> np.ndarray:
        """Dollars to store the index at embedding dimension(s) `embedding_dim`."""
        return self.storage_usd_per_dimension * _dims(embedding_dim)

    def search_usd(self, embedding_dim: ArrayLike, hardware: Hardware) -> np.ndarray:
        """Dollars of exact search over the index at `embedding_dim`, the FLOPs priced by `hardware`."""
        return self.search_usd_per_dimension(hardware) * _dims(embedding_dim)

    def index_usd(self, embedding_dim: ArrayLike, hardware: Hardware) -> np.ndarray:
        """Storage plus search, in dollars, at `embedding_dim`."""
        return self.usd_per_dimension(hardware) * _dims(embedding_dim)


def _dims(embedding_dim: ArrayLike) -> np.ndarray:
    d = np.asarray(embedding_dim, dtype=float)
    if np.any(~np.isfinite(d) | (d <= 0)):
        raise ValueError(f"`embedding_dim` must be positive and finite, got {embedding_dim!r}")
    return d
