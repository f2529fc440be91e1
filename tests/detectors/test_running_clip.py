"""The feature mean ADWIN reads values clipped at their running mean ± 6 sd (detectors/running_clip).

* on a stationary heavy-tailed stream River's ADWIN alone cuts, the monitor publishes nothing;
* on a jump far beyond the clip the event still reports the real means (not the clip bound);
* the clip state survives a snapshot, and a snapshot from before the clip restores with a fresh
  one.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from river.drift import ADWIN

from detectors import DetectionConfig, Pipeline, Source
from detectors.contracts import Prediction
from detectors.feature_signals import FeatureSignalsConfig
from detectors.lifecycle import Watcher
from detectors.monitor import KeyMonitor
from detectors.river_detectors import ADWINSpec
from detectors.running_clip import LOG_CAPACITY, RunningClip

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def config() -> DetectionConfig:
    return DetectionConfig(metric_thresholds={}, feature_signals=FeatureSignalsConfig.off())


def prediction(i: int, x: float) -> Prediction:
    return Prediction(prediction_id=f"p{i}", model_id="m", model_version="v1",
                      timestamp=T0 + timedelta(seconds=i), prediction=True, features={"x": x})


def feed(monitor: KeyMonitor, values: list[float], start: int = 0) -> list[Any]:
    out = []
    for i, x in enumerate(values, start=start):
        out.extend(monitor.observe_prediction(prediction(i, x), Source(topic="t", partition=0,
                                                                       offset=i)))
    return out


def lognormal(seed: int, n: int) -> list[float]:
    rng = random.Random(seed)
    return [rng.lognormvariate(0.0, 1.0) for _ in range(n)]


def test_a_stationary_heavy_tailed_stream_raises_no_mean_drift() -> None:
    values = lognormal(4, 20_000)
    river = ADWIN(delta=0.0002)  # the feature's default mean detector, unclipped
    cuts = []
    for n, x in enumerate(values, start=1):
        river.update(x)
        if river.drift_detected:
            cuts.append(n)
    assert cuts == [3008, 18720]  # a rare huge value makes River's ADWIN cut: false alarms
    monitor = KeyMonitor(config(), "m", "v1", None)
    assert feed(monitor, values) == []
    clip = monitor.features["x"][0].clip
    assert clip is not None and clip.n == 20_000 and clip.clipped > 0


def test_a_jump_beyond_the_clip_reports_the_real_means() -> None:
    rng = random.Random(2)
    values = [rng.gauss(0.0, 1.0) for _ in range(2000)] + [rng.gauss(20.0, 1.0) for _ in range(300)]
    monitor = KeyMonitor(config(), "m", "v1", None)
    events = feed(monitor, values)
    assert [(e.signal, e.detector) for e in events] == [("feature:x", "adwin")]
    stats = events[0].stats
    fired = events[0].source.offset + 1  # values fed up to the firing one
    width, samples = stats["width"], stats["width_before"]
    assert samples == fired and stats["clipped"] > 0  # the new regime was clipped at ~ +6 sd
    kept, dropped = values[fired - width:fired], values[:fired - width]
    assert abs(stats["mean_after"] - sum(kept) / width) < 1e-9  # ~20, not the clip bound
    assert abs(stats["mean_before"] - sum(dropped) / len(dropped)) < 1e-9


def test_the_clip_state_survives_a_snapshot() -> None:
    values = lognormal(7, 6000)
    pipeline = Pipeline(config())
    for i, x in enumerate(values[:3000]):
        pipeline.process(prediction(i, x), Source(topic="t", partition=0, offset=i))
    restored = Pipeline(config())
    restored.restore_model("m", pipeline.snapshot_model("m"))
    before, after = (p.monitor("m", "v1", None) for p in (pipeline, restored))
    assert before is not None and after is not None
    a, b = before.features["x"][0].clip, after.features["x"][0].clip
    assert a is not None and b is not None and a.clipped > 0
    assert [getattr(a, s) for s in RunningClip.__slots__] == [
        getattr(b, s) for s in RunningClip.__slots__]
    rest = list(enumerate(values[3000:], start=3000))
    got = [[e.model_dump(exclude={"published_at"})
            for e in p.process(prediction(i, x), Source(topic="t", partition=0, offset=i))]
           for p in (pipeline, restored) for i, x in rest]
    assert got[:len(rest)] == got[len(rest):]
    assert [getattr(a, s) for s in RunningClip.__slots__] == [
        getattr(b, s) for s in RunningClip.__slots__]


def test_a_watcher_snapshotted_before_the_clip_restores_with_a_fresh_one() -> None:
    for signal, clipped in (("feature:x", True), ("score", False)):
        w = Watcher(ADWINSpec(), signal=signal, warmup=100, cooldown=1000)
        state = w.__getstate__()
        del state["clip"]
        old = Watcher.__new__(Watcher)
        old.__setstate__(state)
        assert (old.clip is not None) is clipped
        if old.clip is not None:
            assert old.clip.n == 0


def test_the_excess_is_placed_for_the_latest_clipped_values_only() -> None:
    clip = RunningClip()
    for x in lognormal(3, 100_000):  # about 0.4 % of lognormal values are beyond 6 sd
        clip.clip(x)
    assert clip.clipped > LOG_CAPACITY and len(clip.log) <= LOG_CAPACITY
    assert clip.excess_after(1000) is None  # the oldest clipped values are summed, not placed
    since = clip.log[0][0] - 1
    placed = clip.excess_after(since)
    assert placed is not None and 0 < placed < clip.excess
    assert abs(placed - sum(e for _, e in clip.log)) < 1e-9
    n, clipped = clip.n, clip.clipped
    clip.restart(kept=n - 1000)  # ADWIN's cut kept values some of whose excess is not placed
    stats = clip.evidence(n - 1000, n, {"mean_after": 1.0, "mean_before": 1.0, "width": 1})
    assert stats == {"mean_after": None, "mean_before": None, "width": 1, "clipped": clipped}


def test_the_report_curves_read_the_clipped_values_too() -> None:
    from detectors.report import detector_curves

    values = lognormal(4, 20_000)
    _, unclipped = detector_curves(ADWINSpec(), values)
    _, clipped = detector_curves(ADWINSpec(), values, "feature:x")
    assert (unclipped, clipped) == ([3007, 18719], [])  # as the monitor (first test) sees it
