"""Running ``driftline retrain-worker`` as a real process against the real broker, for tests."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from confluent_kafka import Consumer, Producer

from consumer.config import TopicNames
from detectors.contracts import DriftEvent, LabelledRecord, Source, drift_event_id
from driftline.dev.services import ServiceProcess
from retrain_worker.contracts import RetrainEvent
from tests.hang import HANG_S

HERE = Path(__file__).resolve().parent


def produce(bootstrap: str, topic: str, items: Iterable[tuple[str, bytes]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for key, value in items:
        producer.produce(topic, key=key.encode(), value=value)
    assert producer.flush(30) == 0


def produce_labelled(bootstrap: str, topic: str, records: list[LabelledRecord]) -> None:
    produce(bootstrap, topic, [(r.model_id, r.model_dump_json().encode()) for r in records])


def drift_event(model_id: str, offset: int, *, kind: str = "concept",
                severity: str = "drift") -> DriftEvent:
    source = Source(topic="preds", partition=0, offset=offset)
    now = datetime.now(UTC)
    return DriftEvent(
        event_id=drift_event_id(model_id=model_id, model_version="v1", segment=None,
                                signal="error", detector="adwin", severity=severity,
                                source=source),
        kind=kind, severity=severity, model_id=model_id, model_version="v1", signal="error",
        detector="adwin", detected_at=now, published_at=now, samples_seen=500, source=source)


def wait_for_retrain(bootstrap: str, topic: str, done: Callable[[list[RetrainEvent]], bool], *,
                     timeout_s: float = HANG_S, settle_s: float = 0.0) -> list[RetrainEvent]:
    """Committed retrain events, read until ``done(events)`` holds (then ``settle_s`` more, to
    see what should not come) or ``timeout_s`` passes."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"check-{time.time_ns()}",
                         "auto.offset.reset": "earliest", "isolation.level": "read_committed",
                         "enable.auto.commit": False})
    consumer.subscribe([topic])
    events: list[RetrainEvent] = []
    deadline = time.monotonic() + timeout_s
    settled: float | None = None
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(0.3)
            if msg is not None and msg.error() is None:
                events.append(RetrainEvent.model_validate_json(msg.value()))
            if done(events):
                settled = settled or time.monotonic()
                if time.monotonic() - settled >= settle_s:
                    break
    finally:
        consumer.close()
    return events


def read_retrain(bootstrap: str, topic: str, *, until: int = 0, timeout_s: float = HANG_S,
                 settle_s: float = 0.0) -> list[RetrainEvent]:
    """Committed retrain events; waits until ``until`` events are there, then ``settle_s``."""
    return wait_for_retrain(bootstrap, topic, lambda events: len(events) >= until,
                            timeout_s=timeout_s, settle_s=settle_s)


def wait_for_models(bootstrap: str, topic: str, models: Iterable[str], *, timeout_s: float = HANG_S,
                    settle_s: float = 0.0) -> dict[str, list[RetrainEvent]]:
    """Model id → its committed retrain events, once every model has one (then ``settle_s``)."""
    wanted = list(models)

    def by_model(events: list[RetrainEvent]) -> dict[str, list[RetrainEvent]]:
        return {m: [e for e in events if e.model_id == m] for m in wanted}

    events = wait_for_retrain(bootstrap, topic, lambda got: all(by_model(got).values()),
                              timeout_s=timeout_s, settle_s=settle_s)
    return by_model(events)


def write_config(path: Path, bootstrap: str, topics: TopicNames, worker: dict[str, Any]) -> Path:
    config = {
        "kafka": {"bootstrap.servers": bootstrap},
        "topics": topics.model_dump(),
        "worker": {
            "consumer": {"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000},
            **worker,
        },
    }
    path.write_text(yaml.safe_dump(config))
    return path


def worker_process(config: Path, log: Path, metrics_port: int) -> ServiceProcess:
    """``driftline retrain-worker --config FILE`` (not started); the test trainers in this
    folder (``bad_trainers``) importable by it."""
    path = os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))
    return ServiceProcess("retrain-worker", config, log, metrics_port=metrics_port,
                          env={"PYTHONPATH": path})
