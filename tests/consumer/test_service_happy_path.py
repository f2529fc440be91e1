"""Against the real broker: `driftline consume` publishes what `driftline replay` publishes."""

from __future__ import annotations

import io
import json
import subprocess
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from consumer.config import TopicNames
from detectors.replay import replay_stream
from tests.consumer.helpers import (
    DRIFTLINE,
    REPO,
    ConsumerProcess,
    ServiceProcess,
    drift_view,
    encode,
    produce,
    read_topic,
    synthetic_stream,
    wait_committed,
)

pytestmark = pytest.mark.kafka


def _strip(event: dict) -> dict:
    event = dict(event)
    event.pop("published_at", None)
    return event


def test_drift_topic_equals_replay(
    kafka_bootstrap: str, one_input_topics: Callable[[int], TopicNames], tmp_path: Path,
    services: list[ServiceProcess],
) -> None:
    topics = one_input_topics(1)
    events = synthetic_stream(models=3, per_model=1500)
    lines = [encode(e) for e in events]
    jsonl = tmp_path / "events.jsonl"
    jsonl.write_bytes(b"\n".join(lines) + b"\n")
    produce(kafka_bootstrap, topics.predictions,
            ((e["model_id"].encode(), line) for e, line in zip(events, lines, strict=True)))

    group = f"g-{uuid.uuid4().hex[:8]}"
    service = ConsumerProcess(tmp_path, kafka_bootstrap, topics, group=group, instance="a",
                             consumer={"model_gauges_interval_s": 0.5})
    services.append(service.start())
    service.wait_ready()
    wait_committed(kafka_bootstrap, group, topics.predictions, procs=[service])
    service.wait_metric("driftline_detector_statistic", {"detector": "adwin", "stat": "width"})
    assert service.terminate() == 0, service.tail()

    # The oracle: the same pipeline in-process over the same lines, with the Kafka topic as the
    # source topic (offsets equal line numbers on a fresh single-partition topic).
    drift_oracle, labelled_oracle = io.StringIO(), io.StringIO()
    summary = replay_stream(lines, drift_out=drift_oracle, labelled_out=labelled_oracle,
                            topic=topics.predictions)
    expected = [_strip(json.loads(x)) for x in drift_oracle.getvalue().splitlines()]
    assert summary.drift_events >= 6, "the synthetic stream should drift"

    drift = drift_view(read_topic(kafka_bootstrap, topics.drift))
    assert drift == expected
    assert all(c == 1 for c in Counter(e["event_id"] for e in drift).values())
    labelled = [json.loads(r.value or b"") for r in read_topic(kafka_bootstrap, topics.labelled)]
    assert labelled == [json.loads(x) for x in labelled_oracle.getvalue().splitlines()]
    assert read_topic(kafka_bootstrap, topics.dlq) == []

    # And the CLI's replay output, up to the source topics (and so the event id) and published_at.
    out = tmp_path / "replay.jsonl"
    subprocess.run([*DRIFTLINE, "replay", "--input", str(jsonl), "--output", str(out),
                    "--no-progress"], check=True, cwd=REPO, capture_output=True)

    def loose(event: dict) -> dict:
        event = _strip(event)
        event.pop("event_id")
        event["source"] = {k: v for k, v in event["source"].items() if k != "topic"}
        if event.get("change_point") and event["change_point"].get("source"):
            event["change_point"]["source"] = {
                k: v for k, v in event["change_point"]["source"].items() if k != "topic"}
        return event

    assert [loose(json.loads(x)) for x in out.read_text().splitlines()] == [
        loose(e) for e in drift]

    # Metrics kept the accounting identity (read before the process exited is not possible;
    # the log says it stopped after a final commit).
    assert "stopped cleanly after a final commit" in service.log_text()


def test_separate_prediction_and_label_topics(
    kafka_bootstrap: str, kafka_conf: dict[str, str], tmp_path: Path,
    services: list[ServiceProcess],
) -> None:
    """The default layout: predictions and labels on their own co-partitioned topics. Partition
    p of both feeds one pipeline, so every label meets its prediction whatever the interleaving."""
    from consumer.config import TopicLayout
    from consumer.topics import create_topics
    from tests.conftest import unique_topic_names
    from tests.consumer.helpers import topic_values, wait_committed

    topics = unique_topic_names("split")
    create_topics(kafka_conf, topics, TopicLayout(partitions=3))
    events = synthetic_stream(models=6, per_model=400, seed=17)
    for kind, topic in (("prediction", topics.predictions), ("label", topics.labels)):
        produce(kafka_bootstrap, topic, ((e["model_id"].encode(), encode(e))
                                         for e in events if e["type"] == kind))
    group = f"g-{uuid.uuid4().hex[:8]}"
    service = ConsumerProcess(tmp_path, kafka_bootstrap, topics, group=group, instance="a",
                             consumer={"detector_statistics": False})
    services.append(service.start())
    service.wait_ready()
    wait_committed(kafka_bootstrap, group, topics.predictions, procs=[service])
    wait_committed(kafka_bootstrap, group, topics.labels, procs=[service])
    service.wait_metric("driftline_consumer_tracked_keys")
    assert service.metric("driftline_detector_statistic") is None  # turned off
    for p in range(3):
        consumed = service.metric("driftline_consumer_records_total",
                                  {"partition": str(p), "outcome": "consumed"}) or 0
        processed = service.metric("driftline_consumer_records_total",
                                   {"partition": str(p), "outcome": "processed"}) or 0
        assert consumed == processed
    assert service.terminate() == 0
    labelled = topic_values(kafka_bootstrap, topics.labelled)
    assert sorted(r["prediction_id"] for r in labelled) == sorted(
        e["prediction_id"] for e in events if e["type"] == "label")
    assert read_topic(kafka_bootstrap, topics.dlq) == []
    drift = topic_values(kafka_bootstrap, topics.drift)
    assert drift and all(n == 1 for n in Counter(e["event_id"] for e in drift).values())
