"""RateShiftDetector: reference phase, one-sided firing, re-baseline, snapshots."""

from __future__ import annotations

import pickle
import random

from detectors.rate_shift import RateShiftDetector, RateShiftSpec


def _bits(rng: random.Random, n: int, p: float) -> list[bool]:
    return [rng.random() < p for _ in range(n)]


def test_no_firing_while_learning_the_reference():
    detector = RateShiftDetector(RateShiftSpec(reference_size=100))
    assert not any(detector.update(True) for _ in range(100))
    assert detector.armed


def test_a_falling_rate_is_not_an_alarm():
    rng = random.Random(2)
    detector = RateShiftDetector(RateShiftSpec())
    stream = _bits(rng, 2000, 0.2) + _bits(rng, 3000, 0.0)
    assert not any(detector.update(b) for b in stream)


def test_fires_once_then_rebaselines_on_the_new_rate():
    rng = random.Random(3)
    detector = RateShiftDetector(RateShiftSpec())
    stream = _bits(rng, 2000, 0.01) + _bits(rng, 8000, 0.2)
    fired = [i for i, b in enumerate(stream) if detector.update(b)]
    assert len(fired) == 1 and 2000 < fired[0] < 2200
    assert detector.n == len(stream) - fired[0] - 1  # counting again from the firing
    stats = detector.evidence()
    assert stats["window_count"] >= stats["threshold_count"]
    assert 2000 - 30 <= fired[0] - detector.change_lag <= 2000 + 30


def test_given_reference_rate_starts_armed():
    detector = RateShiftDetector(RateShiftSpec(), reference_rate=0.1)
    assert detector.armed and detector.n == 0
    assert detector.rate == 0.1


def test_min_rate_floors_an_empty_reference():
    detector = RateShiftDetector(RateShiftSpec(min_rate=0.05, reference_size=100))
    for _ in range(100):
        detector.update(False)
    assert detector.rate >= 0.05


def test_snapshot_resumes_identically():
    rng = random.Random(4)
    stream = _bits(rng, 1500, 0.01) + _bits(rng, 1500, 0.1)
    a = RateShiftDetector(RateShiftSpec())
    for b in stream[:1200]:
        a.update(b)
    b_ = pickle.loads(pickle.dumps(a))
    assert [a.update(x) for x in stream[1200:]] == [b_.update(x) for x in stream[1200:]]
    assert a.evidence() == b_.evidence()
