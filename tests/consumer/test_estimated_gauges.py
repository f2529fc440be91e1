"""CBPE's estimates and their gap to the realized metrics are Prometheus gauges, read via views."""

from __future__ import annotations

from consumer.metrics import Metrics
from tests.detectors.test_feature_watch import cbpe_events


def _samples(metrics: Metrics, name: str) -> dict[str, float]:
    return {s.labels["metric"]: s.value for family in metrics.registry.collect()
            for s in family.samples if s.name == name}


def test_estimated_metrics_and_gap_gauges_equal_the_key_view() -> None:
    _, pipeline = cbpe_events(labels=True)
    [view] = pipeline.key_views()
    metrics = Metrics()
    metrics.refresh_key_gauges([pipeline], detector_statistics=False)
    assert _samples(metrics, "driftline_estimated_metric") == dict(view.estimated_metrics)
    assert _samples(metrics, "driftline_estimated_metric_gap") == dict(view.estimated_gap)
    assert set(view.estimated_metrics) == {"accuracy", "precision", "recall", "f1"}


def test_no_labels_no_gap_series() -> None:
    _, pipeline = cbpe_events(labels=False)
    metrics = Metrics()
    metrics.refresh_key_gauges([pipeline], detector_statistics=False)
    assert len(_samples(metrics, "driftline_estimated_metric")) == 4
    assert _samples(metrics, "driftline_estimated_metric_gap") == {}
