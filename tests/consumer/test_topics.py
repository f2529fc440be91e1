"""Against the real broker: topic creation settings, and every event type through Kafka."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic
from pydantic import BaseModel

from consumer.config import TopicLayout
from consumer.dead_letter import DeadLetterContext
from consumer.topics import TopicError, check_copartitioned, create_topics, topic_settings
from detectors.contracts import (
    DriftEvent,
    Label,
    LabelledRecord,
    Prediction,
    Source,
    drift_event_id,
)
from retrain_worker.contracts import Evaluation, RetrainEvent, TrainingWindow, Trigger
from tests.conftest import unique_topic_names
from tests.hang import HANG_S

pytestmark = pytest.mark.kafka

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _described_configs(kafka_conf: dict[str, str], topic: str) -> dict[str, str]:
    admin = AdminClient(kafka_conf)
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    entries = admin.describe_configs([resource])[resource].result()
    return {name: entry.value for name, entry in entries.items()}


def test_create_topics_is_idempotent_and_compacts_state(kafka_conf: dict[str, str]) -> None:
    names = unique_topic_names("topics")
    layout = TopicLayout(partitions=3, replication_factor=1)
    created = create_topics(kafka_conf, names, layout)
    assert sorted(created) == sorted(topic_settings(names, layout))
    assert create_topics(kafka_conf, names, layout) == []
    assert _described_configs(kafka_conf, names.state)["cleanup.policy"] == "compact"
    assert _described_configs(kafka_conf, names.drift)["cleanup.policy"] == "delete"
    assert check_copartitioned(kafka_conf, names.inputs()) == 3


def test_copartition_check_names_the_mismatch(kafka_conf: dict[str, str]) -> None:
    tag = uuid.uuid4().hex[:8]
    admin = AdminClient(kafka_conf)
    futures = admin.create_topics([NewTopic(f"{tag}.p", 2, 1), NewTopic(f"{tag}.l", 3, 1)])
    for future in futures.values():
        future.result()
    deadline = time.monotonic() + HANG_S
    while {f"{tag}.p", f"{tag}.l"} - set(admin.list_topics(timeout=5).topics):
        assert time.monotonic() < deadline, "created topics never showed up in metadata"
        time.sleep(0.1)
    with pytest.raises(TopicError, match=rf"not co-partitioned \({tag}.p=2, {tag}.l=3\)"):
        check_copartitioned(kafka_conf, [f"{tag}.p", f"{tag}.l"])
    with pytest.raises(TopicError, match="does not exist"):
        check_copartitioned(kafka_conf, [f"{tag}.missing"])


def test_topics_command_twice(kafka_bootstrap: str) -> None:
    names = unique_topic_names("cli")
    config = "topics:\n" + "".join(
        f"  {field}: {getattr(names, field)}\n" for field in type(names).model_fields
    )
    cmd = [
        sys.executable,
        "-m",
        "driftline",
        "topics",
        "create",
        "--config",
        "/dev/stdin",
        "--bootstrap-servers",
        kafka_bootstrap,
        "--partitions",
        "2",
    ]
    first = subprocess.run(cmd, input=config, capture_output=True, text=True, check=True)
    second = subprocess.run(cmd, input=config, capture_output=True, text=True, check=True)
    assert first.stdout.count("created") == 8, first.stdout
    assert second.stdout.count("exists") == 8 and "created" not in second.stdout


def _samples() -> list[BaseModel]:
    source = Source(topic="driftline.labels", partition=0, offset=41)
    return [
        Prediction(
            prediction_id="p-1",
            model_id="fraud",
            model_version="v1",
            timestamp=NOW,
            features={"amount": 3.5, "country": "DE"},
            prediction=1,
            score=0.7,
        ),
        Label(prediction_id="p-1", model_id="fraud", timestamp=NOW, label=0),
        DriftEvent(
            event_id=drift_event_id(
                model_id="fraud",
                model_version="v1",
                segment=None,
                signal="error",
                detector="adwin",
                severity="drift",
                source=source,
            ),
            kind="concept",
            severity="drift",
            model_id="fraud",
            model_version="v1",
            signal="error",
            detector="adwin",
            detected_at=NOW,
            published_at=NOW,
            samples_seen=420,
            stats={"width": 400, "mean_before": 0.1, "mean_after": 0.4},
            source=source,
        ),
        LabelledRecord(
            prediction_id="p-1",
            model_id="fraud",
            model_version="v1",
            predicted_at=NOW,
            labelled_at=NOW,
            features={"amount": 3.5},
            prediction=1,
            score=0.7,
            label=0,
        ),
        Trigger(
            trigger_id="t-1",
            model_id="fraud",
            reason="quarterly refresh",
            requested_by="alice",
            timestamp=NOW,
        ),
        RetrainEvent(
            event_id="r-1",
            model_id="fraud",
            status="promoted",
            reason="drift",
            triggers=["de-1"],
            previous_version="v1",
            new_version="v2",
            training=TrainingWindow(
                sample_count=1000,
                class_balance={"0": 0.7, "1": 0.3},
                checks_passed=["size", "balance"],
            ),
            evaluation=Evaluation(
                metric="f1", holdout_size=200, champion={"f1": 0.61}, challenger={"f1": 0.78}
            ),
            artifact_uri="file:///registry/fraud/v2",
            duration_s=3.2,
            timestamp=NOW,
        ),
    ]


def test_every_event_type_survives_the_broker(kafka_conf: dict[str, str]) -> None:
    names = unique_topic_names("roundtrip")
    create_topics(kafka_conf, names, TopicLayout(partitions=1))
    samples = _samples()
    dlq_context = DeadLetterContext(
        stage="validate",
        error_class="ValidationError",
        message="prediction.score: Input should be a finite number",
        topic=names.predictions,
        partition=0,
        offset=9,
    )
    producer = Producer({**kafka_conf, "enable.idempotence": True})
    for sample in samples:
        producer.produce(
            names.drift,
            key=b"fraud",
            value=sample.model_dump_json().encode(),
            headers=[("type", type(sample).__name__.encode())],
        )
    producer.produce(names.dlq, key=None, value=b'{"score": NaN}', headers=dlq_context.to_headers())
    assert producer.flush(30) == 0

    consumer = Consumer(
        {
            **kafka_conf,
            "group.id": f"g-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe([names.drift, names.dlq])
    received: dict[str, list] = {names.drift: [], names.dlq: []}
    while len(received[names.drift]) < len(samples) or not received[names.dlq]:
        message = consumer.poll(10)
        assert message is not None, f"timed out; got {received}"
        assert message.error() is None
        received[message.topic()].append(message)
    consumer.close()

    by_type = {type(s).__name__: type(s) for s in samples}
    for sample, message in zip(samples, received[names.drift], strict=True):
        model = by_type[dict(message.headers())["type"].decode()]
        assert message.key() == b"fraud"
        assert model.model_validate_json(message.value()) == sample
        json.loads(message.value())  # plain JSON for any consumer
    dead = received[names.dlq][0]
    assert dead.key() is None and dead.value() == b'{"score": NaN}'
    assert DeadLetterContext.from_headers(dead.headers()) == dlq_context
