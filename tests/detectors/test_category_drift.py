"""CategoryDriftDetector: bounded bins, training reference, false alarms, evidence."""

from __future__ import annotations

import json
import pickle
import random

import pytest

from detectors.category_drift import OTHER, CategoryDriftDetector, CategoryDriftSpec


def _draw(rng: random.Random, names: list, weights: list[float], n: int) -> list:
    return rng.choices(names, weights=weights, k=n)


def test_country_switching_from_de_to_us_is_named():
    detector = CategoryDriftDetector(CategoryDriftSpec())
    stream = ["DE"] * 2000 + ["US"] * 500
    fired = [i for i, v in enumerate(stream) if detector.update(v)]
    assert len(fired) == 1 and fired[0] < 2100
    stats = detector.evidence()
    assert {stats["category_1"], stats["category_2"]} == {"DE", OTHER}
    json.dumps(stats)  # JSON-safe, flat
    assert all(isinstance(v, str | int | float | bool) or v is None for v in stats.values())


def test_booleans_are_two_categories():
    rng = random.Random(5)
    detector = CategoryDriftDetector(CategoryDriftSpec())
    stream = [rng.random() < 0.5 for _ in range(2000)] + [rng.random() < 0.7 for _ in range(1000)]
    fired = [i for i, v in enumerate(stream) if detector.update(v)]
    assert fired and 2000 < fired[0] < 2600
    assert detector.evidence()["df"] == 1


def test_memory_is_bounded_by_the_spec():
    spec = CategoryDriftSpec(max_categories=5, max_reference_categories=50, reference_size=1000)
    detector = CategoryDriftDetector(spec)
    for i in range(1000):
        detector.update(f"user-{i}")  # every value distinct
        assert len(detector.ref_counts) <= 50
    assert len(detector.reference) <= 6 and len(detector.ring) == spec.window_size
    assert detector.ref_counts == {}


@pytest.mark.parametrize("k", [3, 10, 50])
def test_stationary_false_alarm_rate_follows_the_setting(k):
    """A loose setting (500 per 100k) so a short stream shows it; the default is 0.5."""
    rng = random.Random(k)
    names = [f"c{i}" for i in range(k)]
    weights = [1 / (i + 1) for i in range(k)]
    spec = CategoryDriftSpec(false_alarms_per_100k=500.0)
    detector = CategoryDriftDetector(spec)
    n = 60_000
    firings = sum(detector.update(v) for v in _draw(rng, names, weights, n))
    assert firings * 100_000 / n <= 500 * 2


def test_reference_from_a_training_distribution_is_armed_and_scaled():
    spec = CategoryDriftSpec()
    detector = CategoryDriftDetector.from_counts(spec, {"a": 600_000, "b": 300_000, "c": 100_000})
    assert detector.armed and sum(detector.reference) == pytest.approx(spec.reference_size)
    rng = random.Random(6)
    quiet = _draw(rng, ["a", "b", "c"], [6, 3, 1], 3000)
    assert not any(detector.update(v) for v in quiet)
    moved = _draw(rng, ["a", "b", "c"], [3, 3, 4], 1000)
    assert any(detector.update(v) for v in moved)


def test_an_empty_reference_is_refused():
    with pytest.raises(ValueError, match="positive total"):
        CategoryDriftDetector.from_counts(CategoryDriftSpec(), {"a": 0})


def test_snapshot_resumes_identically():
    rng = random.Random(7)
    stream = _draw(rng, "xyz", [5, 3, 2], 2000) + _draw(rng, "xyz", [2, 3, 5], 1000)
    a = CategoryDriftDetector(CategoryDriftSpec())
    for v in stream[:1700]:
        a.update(v)
    b = pickle.loads(pickle.dumps(a))
    assert [a.update(v) for v in stream[1700:]] == [b.update(v) for v in stream[1700:]]
    assert a.evidence() == b.evidence() and a.change_lag == b.change_lag
