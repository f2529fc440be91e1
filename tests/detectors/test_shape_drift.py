"""ShapeDriftDetector: spread changes the mean detector cannot see, ties, constants, NaN."""

from __future__ import annotations

import pickle
import random

from river import drift

from detectors.shape_drift import ShapeDriftDetector, ShapeDriftSpec


def _first(detector, stream):
    return next((i for i, x in enumerate(stream) if detector.update(x)), None)


def test_variance_doubling_is_caught_where_adwin_on_the_mean_is_not():
    rng = random.Random(9)
    stream = [rng.gauss(0, 1) for _ in range(3000)] + [rng.gauss(0, 2**0.5) for _ in range(1000)]
    fired = _first(ShapeDriftDetector(ShapeDriftSpec()), stream)
    assert fired is not None and 3000 < fired < 3700
    adwin = drift.ADWIN(delta=0.0002)
    adwin_fired = []
    for i, x in enumerate(stream):
        adwin.update(x)
        if adwin.drift_detected:
            adwin_fired.append(i)
    assert adwin_fired == []


def test_evidence_reports_the_spread_and_the_outer_bins():
    rng = random.Random(10)
    detector = ShapeDriftDetector(ShapeDriftSpec())
    stream = [rng.gauss(5, 1) for _ in range(2000)] + [rng.gauss(5, 3) for _ in range(1000)]
    assert _first(detector, stream) is not None
    stats = detector.evidence()
    assert stats["std_ratio"] > 1.5
    assert "inf" in stats["category_1"]  # an outer bin moved most
    assert abs(stats["reference_mean"] - 5) < 0.2


def test_integer_feature_with_ties_is_quiet_when_stationary():
    rng = random.Random(11)
    stream = [float(sum(rng.random() < 0.3 for _ in range(4))) for _ in range(20_000)]
    assert _first(ShapeDriftDetector(ShapeDriftSpec()), stream) is None


def test_a_constant_feature_that_starts_varying_fires():
    stream = [3.0] * 2000 + [3.0 if i % 5 else 4.0 for i in range(1000)]
    detector = ShapeDriftDetector(ShapeDriftSpec())
    assert _first(detector, stream) is not None
    assert detector.evidence()["category_1"] == "=3"


def test_nan_is_ignored():
    detector = ShapeDriftDetector(ShapeDriftSpec())
    assert not detector.update(float("nan"))
    assert detector.n == 0


def test_snapshot_resumes_identically():
    rng = random.Random(12)
    stream = [rng.gauss(0, 1) for _ in range(2000)] + [rng.gauss(0, 2) for _ in range(1000)]
    a = ShapeDriftDetector(ShapeDriftSpec())
    for x in stream[:1500]:
        a.update(x)
    b = pickle.loads(pickle.dumps(a))
    assert [a.update(x) for x in stream[1500:]] == [b.update(x) for x in stream[1500:]]
    assert a.evidence() == b.evidence()
