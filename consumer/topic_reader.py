"""Reading Kafka partitions to their end, outside any consumer group: the one reader.

Used to restore state (:mod:`consumer.state_store`), to catch up after a restore
(:mod:`consumer.catchup`), by the retrain worker to read its decision log and its training data
(:mod:`retrain_worker.kafka_io`), and by the tests. Contract:

* :func:`read_to_end` yields the committed records (``isolation.level=read_committed``: aborted
  transactions are never seen) of each :class:`Span`, in offset order per partition, from its
  ``start`` up to its ``end``: the offset given, or the partition's end as it is when the read
  begins. A partition also ends at its end-of-partition event (a transaction's control record
  can sit at the last offsets), so a read never waits for a record that cannot come.
* A throw-away consumer with ``assign`` (no group membership, no commits), fetching without
  librdkafka's 1 s queue backoff, closed when the iteration ends (or is abandoned).
* Failures raise :class:`~consumer.exceptions.TopicReadError` naming
  what was read: a client error, or the deadline ``timeout_s`` passing with partitions unread.
  Callers turn it into their own error (``StateRestoreError``, ``DecisionLogError``).
* A partition whose leader is moving (a topic just created, a broker restarting) is asked again
  until the deadline: ``NOT_LEADER_FOR_PARTITION`` and its kin are a wait, not a failure.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, KafkaError, KafkaException, Message
from confluent_kafka import TopicPartition as KafkaTopicPartition

from consumer.clients import new_consumer
from consumer.exceptions import TopicReadError


@dataclass(frozen=True)
class Span:
    """Offsets ``[start, end)`` of one partition; ``end`` None: its end when the read begins."""

    topic: str
    partition: int
    start: int = OFFSET_BEGINNING
    end: int | None = None


def reader_conf(kafka_conf: Mapping[str, Any], purpose: str = "reader") -> dict[str, Any]:
    """Consumer properties of a group-less, read_committed reader."""
    return {
        **kafka_conf,
        "group.id": f"driftline-{purpose}-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": True,
        "isolation.level": "read_committed",
        "auto.offset.reset": "earliest",
        "fetch.wait.max.ms": 20,
        "fetch.queue.backoff.ms": 10,  # no 1 s pause per 100 000 queued records
    }


def partitions_of(kafka_conf: Mapping[str, Any], topic: str, timeout_s: float = 30.0
                  ) -> list[int]:
    """The partition numbers of ``topic``; :class:`TopicReadError` if it does not exist."""
    consumer = new_consumer(reader_conf(kafka_conf))
    try:
        metadata = consumer.list_topics(topic, timeout=timeout_s)
    except KafkaException as exc:
        raise TopicReadError(f"reading the metadata of {topic}: {exc.args[0].str()}") from exc
    finally:
        consumer.close()
    info = metadata.topics.get(topic)
    if info is None or info.error is not None:
        raise TopicReadError(f"topic {topic} does not exist"
                             + (f": {info.error.str()}" if info and info.error else ""))
    return sorted(info.partitions)


#: Errors that mean "ask again shortly": the partition's leader is being elected or has moved,
#: or the broker asked is restarting.
LEADER_MOVING = frozenset({
    KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._WAIT_COORD, KafkaError._DESTROY_BROKER,
    KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN,
})


def watermarks(consumer: Any, tp: KafkaTopicPartition, deadline: float) -> tuple[int, int]:
    """The partition's low and high watermarks, asked again while its leader moves."""
    while True:
        try:
            low, high = consumer.get_watermark_offsets(
                tp, timeout=max(1.0, deadline - time.monotonic()))
            return int(low), int(high)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            moving = isinstance(error, KafkaError) and (
                error.code() in LEADER_MOVING or error.retriable())
            if not moving or time.monotonic() + 0.2 > deadline:
                raise
            time.sleep(0.2)


def read_to_end(
    kafka_conf: Mapping[str, Any],
    spans: Iterable[Span],
    *,
    timeout_s: float = 60.0,
    batch: int = 1000,
) -> Iterator[Message]:
    """The records of every span (see the module docstring)."""
    wanted = list(spans)
    if not wanted:
        return
    consumer = new_consumer(reader_conf(kafka_conf))
    deadline = time.monotonic() + timeout_s
    try:
        assignment: list[KafkaTopicPartition] = []
        ends: dict[tuple[str, int], int] = {}
        for span in wanted:
            tp = KafkaTopicPartition(span.topic, span.partition, span.start)
            end = span.end
            if end is None:
                low, high = watermarks(consumer, tp, deadline)
                end = high
                start = low if span.start == OFFSET_BEGINNING else span.start
            else:
                start = 0 if span.start == OFFSET_BEGINNING else span.start
            if end > start:
                assignment.append(tp)
                ends[(span.topic, span.partition)] = end
        if not assignment:
            return
        consumer.assign(assignment)
        while ends:
            if time.monotonic() > deadline:
                unread = ", ".join(f"{t}[{p}]" for t, p in sorted(ends))
                raise TopicReadError(f"reading {unread} to its end took longer than "
                                     f"{timeout_s:g}s")
            for msg in consumer.consume(batch, timeout=0.05):
                topic, partition = msg.topic(), msg.partition()
                assert topic is not None and partition is not None
                key = (topic, partition)
                error = msg.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        ends.pop(key, None)
                        continue
                    raise TopicReadError(f"reading {topic}[{partition}]: {error.str()}")
                end = ends.get(key)
                offset = msg.offset()
                if end is None or offset is None or offset >= end:
                    ends.pop(key, None)
                    continue
                if offset >= end - 1:
                    ends.pop(key)
                yield msg
    except KafkaException as exc:
        raise TopicReadError(f"reading {sorted({s.topic for s in wanted})}: "
                             f"{exc.args[0].str() if exc.args else exc}") from exc
    finally:
        consumer.close()


__all__ = ["Span", "partitions_of", "read_to_end", "reader_conf", "watermarks"]
