"""Shared arithmetic of the windowed detectors: thresholds from a false-alarm rate, bounds."""

from __future__ import annotations

import math
import random

import pytest

from detectors.rate_shift import RateShiftDetector, RateShiftSpec
from detectors.streaming import (
    binomial_upcrossing_threshold,
    per_test_alpha,
    suffix_change_start,
    wilson_upper,
)


def test_a_stricter_false_alarm_rate_needs_a_higher_count():
    counts = [
        binomial_upcrossing_threshold(0.02, window=500, false_alarms_per_100k=target)
        for target in (1000.0, 100.0, 1.0, 0.01)
    ]
    assert counts == sorted(counts) and counts[0] < counts[-1]
    assert counts[0] > 0.02 * 500  # always above the mean count


def test_upcrossing_threshold_meets_its_false_alarm_rate_on_a_bernoulli_stream():
    """The formula's rate at the chosen count is what a simulated stationary stream shows."""
    window, rate = 200, 0.05
    spec = RateShiftSpec(window_size=window, false_alarms_per_100k=200.0)
    detector = RateShiftDetector(spec, reference_rate=rate)
    c = detector.threshold
    predicted = (
        100_000
        * math.exp(
            math.lgamma(window + 1)
            - math.lgamma(c)
            - math.lgamma(window - c + 2)
            + (c - 1) * math.log(rate)
            + (window - c + 1) * math.log1p(-rate)
        )
        * rate
        * (1 - (c - 1) / window)
    )
    assert predicted <= 200.0
    rng = random.Random(1)
    n = 400_000
    firings = sum(detector.update(rng.random() < rate) for _ in range(n))
    per_100k = firings * 100_000 / n
    # the formula counts every upcrossing; they cluster (the count hovers at the threshold), and
    # a firing restarts the window, so episodes are fewer: the formula bounds them from above
    assert 0.3 * predicted < per_100k <= 1.1 * predicted


def test_wilson_upper_bounds_the_rate():
    assert wilson_upper(0, 0) == 1.0
    assert 0.05 < wilson_upper(50, 1000) < 0.08
    assert wilson_upper(1000, 1000) == pytest.approx(1.0)


def test_rate_out_of_range_is_refused():
    with pytest.raises(ValueError, match="rate must be in"):
        binomial_upcrossing_threshold(0.0, window=10, false_alarms_per_100k=1)


def test_per_test_alpha_is_a_union_bound():
    assert per_test_alpha(1.0, stride=100) == pytest.approx(0.001)


def test_suffix_change_start_finds_the_run_of_hits():
    values = [0] * 50 + [1] * 20
    assert suffix_change_start(values, rate=0.1) == 50
    assert suffix_change_start([0, 0, 0], rate=0.1) == 2  # nothing in excess: the last sample
