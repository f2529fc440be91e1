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
from collections.abc import Mapping
from typing import Any

from consumer.batch import Decoder
from consumer.exceptions import StateRestoreError, TopicReadError
from consumer.partition import PipelineLike
from consumer.topic_reader import Span, read_to_end
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
    order = {topic: i for i, topic in enumerate(wanted)}
    spans = [Span(topic, partition, start, end) for topic, (start, end) in wanted.items()]
    records: list[tuple[int, int, int, str, bytes | None, bytes | None]] = []
    try:
        for msg in read_to_end(kafka_conf, spans, timeout_s=timeout_s):
            topic, offset = msg.topic(), msg.offset()
            assert topic is not None and offset is not None
            records.append((msg.timestamp()[1], order[topic], offset, topic, msg.key(),
                            msg.value()))
    except TopicReadError as exc:
        raise StateRestoreError(f"catching up partition {partition} {dict(wanted)}: {exc}"
                                ) from exc
    if len(wanted) > 1:
        records.sort(key=lambda r: (r[0], r[1], r[2]))
    batch = []
    for _ts, _i, offset, topic, key, value in records:
        event = decoder.decode(value, key, topic, partition, offset)
        if not isinstance(event, Rejection):
            batch.append((event, (topic, partition, offset), value))
    pipeline.process_batch(batch)  # outputs dropped: they were committed when first produced
    return len(records)


__all__ = ["catch_up"]
