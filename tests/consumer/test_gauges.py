"""The after-commit gauges (:mod:`consumer.gauges`): per-key gauges follow the owned partitions
at once, not only every ``consumer.model_gauges_interval_s``."""

from __future__ import annotations

import pytest

from consumer.config import ConsumerSettings
from consumer.gauges import GaugeRefresher
from consumer.metrics import Metrics
from consumer.partition import PartitionTask
from detectors.contracts import Source
from detectors.pipeline import Pipeline
from tests.consumer.helpers import encode, synthetic_stream


def _task(partition: int, model: int) -> PartitionTask:
    pipeline = Pipeline()
    events = synthetic_stream(models=2, per_model=800, seed=partition)
    for offset, event in enumerate(e for e in events if e["model_id"] == f"model-{model}"):
        pipeline.process_raw(encode(event), Source(topic="t", partition=partition, offset=offset))
    return PartitionTask(partition=partition, pipeline=pipeline)


def _models_shown(metrics: Metrics) -> set[str]:
    return {s.labels["model_id"] for family in metrics.registry.collect()
            for s in family.samples if s.name == "driftline_rolling_metric"}


def test_per_key_gauges_follow_an_assignment_and_a_revocation_at_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr("consumer.gauges.time.monotonic", lambda: now[0])
    metrics = Metrics()
    refresher = GaugeRefresher(metrics, ConsumerSettings(model_gauges_interval_s=3600))
    first, second = _task(0, 0), _task(1, 1)
    refresher.after_commit([first])
    assert _models_shown(metrics) == {"model-0"}
    now[0] += 2  # past the counters' 1 s, far from the per-key gauges' interval
    refresher.after_commit([first, second])  # partition 1 assigned (restored)
    assert _models_shown(metrics) == {"model-0", "model-1"}
    now[0] += 2
    refresher.after_commit([second])  # partition 0 revoked
    assert _models_shown(metrics) == {"model-1"}
