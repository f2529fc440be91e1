"""Against the real broker: what is larger than one Kafka record (1 MB by default) is handled.

* A model whose state is larger: chunked snapshots, the label join in segments. A model with thousands of predictions waiting for their labels (a label delay of minutes at tens
of predictions per second) has a snapshot over Kafka's default 1 MB record limit. Before
snapshots were chunked, every checkpoint's transaction aborted ("Message size too large") and
the consumer rewound forever without committing.
* A bad input record that fits the input topic but not, with the context headers, the DLQ: it is
  dead-lettered without its value (the same livelock otherwise).
* A valid prediction whose labelled record grows past the limit when re-serialized (``1E5`` is
  written back as ``100000.0``): that one labelled record is held back and counted.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from consumer.config import TopicNames
from consumer.dead_letter import VALUE_OMITTED_HEADER, DeadLetterContext
from consumer.state_store import CHUNK_BYTES
from detectors.contracts import Label, Prediction
from tests.consumer.helpers import (
    ConsumerProcess,
    ServiceProcess,
    consume_all,
    produce,
    read_topic,
    topic_values,
    wait_committed,
)

pytestmark = pytest.mark.kafka

PENDING = 20_000  # about 2.5 MB of pending joins (compact pending entries): three chunks


def _events(kind: str) -> list[tuple[bytes, bytes]]:
    t0 = 1_800_000_000_000
    out = []
    for i in range(PENDING):
        if kind == "prediction":
            event: Prediction | Label = Prediction(
                prediction_id=f"p{i}", model_id="fraud", model_version="v1",
                timestamp=t0 + i * 10, features={"amount": float(i % 7), "age": 30.0},
                prediction=i % 2, score=0.5)
        else:
            event = Label(prediction_id=f"p{i}", model_id="fraud",
                          timestamp=t0 + PENDING * 10 + i, label=i % 3 == 0)
        out.append((b"fraud", event.model_dump_json().encode()))
    return out


def test_pending_joins_over_a_record_limit_survive_a_restart(
    kafka_bootstrap: str, one_input_topics: Callable[[int], TopicNames], tmp_path: Path,
    services: list[ServiceProcess],
) -> None:
    topics = one_input_topics(1)
    group = f"g-{uuid.uuid4().hex[:8]}"
    service = ConsumerProcess(tmp_path, kafka_bootstrap, topics, group=group, instance="a",
                             consumer={"snapshot_interval_ms": 0})
    services.append(service.start())
    service.wait_ready()
    produce(kafka_bootstrap, topics.predictions, _events("prediction"))
    wait_committed(kafka_bootstrap, group, topics.predictions, procs=[service])
    assert service.metric("driftline_consumer_transactions_total",
                          {"outcome": "aborted"}) in (None, 0.0), service.tail()
    assert service.terminate() == 0, service.tail()

    # The state topic holds the model's snapshot in pieces (chunks, or its join's segments: a
    # record each), none over the limit.
    state = [r for r in read_topic(kafka_bootstrap, topics.state)
             if r.key and r.key.startswith(f"{group}/0".encode())]
    chunks = [r for r in state if r.key and r.key.startswith(
        (f"{group}/0#".encode(), f"{group}/0~".encode()))]
    assert len(chunks) >= 2, [r.key for r in state]
    assert all(len(r.value or b"") <= CHUNK_BYTES + 1024 for r in state)

    # Restart: the pending predictions come back from the snapshot (nothing is replayed, since
    # every commit checkpoints), and every label produced now meets its prediction.
    services.append(service.start())
    service.wait_ready()
    assert service.metric("driftline_consumer_restored_models_total") == 1.0
    assert service.metric("driftline_consumer_replayed_records_total") in (None, 0.0)
    produce(kafka_bootstrap, topics.predictions, _events("label"))
    wait_committed(kafka_bootstrap, group, topics.predictions, procs=[service])
    assert service.terminate() == 0, service.tail()
    labelled = topic_values(kafka_bootstrap, topics.labelled)
    assert sorted(r["prediction_id"] for r in labelled) == sorted(f"p{i}" for i in range(PENDING))
    dlq = read_topic(kafka_bootstrap, topics.dlq)
    assert dlq == [], [json.loads(r.value or b"{}") for r in dlq[:3]]


@pytest.mark.parametrize(("size", "stage", "error_class"), [
    (1_030_000, "deserialize", "RecordTooLarge"),  # over consumer.max_record_bytes
    (899_950, "validate", "ValidationError"),  # under it, but not with the context headers
])
def test_a_bad_record_too_large_for_the_dlq_is_dead_lettered_without_its_value(
    kafka_bootstrap: str, one_input_topics: Callable[[int], TopicNames], tmp_path: Path,
    services: list[ServiceProcess], size: int, stage: str, error_class: str,
) -> None:
    topics = one_input_topics(1)
    head = b'{"type":"prediction","blob":"'
    huge = head + b"x" * (size - len(head) - 2) + b'"}'
    assert len(huge) == size
    after = _events("prediction")[:3]
    produce(kafka_bootstrap, topics.predictions, [(b"fraud", huge), *after],
            **{"message.max.bytes": 1_048_000})
    service = consume_all(tmp_path, kafka_bootstrap, topics, services)
    assert service.metric("driftline_consumer_records_total",
                          {"partition": "0", "outcome": "processed"}) == len(after)
    assert service.terminate() == 0, service.tail()
    [dead] = read_topic(kafka_bootstrap, topics.dlq)
    assert dead.value is None and dead.key == b"fraud"
    assert dict(dead.headers)[VALUE_OMITTED_HEADER] == str(size).encode()
    context = DeadLetterContext.from_headers(dead.headers)
    assert (context.topic, context.partition, context.offset) == (topics.predictions, 0, 0)
    assert (context.stage, context.error_class) == (stage, error_class)


def test_a_labelled_record_over_the_limit_is_held_back_and_counted(
    kafka_bootstrap: str, one_input_topics: Callable[[int], TopicNames], tmp_path: Path,
    services: list[ServiceProcess],
) -> None:
    topics = one_input_topics(1)
    features = ",".join(f'"f{i}":1E5' for i in range(60_000))
    big = (b'{"type":"prediction","prediction_id":"big","model_id":"fraud","model_version":"v1",'
           b'"timestamp":0,"prediction":1,"features":{' + features.encode() + b'}}')
    assert len(big) < 900_000  # within consumer.max_record_bytes: a valid input
    label = Label(prediction_id="big", model_id="fraud", timestamp=5, label=1)
    normal = _events("prediction")[:1] + _events("label")[:1]
    produce(kafka_bootstrap, topics.predictions,
            [(b"fraud", big), (b"fraud", label.model_dump_json().encode()), *normal],
            **{"message.max.bytes": 1_048_000})
    service = consume_all(tmp_path, kafka_bootstrap, topics, services)
    assert service.metric("driftline_consumer_labelled_too_large_total") == 1.0
    assert service.metric("driftline_consumer_records_total",
                          {"partition": "0", "outcome": "processed"}) == 4
    assert service.terminate() == 0, service.tail()
    assert [r["prediction_id"] for r in topic_values(kafka_bootstrap, topics.labelled)] == ["p0"]
    assert read_topic(kafka_bootstrap, topics.dlq) == []
