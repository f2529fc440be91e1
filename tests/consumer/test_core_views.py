"""The detection core's typed views give the values the consumer's gauges read from it today."""

from __future__ import annotations

from pathlib import Path

from consumer.metrics import Metrics
from detectors.config import DetectionConfig
from detectors.contracts import Source
from detectors.pipeline import Pipeline
from tests.detectors.golden_stream import CONFIG

GOLDEN = Path(__file__).parents[1] / "detectors" / "golden" / "events.jsonl"


def _samples(metrics: Metrics, name: str) -> dict[tuple[str, ...], float]:
    out = {}
    for family in metrics.registry.collect():
        for s in family.samples:
            if s.name == name:
                out[tuple(sorted(s.labels.items()))] = s.value
    return out


def test_views_equal_the_gauges() -> None:
    pipeline = Pipeline(DetectionConfig.model_validate(CONFIG))
    for offset, raw in enumerate(GOLDEN.read_bytes().splitlines()):
        pipeline.process_raw(raw, Source(topic="t", partition=0, offset=offset))
    metrics = Metrics()
    metrics.refresh_key_gauges([pipeline])
    rolling = {}
    statistics = {}
    for view in pipeline.key_views():
        seg = view.segment or ""
        for name, value in view.rolling_metrics.items():
            rolling[(view.model_id, view.model_version, seg, name)] = value
        for d in view.detectors:
            for stat, value in d.statistics.items():
                statistics[(view.model_id, view.model_version, seg, d.signal, d.detector,
                            stat)] = value
    gauges_rolling = _samples(metrics, "driftline_rolling_metric")
    gauges_stats = _samples(metrics, "driftline_detector_statistic")
    assert len(rolling) == len(gauges_rolling) > 0
    assert len(statistics) == len(gauges_stats) > 0
    assert sorted(rolling.values()) == sorted(gauges_rolling.values())
    assert sorted(statistics.values()) == sorted(gauges_stats.values())
    counters = pipeline.counter_view()
    assert counters.balanced and counters.tracked_keys == len(pipeline.keys())
    assert counters.consumed == pipeline.counters.consumed
    assert counters.joined == pipeline.counters.joined
