"""PSI, histogram buckets and the Mann-Whitney judge."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from autoretrain.analysis.statistics import (
    decumulate_buckets,
    distinct_categories,
    mann_whitney,
    population_stability_index,
)

# Counts as increase() reports them: zero, or at least a fraction of one event.
count = st.one_of(st.just(0.0), st.floats(1e-3, 1e6))
counts = st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), count, min_size=1).filter(
    lambda d: sum(d.values()) > 0
)


@given(canary=counts, stable=counts)
def test_psi_is_non_negative_and_symmetric(
    canary: dict[str, float], stable: dict[str, float]
) -> None:
    forward = population_stability_index(canary, stable)
    assert forward >= 0
    assert forward == pytest.approx(population_stability_index(stable, canary))


@given(shares=counts, scale=st.floats(0.01, 1000))
def test_psi_depends_on_shares_not_volume(shares: dict[str, float], scale: float) -> None:
    scaled = {k: v * scale for k, v in shares.items()}
    assert population_stability_index(scaled, shares) == pytest.approx(0.0, abs=1e-9)


def test_a_collapsed_canary_is_a_large_shift_a_similar_one_is_not() -> None:
    stable = {"no": 700.0, "yes": 300.0}
    assert population_stability_index({"no": 100.0}, stable) > 2.0
    assert population_stability_index({"no": 68.0, "yes": 32.0}, stable) < 0.01


def test_psi_needs_observations_on_both_sides() -> None:
    with pytest.raises(ValueError, match="at least one observation"):
        population_stability_index({"a": 0.0}, {"a": 3.0})


def test_buckets_and_categories() -> None:
    cumulative = {"0.1": 2.0, "1.0": 2.0, "+Inf": 9.0, "-1.0": 0.0}
    assert decumulate_buckets(cumulative) == {"-1.0": 0.0, "0.1": 2.0, "1.0": 0.0, "+Inf": 7.0}
    assert distinct_categories(decumulate_buckets(cumulative)) == 2
    # increase() extrapolates per bucket; an inversion never makes a negative count
    assert decumulate_buckets({"1": 5.2, "+Inf": 5.0}) == {"1": 5.2, "+Inf": 0.0}


rng = np.random.default_rng(11)
BASE = rng.normal(0.10, 0.01, 30).tolist()
HIGHER = rng.normal(0.13, 0.01, 30).tolist()


@pytest.mark.parametrize(
    ("canary", "stable", "direction", "failed"),
    [
        (HIGHER, BASE, "Increase", True),
        (HIGHER, BASE, "Decrease", False),
        (HIGHER, BASE, "Either", True),
        (BASE, HIGHER, "Decrease", True),
        (BASE, BASE[::-1], "Either", False),
    ],
)
def test_mann_whitney_directions(
    canary: list[float], stable: list[float], direction: str, failed: bool
) -> None:
    outcome = mann_whitney(canary, stable, direction=direction, confidence=0.99)  # type: ignore[arg-type]
    assert outcome.failed is failed
    assert ("not worse than" in outcome.describe()) is not failed


def test_tolerance_lets_a_small_significant_change_pass() -> None:
    assert mann_whitney(HIGHER, BASE, direction="Increase", confidence=0.99).failed
    tolerant = mann_whitney(HIGHER, BASE, direction="Increase", confidence=0.99, tolerance=0.5)
    assert not tolerant.failed
    assert tolerant.p_value < 0.01


def test_errors_that_only_the_canary_has_fail_even_with_equal_medians() -> None:
    stable = [0.0] * 20
    canary = [0.0] * 11 + [0.2] * 9
    outcome = mann_whitney(canary, stable, direction="Increase", confidence=0.95)
    assert outcome.canary_median == outcome.stable_median == 0.0
    assert outcome.failed


def test_identical_constant_samples_are_no_evidence() -> None:
    outcome = mann_whitney([1.0] * 10, [1.0] * 10, direction="Either", confidence=0.95)
    assert (outcome.failed, outcome.p_value) == (False, 1.0)
