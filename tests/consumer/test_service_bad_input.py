"""Against the real broker: a catalogue of bad input lands in the DLQ; the service stays up."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from consumer.config import TopicNames
from consumer.dead_letter import DeadLetterContext
from tests.consumer.helpers import (
    T0,
    ConsumerProcess,
    ServiceProcess,
    encode,
    end_offsets,
    produce,
    read_topic,
    synthetic_stream,
    wait_committed,
)
from tests.hang import HANG_S

pytestmark = pytest.mark.kafka

PRED = {"type": "prediction", "schema_version": 1, "prediction_id": "bad-1", "model_id": "model-0",
        "model_version": "v1", "timestamp": T0 + 1000, "features": {"amount": 1.0},
        "prediction": True, "score": 0.5}


def _pred(**changes: Any) -> bytes:
    event = {**PRED, **changes}
    return encode({k: v for k, v in event.items() if v is not ...})


#: name → (key, value, expected "stage:error_class")
CATALOGUE: dict[str, tuple[bytes | None, bytes | None, str]] = {
    "malformed_json": (b"model-0", b'{"type": "prediction", "model_id": ', "deserialize:JSONDecodeError"),
    "not_utf8": (b"model-0", b'\xff\xfe{"type"}', "deserialize:JSONDecodeError"),
    "wrong_types": (b"model-0", _pred(features="amount=1", prediction=[1]),
                    "validate:ValidationError"),
    "nan": (b"model-0", _pred().replace(b'"score":0.5', b'"score":NaN'),
            "validate:ValidationError"),
    "inf": (b"model-0", _pred().replace(b'"amount":1.0', b'"amount":Infinity'),
            "validate:ValidationError"),
    "missing_field": (b"model-0", _pred(prediction_id=...), "validate:ValidationError"),
    "null_field": (b"model-0", _pred(model_id=None), "validate:ValidationError"),
    "oversized": (b"model-0", _pred(features={"blob": "x" * 5000}),
                  "deserialize:RecordTooLarge"),
    "null_key": (None, _pred(prediction_id="bad-nokey"), "validate:MissingKey"),
    "null_value": (b"model-0", None, "deserialize:NullValue"),
    "unknown_schema_version": (b"model-0", _pred(schema_version=99),
                               "validate:ValidationError"),
    "unknown_model": (b"ghost", _pred(model_id="ghost", prediction_id="bad-ghost"),
                      "validate:UnknownModel"),
    "orphan_label": (b"model-1", encode({"type": "label", "schema_version": 1,
                                         "prediction_id": "never-predicted",
                                         "model_id": "model-1", "timestamp": T0 + 1000,
                                         "label": True}), "join:OrphanLabel"),
}


def test_bad_input_catalogue_goes_to_the_dlq(
    kafka_bootstrap: str, one_input_topics: Callable[[int], TopicNames], tmp_path: Path,
    services: list[ServiceProcess],
) -> None:
    topics = one_input_topics(1)
    good = synthetic_stream(models=2, per_model=400, seed=3)
    records: list[tuple[bytes | None, bytes | None, str | None]] = [
        (e["model_id"].encode(), encode(e), None) for e in good]
    # A duplicate label: the first label of the stream, sent again right after itself.
    first_label = next(i for i, (_, v, _) in enumerate(records) if v and b'"label"' in v)
    records.insert(first_label + 1, (*records[first_label][:2], "join:DuplicateLabel"))
    for position, (key, value, reason) in enumerate(CATALOGUE.values()):
        records.insert(40 + position * 7, (key, value, reason))
    produce(kafka_bootstrap, topics.predictions, ((k, v) for k, v, _ in records), partition=0)

    group = f"g-{uuid.uuid4().hex[:8]}"
    service = ConsumerProcess(
        tmp_path, kafka_bootstrap, topics, group=group, instance="a",
        consumer={"max_record_bytes": 4096},
        detection={"known_models": ["model-0", "model-1"], "label_wait_ttl_s": 10.0})
    services.append(service.start())
    service.wait_ready()
    wait_committed(kafka_bootstrap, group, topics.predictions, procs=[service])

    # The service stayed up and healthy.
    assert service.poll() is None
    assert service.get("/healthz")[0] == 200
    assert service.get("/readyz")[0] == 200

    dlq = read_topic(kafka_bootstrap, topics.dlq)
    inputs = {r.offset: r for r in read_topic(kafka_bootstrap, topics.predictions)}
    contexts = [DeadLetterContext.from_headers(r.headers) for r in dlq]
    got = Counter(f"{c.stage}:{c.error_class}" for c in contexts)
    expected = Counter(reason for _, _, reason in records if reason)
    assert got == expected, (got, expected)
    for record, context in zip(dlq, contexts, strict=True):
        original = inputs[context.offset]
        assert (context.topic, context.partition) == (topics.predictions, 0)
        assert record.value == original.value
        if context.error_class != "OrphanLabel":  # expired later: keyed by its model
            assert record.key == original.key
        assert context.message

    # Per partition: consumed = processed + dead-lettered (no label left waiting).
    def metric(outcome: str) -> float:
        value = service.metric("driftline_consumer_records_total",
                               {"partition": "0", "outcome": outcome})
        return value or 0.0

    assert metric("consumed") == end_offsets(kafka_bootstrap, topics.predictions)[0]
    # The pipeline gauges are refreshed after a commit at most once a second (a commit is
    # tried every commit interval, idle or not): the gauge may still show a label that waited
    # mid-stream when the offsets are committed, and must come to 0 (HANG_S bounds a hang).
    deadline = time.monotonic() + HANG_S
    while service.metric("driftline_consumer_waiting_labels", {"partition": "0"}) != 0:
        assert time.monotonic() < deadline, (
            service.metric("driftline_consumer_waiting_labels", {"partition": "0"}),
            service.tail())
        time.sleep(0.1)
    assert metric("processed") + metric("dead_lettered") == metric("consumed")
    assert metric("dead_lettered") == len(dlq)
    invalid = service.metric("driftline_consumer_invalid_events_total",
                             {"reason": "deserialize:RecordTooLarge"})
    assert invalid == 1
    assert service.terminate() == 0
    assert json.loads(inputs[0].value or b"")["type"] in ("prediction", "label")
