"""The index's cost in the embedding dimension: storage and exact search, computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from drscale.budget import cost
from drscale.budget.index import IndexWorkload

# 1,000 passages kept 2 months at 0.5 USD per GB-month, 10 queries; a FLOP at 3.6 USD / (1e12 x 3600 x 0.5) = 2e-15 USD
SMALL = IndexWorkload(index_passages=1000, bytes_per_dimension=4, storage_usd_per_gb_month=0.5, storage_months=2,
                      queries_served=10, search_flops_per_passage_dimension=2)
HARDWARE = cost.Hardware(gpu_hour_usd=3.6, peak_flops_per_s=1e12, utilisation=0.5)


def test_a_small_index_costs_what_is_computed_by_hand() -> None:
    assert HARDWARE.usd_per_flop == pytest.approx(2e-15)
    # 1,000 x 100 dimensions x 4 bytes = 4e5 bytes = 4e-4 GB, for 2 months at 0.5 USD
    assert SMALL.storage_usd(100) == pytest.approx(4e-4 * 0.5 * 2)
    # 10 queries x 1,000 passages x 100 dimensions x 2 FLOPs = 2e6 FLOPs at 2e-15 USD
    assert SMALL.search_usd(100, HARDWARE) == pytest.approx(2e6 * 2e-15)
    assert SMALL.index_usd(100, HARDWARE) == pytest.approx(4e-4 + 4e-9)


def test_costs_are_vectorised_and_linear_in_d() -> None:
    d = np.array([16.0, 128.0, 768.0])
    np.testing.assert_allclose(SMALL.index_usd(d, HARDWARE), SMALL.usd_per_dimension(HARDWARE) * d)
    np.testing.assert_allclose(SMALL.storage_usd(d) + SMALL.search_usd(d, HARDWARE), SMALL.index_usd(d, HARDWARE))
    assert SMALL.index_usd(d, HARDWARE)[2] == pytest.approx(6 * SMALL.index_usd(128, HARDWARE))


def test_defaults_give_storage_and_search_of_one_order_at_768_dimensions() -> None:
    default = IndexWorkload()
    assert (default.index_passages, default.bytes_per_dimension, default.storage_months) == (1e9, 4.0, 12.0)
    # 1e9 x 768 x 4 bytes = 3,072 GB at 0.08 USD for 12 months
    assert default.storage_usd(768) == pytest.approx(3072 * 0.08 * 12)
    # 1e8 queries x 1e9 passages x 768 x 2 FLOPs at the paper's A100 price per FLOP
    assert default.search_usd(768, cost.Hardware()) == pytest.approx(1e8 * 1e9 * 768 * 2 * cost.Hardware().usd_per_flop)
    assert 0.5 < default.storage_usd(768) / default.search_usd(768, cost.Hardware()) < 2


@pytest.mark.parametrize("field", ["index_passages", "bytes_per_dimension", "storage_usd_per_gb_month",
                                   "storage_months", "queries_served", "search_flops_per_passage_dimension"])
@pytest.mark.parametrize("value", [0.0, -1.0, float("nan"), float("inf")])
def test_a_bad_assumption_is_refused_naming_it(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        IndexWorkload(**{field: value})


def test_a_bad_dimension_is_refused() -> None:
    with pytest.raises(ValueError, match="embedding_dim"):
        SMALL.storage_usd([128, 0])
