"""NewCategoryDetector: Good-Turing baseline, long tails, bounded memory."""

from __future__ import annotations

import random

from detectors.new_category import NewCategoryDetector, NewCategorySpec


def test_long_tail_of_rare_names_is_not_an_alarm():
    rng = random.Random(13)
    names = [f"c{i}" for i in range(50)]
    weights = [1 / (i + 1) for i in range(50)]
    detector = NewCategoryDetector(NewCategorySpec())
    stream = rng.choices(names, weights=weights, k=50_000)
    assert not any(detector.update(v) for v in stream)


def test_a_new_category_is_named():
    rng = random.Random(14)
    detector = NewCategoryDetector(NewCategorySpec())
    stream = rng.choices("abc", k=2000) + [
        ("zz" if rng.random() < 0.1 else rng.choice("abc")) for _ in range(1000)
    ]
    fired = [i for i, v in enumerate(stream) if detector.update(v)]
    assert fired and fired[0] < 2300
    assert detector.evidence()["new_category_1"] == "zz"


def test_high_cardinality_feature_is_bounded_and_quiet():
    detector = NewCategoryDetector(NewCategorySpec(max_known=100))
    fired = [detector.update(f"id-{i}") for i in range(20_000)]  # every value new
    assert not any(fired)  # the reference already saw only new names: that is its baseline
    assert len(detector.known) <= 100 and len(detector.new) <= 4 * detector.spec.top
