"""The monitor's label path: performance alerts, the direction rule's counter, and snapshots from
before either existed."""

from __future__ import annotations

import pickle
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from detectors import DetectionConfig, Label, Pipeline, Prediction, Source
from detectors.lifecycle import Watcher
from detectors.monitor import KeyMonitor
from detectors.performance import PerformanceAlerts, ThresholdWatcher

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _feed(pipeline: Pipeline, error_rates: list[float], seed: int = 1) -> list[Any]:
    """One model's predictions, each labelled right away, wrong with the given probability."""
    rng = random.Random(seed)
    out: list[Any] = []
    offset = 0
    for i, rate in enumerate(error_rates):
        actual = rng.random() < 0.5
        predicted = (not actual) if rng.random() < rate else actual
        at = T0 + timedelta(milliseconds=100 * i)
        for event in (
            Prediction(prediction_id=f"p{i}", model_id="m", model_version="v1", timestamp=at,
                       prediction=predicted),
            Label(prediction_id=f"p{i}", model_id="m", timestamp=at, label=actual),
        ):
            out += pipeline.process(event, Source(topic="t", partition=0, offset=offset))
            offset += 1
    return out


def test_an_error_rate_that_falls_is_counted_not_published() -> None:
    pipeline = Pipeline(DetectionConfig(performance_baseline={"metrics": []}))  # type: ignore[arg-type]
    out = _feed(pipeline, [0.4] * 3000 + [0.05] * 3000)
    assert [o for o in out if getattr(o, "signal", None) == "error"] == []
    assert pipeline.suppressed()["direction"] >= 1
    assert pipeline.counter_view().suppressed_direction == pipeline.suppressed()["direction"]


def test_an_error_rate_that_rises_is_published_with_its_change_point() -> None:
    pipeline = Pipeline(DetectionConfig(performance_baseline={"metrics": []}))  # type: ignore[arg-type]
    out = _feed(pipeline, [0.1] * 3000 + [0.4] * 1000)
    [event] = [o for o in out if getattr(o, "signal", None) == "error"]
    assert event.severity == "drift" and event.change_point is not None
    shift = T0 + timedelta(milliseconds=100 * 3000)
    assert abs((event.change_point.at - shift).total_seconds()) <= 5.0  # 50 predictions
    assert event.change_point.estimator == "least_squares"


def _old_watcher(w: Watcher) -> Watcher:
    state = w.__getstate__()
    for name in ("direction", "suppressed_direction", "estimator", "streaming"):
        state.pop(name, None)
    old = Watcher.__new__(Watcher)
    old.__setstate__(state)
    return old


def test_a_snapshot_from_before_baselines_and_change_points_restores() -> None:
    config = DetectionConfig(metric_thresholds={"f1": 0.7}, warmup_samples=10)  # type: ignore[arg-type]
    monitor = KeyMonitor(config, "m", "v1", None)
    rng = random.Random(3)
    for i in range(600):  # F1 ~0.9: meets the bar
        actual = rng.random() < 0.5
        monitor.observe_label((not actual) if rng.random() < 0.1 else actual, actual, T0,
                              ("t", 0, i))
    # the shape of a snapshot from before: threshold watchers without ``met``, no alerts, no
    # trails, watchers without direction or estimator
    state = pickle.loads(pickle.dumps(monitor.__getstate__()))
    threshold = ThresholdWatcher("f1", 0.7, cooldown=1000).__getstate__()
    del threshold["met"]
    old_threshold = ThresholdWatcher.__new__(ThresholdWatcher)
    old_threshold.__setstate__(threshold)
    for name in ("alerts", "labels", "prediction_trail", "label_trail", "recent_errors"):
        del state[name]
    state["metric_watchers"] = {"f1": old_threshold}
    state["errors"] = tuple(_old_watcher(w) for w in state["errors"])
    state["score"] = tuple(_old_watcher(w) for w in state["score"])
    restored = KeyMonitor.__new__(KeyMonitor)
    restored.__setstate__(state)
    restored.attach(config, lambda: T0)

    assert isinstance(restored.alerts, PerformanceAlerts)
    assert restored.alerts.thresholds["f1"].met is True and restored.alerts.baselines == {}
    assert restored.errors is not None and restored.errors[0].direction == "up"
    events = []
    for i in range(600, 1800):  # F1 falls to ~0.6: a crossing of a bar the model met
        actual = rng.random() < 0.5
        events += restored.observe_label((not actual) if rng.random() < 0.4 else actual, actual,
                                         T0, ("t", 0, i))
    crossed = [e for e in events if e.signal == "metric:f1"]
    assert [(e.detector, e.severity) for e in crossed] == [("threshold", "drift")]
    assert any(e.signal == "error" and e.severity == "drift" for e in events)
