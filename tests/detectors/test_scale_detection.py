"""The throughput bench's scale configuration watches exactly three detectors per key."""

from __future__ import annotations

import sys
from pathlib import Path

from detectors.config import DetectionConfig
from detectors.pipeline import Pipeline

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import consumer_throughput as bench


def test_three_detectors_per_key_and_nothing_else() -> None:
    config = DetectionConfig.model_validate(bench.SCALE_DETECTION)
    pipeline = Pipeline(config)
    pipeline.process_batch(bench.scale_records(20, rounds=2))
    monitors = bench._monitors(pipeline)
    assert len(monitors) == 20
    for monitor in monitors:
        assert monitor is not None
        labels = sorted((w.signal, w.label) for w in monitor.watchers())
        assert labels == [("error", "ddm"), ("feature:x", "adwin"), ("score", "adwin")]
        assert monitor.feature_watch is None
        assert monitor.alerts is not None and not monitor.alerts.baselines
        assert bench._detectors(monitor) == 3


def test_the_default_configuration_is_measured_beside_it() -> None:
    pipeline = Pipeline(DetectionConfig.model_validate(bench.SCALE_CONFIGS["default"]))
    pipeline.process_batch(bench.scale_records(5, rounds=2))
    assert all(bench._detectors(m) > 3 for m in bench._monitors(pipeline))
