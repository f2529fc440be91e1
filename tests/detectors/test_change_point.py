"""Change-point estimators read River's own state: checked against River and against the truth."""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable
from typing import Any

import pytest
from river.drift import ADWIN, KSWIN, PageHinkley
from river.drift.binary import DDM, EDDM, HDDMA, HDDMW

from detectors.change_point import SampleTrail, estimator_for, mean_shift_change_point
from detectors.contracts import ChangePoint, DriftEvent, Source

CHANGE = 3000  # 0-based index of the first shifted sample


def _errors(seed: int, before: float = 0.1, after: float = 0.3, n: int = 6000) -> list[int]:
    rng = random.Random(seed)
    return [int(rng.random() < (before if i < CHANGE else after)) for i in range(n)]


def _first_detection_after_change(detector: Any, values: list[float]) -> tuple[int, int, int]:
    """(1-based sample of the detection, of the estimated change point, of River's last reset)."""
    estimator = estimator_for(detector)
    reset_at = 0
    for i, x in enumerate(values, start=1):
        detector.update(x)
        n = i - reset_at
        if estimator.per_update:
            estimator.observe(detector, n)
        if detector.drift_detected:
            point = reset_at + estimator.at_drift(detector, n)
            if i > CHANGE:
                return i, point, reset_at
            reset_at = i
    raise AssertionError("no detection after the change")


def test_hddm_a_is_rivers_cut_point() -> None:
    detector = HDDMA()
    fired, point, reset_at = _first_detection_after_change(detector, _errors(1))
    assert point == reset_at + int(detector._x_min.n) + 1
    assert point <= fired


def test_adwin_is_the_start_of_the_window_river_kept() -> None:
    detector = ADWIN()
    fired, point, _ = _first_detection_after_change(detector, _errors(2))
    assert point == fired - int(detector.width) + 1


def test_page_hinkley_is_the_minimum_of_rivers_cumulative_sum() -> None:
    values = [float(x) for x in _errors(3)]
    detector = PageHinkley()
    fired, point, reset_at = _first_detection_after_change(detector, values)
    # the same sums by hand, from River's last reset
    mean, total, lowest, argmin = 0.0, 0.0, float("inf"), 0
    for k, x in enumerate(values[reset_at:fired], start=1):
        mean += (x - mean) / k
        total = detector.alpha * total + (x - mean) - detector.delta
        if total <= lowest:
            lowest, argmin = total, k
    assert point == reset_at + argmin + 1


def test_ddm_is_the_first_sample_of_rivers_warning_run() -> None:
    values = _errors(4)
    detector = DDM()
    fired, point, reset_at = _first_detection_after_change(detector, values)
    replay = DDM()
    flags = []
    for x in values[reset_at:fired]:
        replay.update(x)
        flags.append(replay.warning_detected)
    flags[-1] = True  # River clears the warning at the drift itself
    run_start = len(flags)
    while run_start > 0 and flags[run_start - 1]:
        run_start -= 1
    assert point == reset_at + run_start + 1


@pytest.mark.parametrize(
    "make",
    [DDM, EDDM, HDDMA, HDDMW, ADWIN, PageHinkley],
    ids=["ddm", "eddm", "hddm_a", "hddm_w", "adwin", "page_hinkley"],
)
def test_estimate_lies_before_the_detection_and_least_squares_refines_it(
    make: Callable[[], Any],
) -> None:
    raw, refined = [], []
    for seed in range(10):
        values = _errors(100 + seed)
        fired, point, reset_at = _first_detection_after_change(make(), values)
        assert reset_at < point <= fired
        raw.append(abs(point - (CHANGE + 1)))
        start = max(reset_at, fired - 4096)
        refined.append(abs(start + mean_shift_change_point(values[start:fired], "up")
                           - (CHANGE + 1)))
    assert statistics.median(refined) <= 30
    assert statistics.median(refined) <= statistics.median(raw)


def test_kswin_is_its_recent_window() -> None:
    detector = KSWIN(seed=1, window_size=100, stat_size=30)
    values = [random.Random(5).gauss(0 if i < 500 else 3, 1) for i in range(1000)]
    estimator = estimator_for(detector)
    for n, x in enumerate(values, start=1):
        detector.update(x)
        if detector.drift_detected and n > 500:
            assert estimator.at_drift(detector, n) == n - 29
            return
    raise AssertionError("KSWIN did not fire")


def test_unknown_detector() -> None:
    with pytest.raises(ValueError, match="no change-point estimator for River's object"):
        estimator_for(object())


def test_mean_shift_direction_and_edges() -> None:
    assert mean_shift_change_point([]) == 1
    assert mean_shift_change_point([1.0, 1.0, 0.0, 0.0], direction="down") == 3
    assert mean_shift_change_point([1.0, 1.0, 0.0, 0.0], direction="up") == 1
    assert mean_shift_change_point([0.0, 0.0, 1.0, 1.0], direction="both") == 3


def test_sample_trail_wraps_and_locates() -> None:
    trail = SampleTrail(every=1, capacity=5)
    for count in range(1, 13):
        trail.record(count, 1000 * count, Source(topic="labels", partition=2, offset=count + 40))
    assert trail.kept == [8, 9, 10, 11, 12]
    found = trail.locate(10)
    assert found is not None and found[1] == Source(topic="labels", partition=2, offset=50)
    assert found[0].timestamp() == 10.0
    assert trail.locate(7) is None
    assert trail.locate(99) is not None and trail.locate(99)[1].offset == 52  # type: ignore[index]
    with pytest.raises(ValueError, match="positive"):
        SampleTrail(every=0)


def test_drift_event_change_point_is_optional_and_round_trips() -> None:
    base = {"event_id": "de-1", "kind": "concept", "severity": "drift", "model_id": "m",
            "model_version": "v1", "signal": "error", "detector": "ddm",
            "detected_at": 1_700_000_000_000, "published_at": 1_700_000_000_000,
            "samples_seen": 10, "source": {"topic": "t", "partition": 0, "offset": 5}}
    old = DriftEvent.model_validate(base)
    assert old.change_point is None
    event = DriftEvent.model_validate({**base, "change_point": {
        "at": "2023-11-14T22:13:19Z", "source": {"topic": "t", "partition": 0, "offset": 3},
        "samples": 3, "estimator": "ddm_warning"}})
    assert DriftEvent.model_validate_json(event.model_dump_json()) == event
    assert isinstance(event.change_point, ChangePoint) and event.change_point.samples == 3


def test_recent_bits_refine_a_detectors_estimate() -> None:
    from detectors.change_point import RecentBits

    values = _errors(11)
    bits = RecentBits(capacity=4096)
    detector = ADWIN()
    estimator = estimator_for(detector)
    for n, x in enumerate(values, start=1):
        detector.update(x)
        bits.append(x)
        if detector.drift_detected and n > CHANGE:
            raw = estimator.at_drift(detector, n)
            refined = bits.change_point(n=n, since=n)
            assert abs(refined - (CHANGE + 1)) <= 30 < abs(raw - (CHANGE + 1))
            return
    raise AssertionError("ADWIN did not fire")


def test_recent_bits_wrap() -> None:
    from detectors.change_point import RecentBits

    bits = RecentBits(capacity=4)
    assert bits.values(3) == []
    for x in [1, 0, 1, 1, 0, 0]:
        bits.append(x)
    assert bits.values(10) == [1, 1, 0, 0] and bits.values(2) == [0, 0]
