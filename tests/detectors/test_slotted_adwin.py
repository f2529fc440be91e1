"""SlottedADWIN is River's ADWIN: every update's flag and window statistics equal River's, and
it pickles as River's ADWIN (snapshots read the same with or without it)."""

from __future__ import annotations

import pickle
import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from river.drift import ADWIN

from detectors.lifecycle import Watcher
from detectors.river_detectors import ADWINSpec, SlottedADWIN


def _state(d: Any) -> tuple[Any, ...]:
    return (d.drift_detected, d.width, d.total, d.variance, d.n_detections, d.estimation)


@st.composite
def _streams(draw: Any) -> tuple[dict[str, Any], list[float], int]:
    rng = random.Random(draw(st.integers(0, 2**32)))
    params = {"delta": draw(st.sampled_from([0.002, 0.0002, 0.05])),
              "clock": draw(st.sampled_from([1, 4, 32])),
              "max_buckets": draw(st.integers(2, 6)),  # 1: River panics
              "min_window_length": draw(st.integers(1, 8)),
              "grace_period": draw(st.integers(1, 40))}
    values: list[float] = []
    for _ in range(draw(st.integers(1, 6))):  # regimes: mean shifts, 0/1 or gaussian values
        mean = rng.uniform(-3, 3)
        binary = rng.random() < 0.3
        n = rng.randint(0, 600)
        values += ([float(rng.random() < abs(mean) / 3) for _ in range(n)] if binary
                   else [rng.gauss(mean, 1) for _ in range(n)])
    return params, values, draw(st.integers(0, len(values)))


@settings(max_examples=60, deadline=None)
@given(case=_streams())
def test_every_update_equals_rivers_adwin(case: tuple[dict[str, Any], list[float], int]) -> None:
    params, values, pickled_at = case
    river, slotted = ADWIN(**params), SlottedADWIN(**params)
    fired = 0
    for i, x in enumerate(values):
        if i == pickled_at:  # a snapshot mid-stream: River's ADWIN in the bytes, adopted back
            restored = pickle.loads(pickle.dumps(slotted))
            assert restored.__class__ is ADWIN
            slotted = SlottedADWIN.adopt(restored)
            river = pickle.loads(pickle.dumps(river))
        river.update(x)
        slotted.update(x)
        assert _state(slotted) == _state(river), i
        fired += river.drift_detected
    assert (slotted.delta, slotted.clock, slotted.max_buckets, slotted.min_window_length,
            slotted.grace_period) == tuple(params.values())


def test_it_pickles_as_rivers_adwin_with_the_same_fields() -> None:
    river, slotted = ADWIN(delta=0.01, clock=8), SlottedADWIN(delta=0.01, clock=8)
    for x in [0.0, 1.0, 0.5] * 20:
        river.update(x)
        slotted.update(x)
    loaded = pickle.loads(pickle.dumps(slotted))
    assert loaded.__class__ is ADWIN
    assert vars(loaded).keys() == vars(river).keys()
    assert {k: v for k, v in vars(loaded).items() if k != "_helper"} == {
        k: v for k, v in vars(river).items() if k != "_helper"}
    assert pickle.dumps(loaded._helper) == pickle.dumps(river._helper)


def test_a_watcher_restores_rivers_adwin_as_slotted_and_shares_its_plan() -> None:
    spec = ADWINSpec(delta=0.01)
    watchers = [Watcher(spec, signal="score", warmup=10, cooldown=100) for _ in range(3)]
    assert all(w.detector.__class__ is SlottedADWIN for w in watchers)
    assert watchers[0].plan is watchers[1].plan is watchers[2].plan
    for i, w in enumerate(watchers):
        for x in range(40 + i):
            w.detector.update(float(x % 3))
            w.n += 1
    restored = pickle.loads(pickle.dumps(watchers))
    assert [w.detector.__class__ for w in restored] == [SlottedADWIN] * 3
    assert restored[0].plan is restored[1].plan is restored[2].plan  # one snapshot: one plan
    assert restored[0].spec == spec and restored[0].label == "adwin"
    assert restored[0].estimator is watchers[0].estimator  # the stateless estimator: shared
    for w, r in zip(watchers, restored, strict=True):
        assert w.__getstate__().keys() == r.__getstate__().keys()
        assert _state(w.detector) == _state(r.detector)
        assert (w.n, w.quiet_until, w.kind, w.signal) == (r.n, r.quiet_until, r.kind, r.signal)
