"""Runs fed in one call are the per-update path: the same firings, evidence and state (hypothesis).

The feature watch feeds a feature's values to its detectors in runs when no detector can fire
on them (:meth:`~detectors.feature_watch.WatchedFeature.plan_run`, ``quiet_classes``): the
detectors' ``feed_run`` / ``feed_quiet`` / ``feed_false`` must be exactly their ``update``
repeated. Each test drives one detector (or watch) through a random stream split at random
points into runs and single updates, and a twin through ``update`` only, and compares firing
positions, the evidence and change lag of each firing, and the pickled state (what a snapshot
holds) along the way and at the end.
"""

from __future__ import annotations

import math
import pickle
import random
from collections.abc import Callable
from typing import Any
from unittest.mock import patch

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from detectors.category_drift import CategoryDriftDetector, CategoryDriftSpec
from detectors.data_quality import MissingRateSpec, TypeChangeDetector, TypeChangeSpec
from detectors.feature_signals import FeatureSignalsConfig
from detectors.feature_watch import FeatureWatch, WatchedFeature
from detectors.new_category import NewCategorySpec
from detectors.rate_shift import RateShiftDetector, RateShiftSpec
from detectors.shape_drift import ShapeDriftDetector, ShapeDriftSpec

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

sizes = st.integers(min_value=10, max_value=40)
splits = st.lists(st.integers(min_value=0, max_value=120), min_size=1, max_size=200)


def _drifting(before: Callable[[random.Random], Any], after: Callable[[random.Random], Any]) -> Any:
    """A seeded stream of up to 1,200 values whose second part is drawn from another
    distribution (so detectors fire)."""
    def stream(args: tuple[int, int, int]) -> list[Any]:
        seed, n_before, n_after = args
        rng = random.Random(seed)
        return [before(rng) for _ in range(n_before)] + [after(rng) for _ in range(n_after)]

    return st.tuples(st.integers(0, 2**32), st.integers(0, 800), st.integers(0, 400)).map(stream)


def _walk(stream: list[Any], cuts: list[int], run: Any, twin: Any,
          feed: Callable[[Any, list[Any]], None]) -> tuple[list[Any], list[Any]]:
    """Feed ``stream`` to ``run`` in runs of at most ``quiet_for()`` (lengths from ``cuts``) and
    single updates, and to ``twin`` one update at a time; both firing logs."""
    fired_run: list[Any] = []
    fired_twin: list[Any] = []
    i = 0
    step = 0
    while i < len(stream):
        quiet = run.quiet_for()
        k = min(cuts[step % len(cuts)], quiet, len(stream) - i)
        step += 1
        if k > 0:
            feed(run, stream[i : i + k])
            for j in range(i, i + k):
                assert not twin.update(stream[j]), "quiet_for() promised no firing"
            i += k
        else:
            for d, log in ((run, fired_run), (twin, fired_twin)):
                if d.update(stream[i]):
                    log.append((i, d.evidence(), d.change_lag))
            i += 1
        if step % 7 == 0:
            assert pickle.dumps(run) == pickle.dumps(twin)
    assert pickle.dumps(run) == pickle.dumps(twin)
    event(f"fired: {min(len(fired_twin), 3)}+")
    return fired_run, fired_twin


@SETTINGS
@given(stream=_drifting(lambda r: r.choice("aabc"), lambda r: r.choice("abcdd")), cuts=splits,
       reference=sizes, window=sizes, stride=st.integers(1, 12))
def test_category_drift_runs_are_repeated_updates(stream, cuts, reference, window, stride):
    spec = CategoryDriftSpec(reference_size=reference, window_size=window, stride=stride,
                             false_alarms_per_100k=5000)
    run, twin = CategoryDriftDetector(spec), CategoryDriftDetector(spec)
    fired_run, fired_twin = _walk(stream, cuts, run, twin, lambda d, xs: d.feed_run(xs))
    assert fired_run == fired_twin


def _number(scale: float) -> Callable[[random.Random], float]:
    return lambda r: math.nan if r.random() < 0.02 else r.gauss(0, scale)


@SETTINGS
@given(stream=_drifting(_number(1), _number(3)), cuts=splits, reference=sizes, window=sizes,
       stride=st.integers(1, 12), bins=st.integers(2, 8))
def test_shape_drift_runs_are_repeated_updates(stream, cuts, reference, window, stride, bins):
    spec = ShapeDriftSpec(reference_size=reference, window_size=window, stride=stride, bins=bins,
                          false_alarms_per_100k=5000)
    run, twin = ShapeDriftDetector(spec), ShapeDriftDetector(spec)
    fired_run, fired_twin = _walk(stream, cuts, run, twin, lambda d, xs: d.feed_run(xs))
    assert [(i, lag) for i, _, lag in fired_run] == [(i, lag) for i, _, lag in fired_twin]
    assert repr(fired_run) == repr(fired_twin)  # the evidence too (NaN-safe comparison)


@SETTINGS
@given(stream=_drifting(lambda r: r.random() < 0.1, lambda r: r.random() < 0.6),
       cuts=splits, reference=sizes, window=sizes)
def test_rate_shift_feed_false_is_repeated_update_false(stream, cuts, reference, window):
    spec = RateShiftSpec(reference_size=reference, window_size=window, false_alarms_per_100k=5000)
    run, twin = RateShiftDetector(spec), RateShiftDetector(spec)
    fired_run: list[Any] = []
    fired_twin: list[Any] = []
    for step, hit in enumerate(stream):
        k = cuts[step % len(cuts)] if step % 10 == 0 else 0
        run.feed_false(k)
        for _ in range(k):
            assert not twin.update(False)
        for d, log in ((run, fired_run), (twin, fired_twin)):
            if d.update(hit):
                log.append((step, d.evidence(), d.change_lag))
        if step % 5 == 0:
            assert pickle.dumps(run) == pickle.dumps(twin)
    event(f"fired: {min(len(fired_twin), 3)}+")
    assert fired_run == fired_twin
    assert pickle.dumps(run) == pickle.dumps(twin)


_KINDS = [1.5, 2, "x", True, None, math.nan, [1]]


@SETTINGS
@given(seed=st.integers(0, 2**32), mix=st.lists(st.integers(0, 20), min_size=7, max_size=7),
       n=st.integers(0, 1500), reference=sizes, window=sizes, reads=splits)
def test_type_change_quiet_runs_are_repeated_updates(seed, mix, n, reference, window, reads):
    """Values of ``quiet_classes()`` counted and fed with ``feed_quiet`` at the next other value
    (or read), as the feature watch does; the twin gets every value by ``update``."""
    rng = random.Random(seed)
    palette = _KINDS if seed % 2 else _KINDS[:3]  # every type, or a contest of three
    lead = 60 if seed % 3 else 0  # mostly one type, or a mix whose leader changes
    weights = [w + (lead if i == 0 else 0) + 1 for i, w in enumerate(mix)][: len(palette)]
    after = rng.randrange(max(n, 1) if seed % 2 else 2 * reference)  # often in the reference
    spec = TypeChangeSpec(reference_size=reference, window_size=window, false_alarms_per_100k=5000)
    run, twin = TypeChangeDetector(spec), TypeChangeDetector(spec)
    quiet = 0
    fired_run: list[Any] = []
    fired_twin: list[Any] = []
    for i in range(n):
        value = 1.5 if i == 0 else rng.choices(
            palette, weights if i < after else list(reversed(weights)))[0]
        if twin.update(value):
            fired_twin.append((i, twin.evidence(), twin.change_lag))
        cls = value.__class__
        if cls in run.quiet_classes() and (cls is not float or value == value):
            quiet += 1
            continue
        run.feed_quiet(quiet)
        quiet = 0
        if run.update(value):
            fired_run.append((i, run.evidence(), run.change_lag))
        if i % (reads[i % len(reads)] or 1) == 0:
            assert pickle.dumps(run) == pickle.dumps(twin)
    run.feed_quiet(quiet)
    event(f"fired: {min(len(fired_twin), 3)}+")
    assert fired_run == fired_twin
    assert pickle.dumps(run) == pickle.dumps(twin)


def test_type_change_run_past_a_reference_another_type_won_is_not_quiet():
    """The first value's type is quiet in the reference only while it is sure to lead: here
    strings win the reference, so the numbers after it are unexpected (fed one by one)."""
    spec = TypeChangeSpec(reference_size=10, window_size=10, false_alarms_per_100k=5000)
    run, twin = TypeChangeDetector(spec), TypeChangeDetector(spec)
    for value in [1.5] + ["x"] * 8:
        run.update(value)
        twin.update(value)
    assert run.quiet_classes() == ()  # 1 number + 1 left < 8 strings
    fired = [run.update(x) for x in [1.5] * 12]
    assert fired == [twin.update(x) for x in [1.5] * 12] and any(fired)
    assert pickle.dumps(run) == pickle.dumps(twin)


# -- the feature watch: runs against one update per value per detector --------------------------

def _row(rng: random.Random, shift: float) -> dict[str, Any]:
    """A prediction's features: mostly clean, sometimes null, NaN, of another type or absent."""
    odd = [None, math.nan, "x", True, 7]
    row = {
        "amount": rng.choice(odd) if rng.random() < 0.05 else rng.gauss(shift, 1 + shift),
        "country": rng.choice(["DE", "DE", "FR", "US", None, 3.5] if not shift else ["US", "IT"]),
        "flag": rng.choice([True, False, False, None] if not shift else [True]),
        "n": rng.gauss(0, 1 + shift),
    }
    for name in rng.sample(list(row), rng.choice([0, 0, 0, 0, 1, 2])):
        del row[name]  # an absent feature
    return row


@st.composite
def _rows(draw: Any) -> list[dict[str, Any]]:
    rng = random.Random(draw(st.integers(0, 2**32)))
    shift = draw(st.sampled_from([0.0, 1.0, 3.0]))
    return ([_row(rng, 0.0) for _ in range(draw(st.integers(0, 900)))]
            + [_row(rng, shift) for _ in range(draw(st.integers(0, 300)))])


def _small() -> FeatureSignalsConfig:
    window = {"reference_size": 30, "window_size": 20, "false_alarms_per_100k": 5000}
    quality = [MissingRateSpec(**window), TypeChangeSpec(**window)]
    return FeatureSignalsConfig(
        numeric=[ShapeDriftSpec(stride=3, bins=4, **window), *quality],
        categorical=[CategoryDriftSpec(stride=2, **window), NewCategorySpec(**window), *quality],
        boolean=[CategoryDriftSpec(stride=5, **window), *quality],
        joint=None, cbpe=None,
    )


def _one_by_one(watch: FeatureWatch, row: dict[str, Any]) -> list[Any] | None:
    """``observe`` with runs switched off: every value fed to every detector by ``update``."""
    def no_quiet(entry: WatchedFeature) -> None:
        entry.quiet_classes = ()

    with patch.object(WatchedFeature, "plan_run", lambda entry: 0), \
            patch.object(WatchedFeature, "settle", no_quiet):
        return watch.observe(row, None, None)


def _log(fired: list[Any] | None, i: int) -> list[Any]:
    return [(i, w.signal, w.label, w.n, repr(w.detector.evidence()), w.detector.change_lag)
            for w in fired or ()]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=_rows(), reads=st.sets(st.integers(0, 1200), max_size=8))
def test_feature_watch_runs_are_one_update_per_value(rows, reads):
    runs = FeatureWatch(_small(), warmup=0, cooldown=0)
    oracle = FeatureWatch(_small(), warmup=0, cooldown=0)
    fired_runs: list[Any] = []
    fired_oracle: list[Any] = []
    for i, row in enumerate(rows):
        fired_runs += _log(runs.observe(row, None, None), i)
        fired_oracle += _log(_one_by_one(oracle, row), i)
        if i in reads:  # a snapshot or a view mid-stream: the runs are fed first
            assert pickle.dumps(runs) == pickle.dumps(oracle)
            assert [w.n for w in runs.watchers()] == [w.n for w in oracle.watchers()]
    event(f"fired: {min(len(fired_oracle), 3)}+")
    event("detectors fired: " + ",".join(sorted({label for _, _, label, *_ in fired_oracle})))
    assert fired_runs == fired_oracle
    assert pickle.dumps(runs) == pickle.dumps(oracle)
    restored = pickle.loads(pickle.dumps(runs))  # a restored watch goes on the same
    oracle = pickle.loads(pickle.dumps(oracle))
    for i, row in enumerate(rows[:200]):
        assert _log(restored.observe(row, None, None), i) == _log(_one_by_one(oracle, row), i)
    assert pickle.dumps(restored) == pickle.dumps(oracle)


def test_a_steady_numeric_feature_is_fed_in_runs():
    """The path the tests above compare is the one a clean numeric feature takes."""
    watch = FeatureWatch(FeatureSignalsConfig(joint=None, cbpe=None), warmup=0, cooldown=0)
    calls = {"update": 0}
    for i in range(3000):
        watch.observe({"x": math.sin(i)}, None, None)
    entry = watch.features["x"]
    shape = entry.values[0][1]
    original = shape.update

    def counted(x: float) -> bool:
        calls["update"] += 1
        return original(x)

    with patch.object(ShapeDriftDetector, "update", lambda self, x: counted(x)):
        for i in range(3000, 4000):
            watch.observe({"x": math.sin(i)}, None, None)
    assert calls["update"] <= 1000 // 50 + 1  # one update per test tick, the rest in runs
    assert entry.quiet > 0 and entry.quiet_classes == (float, int)
    list(watch.watchers())
    assert entry.quiet == 0 and entry.run == []
