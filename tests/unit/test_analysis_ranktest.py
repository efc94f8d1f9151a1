"""The operator's own Mann-Whitney U test gives scipy's p-values, exact and asymptotic."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from autoretrain.analysis.ranktest import Alternative, mann_whitney_u

ALTERNATIVES: tuple[Alternative, ...] = ("greater", "less", "two-sided")

# Small integers repeat (ties, the asymptotic path); floats rarely do, and with
# a sample of 8 or fewer they take the exact path.
tied = st.lists(st.integers(0, 6).map(float), min_size=1, max_size=25)
distinct = st.lists(
    st.floats(-1e6, 1e6, allow_nan=False, allow_subnormal=False), min_size=1, max_size=25
)


@settings(max_examples=300)
@given(data=st.data(), values=st.sampled_from([tied, distinct]))
def test_same_statistic_and_p_value_as_scipy(
    data: st.DataObject, values: st.SearchStrategy[list[float]]
) -> None:
    x, y = data.draw(values, label="x"), data.draw(values, label="y")
    for alternative in ALTERNATIVES:
        ours = mann_whitney_u(x, y, alternative)
        theirs = stats.mannwhitneyu(x, y, alternative=alternative)
        assert ours.statistic == float(theirs.statistic)
        assert ours.p_value == pytest.approx(float(theirs.pvalue), rel=1e-9, abs=1e-12)


def test_exact_p_values_for_a_small_sample_against_a_large_one() -> None:
    # One side of 8 against 400: exact, by the Gaussian binomial, still quick.
    x = [float(i) + 0.5 for i in range(0, 800, 100)]
    y = [float(i) for i in range(400)]
    for alternative in ALTERNATIVES:
        ours = mann_whitney_u(x, y, alternative).p_value
        theirs = float(stats.mannwhitneyu(x, y, alternative=alternative).pvalue)
        assert ours == pytest.approx(theirs, rel=1e-9)


def test_every_value_equal_is_no_evidence() -> None:
    assert mann_whitney_u([3.0] * 12, [3.0] * 9).p_value == 1.0


@pytest.mark.parametrize(
    ("x", "y", "message"),
    [([], [1.0], "at least one value"), ([1.0], [math.nan], "finite")],
)
def test_refuses_empty_or_non_finite_samples(x: list[float], y: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        mann_whitney_u(x, y)
