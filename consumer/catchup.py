"""Catch-up: bring restored state from its checkpoint forward to the committed input offsets.

State snapshots are written every ``consumer.snapshot_interval_ms`` (a *checkpoint*), while
outputs and input offsets are committed every ``consumer.commit_interval_ms``. So the state read
back from the state topic reflects the inputs up to the checkpoint offsets ``S``, and the group's
committed offsets ``C`` may be further on. Catch-up re-reads the input records in ``[S, C)``
(``read_committed``) and feeds them to the restored pipeline, *discarding every output*: those
outputs were already committed, in the transactions that committed ``C``.

Contract:

* The result is the state an uninterrupted run had at ``C``, provided the pipeline sees the
  records in the same order: exact for one input topic; with separate prediction and label
  topics, records are merged by (timestamp, topic, offset), which is the order of a run that
  read them interleaved by time (librdkafka's own interleaving is not reproducible anyway).
* Records that fail decoding are skipped (they were dead-lettered when first read).
* Returns the number of records replayed; never produces anything.

With ``snapshot_interval_ms`` at or below the commit interval every commit writes snapshots and
catch-up has nothing to do.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from consumer.batch import Decoder, make_source
from consumer.exceptions import StateRestoreError
from consumer.partition import PipelineLike
from detectors.rejection import Rejection

log = logging.getLogger(__name__)


def catch_up(
    kafka_conf: Mapping[str, Any],
    pipeline: PipelineLike,
    decoder: Decoder,
    partition: int,
    ranges: Mapping[str, tuple[int, int]],
    timeout_s: float = 120.0,
) -> int:
    """Replay ``topic → [start, end)`` of input ``partition`` into ``pipeline``; outputs dropped."""
    wanted = {t: r for t, r in ranges.items() if r[1] > r[0]}
    if not wanted:
        return 0
    consumer = Consumer({
        **kafka_conf,
        "group.id": f"driftline-catchup-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
        "fetch.wait.max.ms": 20,
        "fetch.queue.backoff.ms": 10,  # no 1 s pause per 100 000 queued records
        "enable.partition.eof": True,
    })
    records: list[tuple[int, int, int, str, bytes | None, bytes | None]] = []
    order = {topic: i for i, topic in enumerate(wanted)}
    deadline = time.monotonic() + timeout_s
    try:
        consumer.assign([TopicPartition(t, partition, r[0]) for t, r in wanted.items()])
        remaining = set(wanted)
        while remaining:
            if time.monotonic() > deadline:
                raise StateRestoreError(
                    f"catching up partition {partition} {dict(wanted)} took over {timeout_s}s")
            for msg in consumer.consume(1000, timeout=0.05):
                topic = msg.topic()
                assert topic is not None
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        remaining.discard(topic)  # control records may end the range early
                        continue
                    raise StateRestoreError(f"catching up {topic}[{partition}]: {err.str()}")
                offset = msg.offset()
                assert offset is not None
                end = wanted[topic][1]
                if offset >= end:
                    remaining.discard(topic)
                    continue
                records.append((msg.timestamp()[1], order[topic], offset, topic, msg.key(),
                                msg.value()))
                if offset == end - 1:
                    remaining.discard(topic)
    except KafkaException as exc:
        raise StateRestoreError(f"catching up partition {partition}: {exc}") from exc
    finally:
        consumer.close()
    if len(wanted) > 1:
        records.sort(key=lambda r: (r[0], r[1], r[2]))
    for _ts, _i, offset, topic, key, value in records:
        event = decoder.decode(value, key, topic, partition, offset)
        if isinstance(event, Rejection):
            continue
        pipeline.process(event, make_source(topic, partition, offset), raw=value)
    return len(records)


__all__ = ["catch_up"]
