"""The published fits evaluate to the paper's own sanity values."""

import numpy as np
import pytest

from drscale.fit.published import MINIATURE_SIZES, PUBLISHED, published_law


def test_v1_model_size_law_at_the_named_miniatures() -> None:
    law = published_law("model_size", "msmarco", "v1")
    sizes = [MINIATURE_SIZES[name] for name in ("Tiny", "Mini", "Small", "Medium", "Base")]
    assert np.round(law.predict(n_params=sizes), 3).tolist() == [0.348, 0.157, 0.093, 0.074, 0.051]


def test_every_published_law_evaluates_to_positive_finite_losses() -> None:
    for entry in PUBLISHED:
        values = entry.predict(n_params=[1e6, 1e8], data_size=[1e4, 1e5])
        assert np.all(np.isfinite(values)) and np.all(values > 0), entry


def test_unknown_fit_and_missing_variable_are_refused() -> None:
    with pytest.raises(ValueError, match="no published fit for law='joint', dataset='t2ranking'"):
        published_law("joint", "t2ranking")
    with pytest.raises(ValueError, match="needs `data_size`"):
        published_law("data_size").predict(n_params=[1e6])
