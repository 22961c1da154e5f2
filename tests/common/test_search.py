"""Golden-section search finds every bracket's minimum at once, and its tie rule decides equal values."""

import numpy as np
import pytest

from drscale.common.search import golden_section


def test_finds_the_minimum_of_many_parabolas_at_once():
    centres = np.array([-2.0, 0.3, 1.0, 7.5])
    found = golden_section(lambda x: (x - centres) ** 2, np.full(4, -10.0), np.full(4, 10.0), iterations=80, tie="low")
    assert found.best == pytest.approx(centres, abs=1e-9)
    assert (found.low <= centres + 1e-9).all() and (centres - 1e-9 <= found.high).all()  # the bracket closes on it
    assert found.middle == pytest.approx(centres, abs=1e-9)


def test_a_minimum_at_the_edge_of_the_bracket_is_approached():
    found = golden_section(lambda x: x, np.array([2.0]), np.array([5.0]), iterations=60, tie="low")
    assert found.best[0] == pytest.approx(2.0, abs=1e-9)


def test_the_tie_rule_keeps_the_side_it_names_on_a_flat_objective():
    flat = lambda x: np.zeros_like(x)  # noqa: E731 - every pair of inner points ties
    low = golden_section(flat, np.array([0.0]), np.array([1.0]), iterations=40, tie="low")
    high = golden_section(flat, np.array([0.0]), np.array([1.0]), iterations=40, tie="high")
    assert low.best[0] < 1e-6 and high.best[0] > 1 - 1e-6


def test_an_unknown_tie_rule_is_refused():
    with pytest.raises(ValueError, match="tie must be 'low' or 'high'; got 'middle'"):
        golden_section(lambda x: x, np.array([0.0]), np.array([1.0]), iterations=1, tie="middle")
