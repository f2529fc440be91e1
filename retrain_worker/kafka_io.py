"""Reading Kafka topics from start to end outside the consumer group: the labelled topic
(training data) and the retrain topic (the decision log).

Contract:

* both read with the runtime's one reader (:func:`consumer.topic_reader.read_to_end`: no group
  membership, ``read_committed``, so aborted transactions are never seen), to the end of each
  partition as it was when the read began; a read that cannot finish within ``timeout_s``
  raises (:class:`~retrain_worker.exceptions.DecisionLogError` for the decision log; for training
  data the retrain answers ``failed``) instead of returning part of the topic;
* records that are not valid JSON of the expected contract are skipped and counted, never raised.
* :func:`read_labelled` in ``last_n`` mode scans at most ``scan_limit`` records per partition and
  keeps the model's last N (by ``predicted_at``); with a time window it starts each partition at
  the offset for the window's start time (``offsets_for_times``: a record is produced after its
  prediction, so that offset is a safe lower bound) and keeps the records predicted inside it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any, TypeVar

from confluent_kafka import OFFSET_END, Consumer, KafkaException, TopicPartition
from pydantic import BaseModel, ValidationError

from consumer.clients import new_consumer
from consumer.exceptions import TopicReadError
from consumer.topic_reader import Span, partitions_of, read_to_end, reader_conf, watermarks
from detectors.contracts import LabelledRecord
from retrain_worker.config import WindowConfig
from retrain_worker.contracts import RetrainEvent
from retrain_worker.exceptions import DecisionLogError

log = logging.getLogger(__name__)
ModelT = TypeVar("ModelT", bound=BaseModel)


def _scan(
    kafka_conf: Mapping[str, Any],
    topic: str,
    start: Callable[[Consumer, int, int, int], int | None],
    timeout_s: float,
) -> Iterator[bytes]:
    """Values of every record from ``start(consumer, partition, low, high)`` to the end."""
    consumer = new_consumer(reader_conf(kafka_conf))
    deadline = time.monotonic() + timeout_s
    try:
        spans = []
        for partition in partitions_of(kafka_conf, topic, timeout_s):
            # asked again while the partition's leader moves (a topic created a moment ago)
            low, high = watermarks(consumer, TopicPartition(topic, partition), deadline)
            first = start(consumer, partition, low, high) if high > low else None
            if first is not None and first < high:
                spans.append(Span(topic, partition, first, high))
    except KafkaException as exc:
        raise TopicReadError(f"reading the offsets of {topic}: {exc.args[0].str()}") from exc
    finally:
        consumer.close()
    for msg in read_to_end(kafka_conf, spans, timeout_s=timeout_s):
        value = msg.value()
        if value is not None:
            yield value


def _parse(model: type[ModelT], raw: bytes) -> ModelT | None:
    try:
        return model.model_validate_json(raw)
    except (ValidationError, ValueError):
        return None


def read_decision_log(
    kafka_conf: Mapping[str, Any], topic: str, timeout_s: float = 60.0
) -> list[RetrainEvent]:
    """Every committed retrain event, in offset order per partition."""
    try:
        events = [e for raw in _scan(kafka_conf, topic, lambda c, p, low, high: low, timeout_s)
                  if (e := _parse(RetrainEvent, raw)) is not None]
    except TopicReadError as exc:
        raise DecisionLogError(f"cannot read the decision log {topic}: {exc}") from exc
    events.sort(key=lambda e: e.timestamp)
    return events


def read_labelled(
    kafka_conf: Mapping[str, Any],
    topic: str,
    model_id: str,
    window: WindowConfig,
    around: tuple[datetime, datetime] | None,
    timeout_s: float = 120.0,
) -> list[LabelledRecord]:
    """The model's labelled records for a training window (see the module docstring)."""

    def start(consumer: Consumer, partition: int, low: int, high: int) -> int | None:
        if around is None:
            return max(low, high - window.scan_limit)
        wanted = TopicPartition(topic, partition, int(around[0].timestamp() * 1000))
        [found] = consumer.offsets_for_times([wanted], timeout=timeout_s)
        if found.offset in (OFFSET_END, -1):
            return None
        return max(low, found.offset, high - window.scan_limit)

    records = []
    for raw in _scan(kafka_conf, topic, start, timeout_s):
        record = _parse(LabelledRecord, raw)
        if record is None or record.model_id != model_id:
            continue
        if around is not None and not around[0] <= record.predicted_at <= around[1]:
            continue
        records.append(record)
    records.sort(key=lambda r: (r.predicted_at, r.prediction_id))
    if around is None:
        records = records[-window.last_n:]
    return records


__all__ = ["read_decision_log", "read_labelled"]
