"""Calibration's threshold choice (:mod:`detectors.calibration`): the step-down walk, its
shortcut, and what a result says when its target is out of reach. Deterministic seeds, no timing."""

from __future__ import annotations

import random

import pytest

from detectors.calibration import (
    ADWIN_GRID,
    BLOCKS,
    _candidates,
    _false_alarms,
    _watcher,
    allowed_alarms,
    calibrate_sequences,
    select_threshold,
    step_down,
)
from detectors.river_detectors import ADWINSpec


def _most_sensitive_passing(counts: list[int], allowed: int) -> int:
    """The rule calibration used before: the first (most sensitive) candidate that passes."""
    return next(i for i, c in enumerate(counts) if c <= allowed)


def test_a_lucky_quiet_bootstrap_does_not_choose_a_too_sensitive_value() -> None:
    # Index 1 is quiet on its bootstrap by luck; index 2, less sensitive, is not: the rate is
    # not below target down there. The old rule took index 1; step-down stops at index 2.
    counts = [3, 0, 4, 2, 0, 0, 0, 0, 0, 0, 0]
    assert _most_sensitive_passing(counts, allowed=0) == 1
    assert step_down(list(range(11)), counts.__getitem__, allowed=0) == (4, True)


def test_step_down_never_tries_a_candidate_past_the_first_failure() -> None:
    tried: list[int] = []
    counts = [0, 0, 0, 5, 0, 0]

    def alarms(i: int) -> int:
        tried.append(i)
        return counts[i]

    assert step_down(list(range(6)), alarms, allowed=0) == (4, True)
    assert tried == [5, 4, 3]


def test_nothing_passing_keeps_the_least_sensitive_and_says_not_met() -> None:
    assert step_down(list(range(4)), [9, 9, 9, 1].__getitem__, allowed=0) == (3, False)
    assert step_down(list(range(4)), [9, 9, 9, 1].__getitem__, 0, lambda i: False) == (3, False)


def _bernoulli(n: int, p: float, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [1.0 if rng.random() < p else 0.0 for _ in range(n)]


@pytest.mark.parametrize("seed", [1, 2])
def test_the_quiet_shortcut_makes_the_same_choice(seed: int) -> None:
    values = _bernoulli(10_000, 0.13, seed)
    kwargs = {"runs": 2, "rng_seed": f"s{seed}"}
    chosen = select_threshold("error", values, 200_000, **kwargs)
    assert chosen == select_threshold("error", values, 200_000, shortcut=False, **kwargs)
    assert ADWIN_GRID[0] > chosen[0].delta > ADWIN_GRID[-1]  # a walk that went somewhere


def test_the_chosen_value_and_every_quieter_one_pass_on_the_draw() -> None:
    values = _bernoulli(10_000, 0.13, 7)
    runs, target, seed = 2, 200_000, "inv"
    chosen, alarms, met = select_threshold("error", values, target, runs=runs, rng_seed=seed)
    _, _, grid = _candidates("error")
    counts = [max(_false_alarms(spec, "error", values, runs, target,
                                random.Random(f"{seed}:{block}"), block) for block in BLOCKS)
              for spec in grid]
    index = [spec.delta for spec in grid].index(chosen.delta)
    allowed = allowed_alarms(runs)
    assert met and alarms == counts[index]
    assert all(c <= allowed for c in counts[index:])
    assert index > 0 and counts[index - 1] > allowed  # here the walk did stop at a failure


def test_a_calibrated_error_detector_meets_its_target_on_fresh_stationary_data() -> None:
    target = 200_000
    (result,) = calibrate_sequences({("m", "error"): _bernoulli(40_000, 0.13, 13)}, ert=target,
                                    runs=2, seed=3)
    assert result.met and result.reference_needed == 0
    assert result.value > ADWIN_GRID[-1]  # not merely the quietest value of the grid
    fresh = _bernoulli(2_000_000, 0.13, 12)
    w = _watcher(result.spec, "error")
    fired = 0
    for x in fresh:
        w.detector.update(x)
        w.n += 1
        w.total += x
        fired += bool(w.detector.drift_detected) and w.on_drift()
    assert fired <= len(fresh) / target  # at most one per target (10 here)


def test_an_unreachable_target_is_reported_not_met() -> None:
    sawtooth = [float(i % 2000) for i in range(8_000)]  # every bootstrap block is a level shift
    (result,) = calibrate_sequences({("m", "score"): sawtooth}, ert=2_000, runs=2, seed=0)
    assert not result.met and result.value == ADWIN_GRID[-1]
    assert any("target NOT met" in w for w in result.warnings())


def test_a_target_beyond_the_reference_names_the_reference_it_needs() -> None:
    values = [random.Random(5).gauss(0, 1) for _ in range(4_000)]
    (result,) = calibrate_sequences({("m", "score"): values}, ert=200_000, runs=2, seed=1)
    assert result.reference_needed == 10_000  # 2 x 200,000 / 40
    assert result.warnings() == [
        "m score: one false alarm per 200000 samples is beyond what 4000 reference samples "
        "represent (at most 40 times the calibration half); this target needs a reference of "
        "at least 10000 samples of this signal"
    ]


def test_one_run_cannot_bound_a_rate() -> None:
    assert allowed_alarms(1) == -1
    with pytest.raises(ValueError, match="at least 2 runs"):
        select_threshold("error", [0.0, 1.0] * 500, 1_000, runs=1, rng_seed="x")


def test_a_features_adwin_reads_clipped_values_as_in_the_pipeline() -> None:
    rng = random.Random(4)
    values = [1e4 if i % 700 == 0 else rng.gauss(0, 1) for i in range(20_000)]
    spec = ADWINSpec(delta=0.002)

    def alarms(signal: str) -> int:  # the same draw; only a feature's ADWIN is clipped
        return _false_alarms(spec, signal, values, 2, 50_000, random.Random(1), 1000)

    assert _watcher(spec, "feature:x").clip is not None and _watcher(spec, "score").clip is None
    assert alarms("feature:x") < alarms("score")
