"""Missing rate and type changes as their own signals."""

from __future__ import annotations

import random

from detectors.data_quality import (
    MissingRateDetector,
    MissingRateSpec,
    TypeChangeDetector,
    TypeChangeSpec,
    is_missing,
)


def test_broken_join_reads_as_missing_values():
    rng = random.Random(15)
    missing = MissingRateDetector(MissingRateSpec())
    stream = [rng.gauss(0, 1) for _ in range(2000)] + [
        None if rng.random() < 0.1 else rng.gauss(0, 1) for _ in range(1000)
    ]
    fired = [i for i, x in enumerate(stream) if missing.update(x)]
    assert len(fired) == 1 and fired[0] < 2400
    assert missing.evidence()["recent_rate"] > missing.evidence()["reference_rate"]


def test_a_usual_missing_rate_is_quiet():
    rng = random.Random(16)
    missing = MissingRateDetector(MissingRateSpec())
    assert not any(missing.update(None if rng.random() < 0.2 else 1.0) for _ in range(50_000))


def test_strings_where_numbers_were():
    types = TypeChangeDetector(TypeChangeSpec())
    stream = [1.5] * 2000 + ["1.5" if i % 10 == 0 else 1.5 for i in range(1000)]
    fired = [i for i, x in enumerate(stream) if types.update(x)]
    assert fired and fired[0] < 2300
    stats = types.evidence()
    assert stats["expected_type"] == "number" and stats["observed_type_1"] == "string"


def test_missing_values_do_not_count_as_a_type():
    types = TypeChangeDetector(TypeChangeSpec())
    for _ in range(1000):
        types.update(None)
    assert types.n == 0 and types.rate is None


def test_mixed_int_and_float_is_one_type():
    types = TypeChangeDetector(TypeChangeSpec())
    assert not any(types.update(i if i % 2 else float(i)) for i in range(5000))


def test_is_missing():
    assert is_missing(None) and is_missing(float("nan"))
    assert not is_missing(0) and not is_missing("") and not is_missing(False)
