"""Consumer metrics fed from pipeline state: rolling windows (per model, version, segment; stale
series dropped), detector statistics (same contract) and the label delay histogram from LabelledRecords."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from consumer.metrics import Metrics
from detectors import DetectionConfig, Pipeline, Source
from detectors.performance import ClassificationWindow, RegressionWindow
from detectors.views import KeyView


@dataclass
class FakePipeline:
    """Key views built from windows per key (what the core's ``key_views`` gives)."""

    monitors: dict[tuple[str, str, str | None], Any]

    def key_views(self, detector_statistics: bool = True) -> list[KeyView]:
        views = []
        for (model_id, version, segment), m in self.monitors.items():
            rolling: dict[str, float] = {}
            for window, names in ((m.class_window, ("accuracy", "precision", "recall", "f1")),
                                  (m.reg_window, ("mae",))):
                if window is not None and window.full:
                    rolling.update({name: window.metric(name) for name in names})
            views.append(KeyView(model_id, version, segment, rolling, ()))
        return views


def _window(pairs: list[tuple[int, int]], size: int) -> ClassificationWindow:
    window = ClassificationWindow(size=size)
    for predicted, actual in pairs:
        window.update(predicted, actual)
    return window


def test_rolling_metrics_per_key_and_stale_series_removed() -> None:
    m = Metrics()
    reg = RegressionWindow(size=2)
    reg.update(1.0)
    reg.update(3.0)
    pipeline = FakePipeline({
        ("fraud", "v1", None): SimpleNamespace(class_window=_window([(1, 1), (0, 1)], 2),
                                               reg_window=None),
        ("fraud", "v2", "eu"): SimpleNamespace(class_window=_window([(1, 1)], 5),  # not full
                                               reg_window=None),
        ("price", "v1", None): SimpleNamespace(class_window=None, reg_window=reg),
    })
    m.refresh_key_gauges([pipeline], detector_statistics=False)
    get = m.registry.get_sample_value
    labels = {"model_id": "fraud", "model_version": "v1", "segment": ""}
    assert get("driftline_rolling_metric", {**labels, "metric": "accuracy"}) == 0.5
    assert get("driftline_rolling_metric", {**labels, "metric": "recall"}) == 0.5
    assert get("driftline_rolling_metric", {"model_id": "fraud", "model_version": "v2",
                                            "segment": "eu", "metric": "f1"}) is None
    assert get("driftline_rolling_metric", {"model_id": "price", "model_version": "v1",
                                            "segment": "", "metric": "mae"}) == 2.0
    del pipeline.monitors[("fraud", "v1", None)]
    m.refresh_key_gauges([pipeline], detector_statistics=False)
    assert get("driftline_rolling_metric", {**labels, "metric": "accuracy"}) is None
    assert get("driftline_rolling_metric", {"model_id": "price", "model_version": "v1",
                                            "segment": "", "metric": "mae"}) == 2.0


def test_label_delay_histogram() -> None:
    m = Metrics()
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    for delay in (0.5, 30.0, 30.0, 7200.0):
        m.observe_label_delay(SimpleNamespace(model_id="fraud", predicted_at=t0,
                                              labelled_at=t0 + timedelta(seconds=delay)))
    get = m.registry.get_sample_value
    name = "driftline_consumer_label_delay_seconds"
    assert get(f"{name}_count", {"model_id": "fraud"}) == 4
    assert get(f"{name}_sum", {"model_id": "fraud"}) == 7260.5
    assert get(f"{name}_bucket", {"model_id": "fraud", "le": "0.5"}) == 1
    assert get(f"{name}_bucket", {"model_id": "fraud", "le": "60.0"}) == 3
    assert get(f"{name}_bucket", {"model_id": "fraud", "le": "+Inf"}) == 4


def _feed(pipeline: Any, version: str, start_ms: int, n: int, offset: int) -> int:
    for i in range(n):
        ts = start_ms + i * 100
        pid = f"{version}-p{i}"
        for event in (
            {"type": "prediction", "schema_version": 1, "prediction_id": pid, "model_id": "fraud",
             "model_version": version, "timestamp": ts, "features": {"amount": float(i % 7)},
             "prediction": i % 3 == 0, "score": 0.2 + (i % 5) / 10},
            {"type": "label", "schema_version": 1, "prediction_id": pid, "model_id": "fraud",
             "timestamp": ts + 50, "label": i % 4 == 0},
        ):
            pipeline.process_raw(json.dumps(event).encode(),
                                 Source(topic="t", partition=0, offset=offset))
            offset += 1
    return offset


def _series(m: Metrics, name: str) -> list[dict[str, str]]:
    """The label sets of every series of ``name`` a scrape would show."""
    return [sample.labels for family in m.registry.collect() if family.name == name
            for sample in family.samples]


def test_detector_statistics_per_key_signal_detector_and_retired_keys_removed() -> None:
    config = DetectionConfig.model_validate({
        "signals": {"score": [{"type": "page_hinkley", "threshold": 50}],
                    "feature": [{"type": "adwin"}], "error": [{"type": "ddm"}]},
        "idle_key_ttl_s": 60})
    pipeline = Pipeline(config)
    t0 = 1_800_000_000_000
    offset = _feed(pipeline, "v1", t0, 200, 0)
    m = Metrics()
    m.refresh_key_gauges([pipeline])
    get = m.registry.get_sample_value
    name = "driftline_detector_statistic"

    def stat(version: str, signal: str, detector: str, s: str) -> float | None:
        return get(name, {"model_id": "fraud", "model_version": version, "segment": "",
                          "signal": signal, "detector": detector, "stat": s})

    assert stat("v1", "score", "page_hinkley", "threshold") == 50.0
    assert stat("v1", "score", "page_hinkley", "statistic") is not None
    assert stat("v1", "feature:amount", "adwin", "width") == 200
    assert stat("v1", "feature:amount", "adwin", "mean_after") is not None
    assert stat("v1", "feature:amount", "adwin", "mean_before") is None  # None: skipped
    for s in ("p", "s", "p_min", "s_min"):
        assert stat("v1", "error", "ddm", s) is not None, s
    series = _series(m, name)
    assert series and all(labels["model_version"] == "v1" for labels in series)

    # v2 arrives ten minutes of event time later: v1 (idle for longer than 60 s) is retired
    _feed(pipeline, "v2", t0 + 600_000, 50, offset)
    assert pipeline.monitor("fraud", "v1", None) is None
    m.refresh_key_gauges([pipeline])
    assert stat("v1", "score", "page_hinkley", "threshold") is None
    assert stat("v1", "feature:amount", "adwin", "width") is None
    assert stat("v2", "feature:amount", "adwin", "width") == 50
    series = _series(m, name)
    assert series and all(labels["model_version"] == "v2" for labels in series)
