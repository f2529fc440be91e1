"""A model whose state is larger than one Kafka record: chunked snapshots, against the real broker.

A model with thousands of predictions waiting for their labels (a label delay of minutes at tens
of predictions per second) has a snapshot over Kafka's default 1 MB record limit. Before
snapshots were chunked, every checkpoint's transaction aborted ("Message size too large") and
the consumer rewound forever without committing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from consumer.config import TopicNames
from consumer.state_store import CHUNK_BYTES
from detectors.contracts import Label, Prediction
from tests.consumer.helpers import (
    ServiceProcess,
    produce,
    read_topic,
    topic_values,
    wait_committed,
)

pytestmark = pytest.mark.kafka

PENDING = 8_000  # about 2.2 MB of pending joins: three chunks


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
    service = ServiceProcess(tmp_path, kafka_bootstrap, topics, group=group, instance="a",
                             consumer={"snapshot_interval_ms": 0})
    services.append(service.start())
    service.wait_ready()
    produce(kafka_bootstrap, topics.predictions, _events("prediction"))
    wait_committed(kafka_bootstrap, group, topics.predictions, procs=[service])
    assert service.metric("driftline_consumer_transactions_total",
                          {"outcome": "aborted"}) in (None, 0.0), service.tail()
    assert service.terminate() == 0, service.tail()

    # The state topic holds the model's snapshot in chunks, none over the limit.
    state = [r for r in read_topic(kafka_bootstrap, topics.state)
             if r.key and r.key.startswith(f"{group}/0".encode())]
    chunks = [r for r in state if r.key and r.key.startswith(f"{group}/0#".encode())]
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
