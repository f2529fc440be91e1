"""Consumer metrics fed from pipeline state: rolling windows (per model, version, segment; stale
series dropped) and the label delay histogram from LabelledRecords."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from consumer.metrics import Metrics
from detectors.performance import ClassificationWindow, RegressionWindow


@dataclass
class FakePipeline:
    monitors: dict[tuple[str, str, str | None], Any]

    def keys(self) -> list[tuple[str, str, str | None]]:
        return list(self.monitors)

    def monitor(self, model_id: str, version: str, segment: str | None) -> Any:
        return self.monitors.get((model_id, version, segment))


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
    m.refresh_rolling_metrics([pipeline])
    get = m.registry.get_sample_value
    labels = {"model_id": "fraud", "model_version": "v1", "segment": ""}
    assert get("driftline_rolling_metric", {**labels, "metric": "accuracy"}) == 0.5
    assert get("driftline_rolling_metric", {**labels, "metric": "recall"}) == 0.5
    assert get("driftline_rolling_metric", {"model_id": "fraud", "model_version": "v2",
                                            "segment": "eu", "metric": "f1"}) is None
    assert get("driftline_rolling_metric", {"model_id": "price", "model_version": "v1",
                                            "segment": "", "metric": "mae"}) == 2.0
    del pipeline.monitors[("fraud", "v1", None)]
    m.refresh_rolling_metrics([pipeline])
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
