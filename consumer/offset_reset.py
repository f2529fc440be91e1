"""An input position the broker no longer has: Driftline decides where to go on, not librdkafka.

The group consumer runs with ``auto.offset.reset=error`` (:meth:`consumer.service.ConsumerService.
_consumer_conf`). Start offsets are explicit anyway (the committed offsets, or
``consumer.auto_offset_reset`` for a new group: :meth:`consumer.rebalance.PartitionOwner.load`),
so the setting only changes what happens when a fetch position is out of the partition's range
on the broker. librdkafka's own reset would move the position silently (one WARNING log line):
to the start of the log, re-reading records already processed, or to its end, skipping what lies
between. With ``error`` it delivers ``_AUTO_OFFSET_RESET`` for the partition instead and stops
fetching it (its fetch state is then ``none``, where librdkafka refuses ``seek()``: issue #2961).
:class:`OffsetResets` collects those errors during a batch (:meth:`OffsetResets.note`); after the
batch, :meth:`OffsetResets.resolve` decides from the position of the partition's task (the next
offset to process) and the broker's range ``[low, high)`` as it is now (:func:`decide`), sets the
task's position, and the owner assigns its partitions again at their tasks' positions
(:meth:`consumer.rebalance.PartitionOwner.restart_fetch`):

* **below the log start** (``position < low``): the records in ``[position, low)`` were deleted
  before Driftline read them (retention: ``retention.ms``/``retention.bytes``, judged by the
  records' timestamps; or ``DeleteRecords``). They are gone, and so is every offset before them,
  the committed one included: rewinding would not bring them back. The partition goes on at
  ``low``: one ERROR line naming the topic partition, the offsets and the count, and
  ``driftline_consumer_skipped_records_total{topic,partition}`` grows by ``low - position``. The
  work processed so far stands (nothing is re-read); the task's position moves to ``low``, so the
  next commit records the skip.
* **past the log end** (``position > high``): records Driftline already processed are no longer
  in the topic (the log was truncated: unclean leader election; or the topic was deleted and
  re-created under a running consumer). Going on at ``high`` would skip whatever the new log puts
  at those offsets, going back to ``low`` would re-read records already processed: the operator
  decides (reset the group's offsets), so :class:`~consumer.exceptions.InputTruncatedError`
  ends the process (exit 8).
* **inside the range** (the error is stale, or the range moved back): the partition is fetched
  again from its task's position: nothing skipped, nothing read twice.

>>> decide(position=7230, low=24061, high=24061)
Decision(resume_at=24061, skipped=16831)
>>> decide(position=100, low=0, high=150)
Decision(resume_at=100, skipped=0)
>>> decide(position=200, low=0, high=150) is None  # truncated: the operator decides
True
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaException, Message, TopicPartition

from consumer.exceptions import InputTruncatedError
from consumer.metrics import Metrics
from consumer.partition import PartitionTask

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Decision:
    """Where a partition goes on (``resume_at``) and how many records that skips."""

    resume_at: int
    skipped: int


def decide(*, position: int, low: int, high: int) -> Decision | None:
    """Where to go on from ``position`` in a log holding ``[low, high)``; None past the end."""
    if position < low:
        return Decision(resume_at=low, skipped=low - position)
    if position > high:
        return None
    return Decision(resume_at=position, skipped=0)


class OffsetResets:
    """The ``_AUTO_OFFSET_RESET`` errors of one batch, and what is done about them."""

    def __init__(self, metrics: Metrics, *, timeout_s: float = 5.0) -> None:
        self._metrics = metrics
        self._timeout_s = timeout_s
        #: (topic, partition) → the offset librdkafka failed to fetch, in arrival order.
        self.pending: dict[tuple[str, int], int] = {}

    def note(self, msg: Message) -> None:
        """Remember an ``_AUTO_OFFSET_RESET`` error message (the batch is still being processed)."""
        topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
        if topic is not None and partition is not None:
            self.pending[(topic, partition)] = offset if offset is not None else -1

    def resolve(self, consumer: Any, tasks: Mapping[int, PartitionTask]) -> bool:
        """Decide where every noted partition goes on (module docstring) and set its task's
        position there; True if any did (the caller restarts fetching: librdkafka refuses a
        ``seek()`` on a partition whose fetch stopped, so the owner assigns again,
        :meth:`consumer.rebalance.PartitionOwner.restart_fetch`). Raises
        :class:`~consumer.exceptions.InputTruncatedError` for a position past the log end."""
        pending, self.pending = self.pending, {}
        moved = False
        for (topic, partition), failed in pending.items():
            task = tasks.get(partition)
            if task is None:  # revoked since: its next owner starts from the committed offset
                continue
            position = task.positions.get(topic, task.committed.get(topic, failed))
            watermarks = self._range(consumer, topic, partition)
            if watermarks is None:  # left unresolved, the partition would never be fetched again
                self.pending[(topic, partition)] = failed
                continue
            low, high = watermarks
            decision = decide(position=position, low=low, high=high)
            if decision is None:
                raise InputTruncatedError(
                    f"{topic}[{partition}] ends at offset {high}, before the consumer's "
                    f"position {position}: records it processed are no longer in the topic "
                    "(log truncated, or the topic re-created). Choose where the group goes on: "
                    "kafka-consumer-groups --reset-offsets --group <consumer.group_id> --topic "
                    f"{topic}:{partition} --to-earliest|--to-latest --execute, then start again")
            if decision.skipped:
                self._metrics.skipped_records.labels(topic, str(partition)).inc(decision.skipped)
                log.error("%s[%d]: %d records (offsets %d to %d) were deleted by the broker "
                          "(retention or DeleteRecords) before they were read; going on at "
                          "offset %d, the log start; counted in "
                          "driftline_consumer_skipped_records_total", topic, partition,
                          decision.skipped, position, decision.resume_at - 1, decision.resume_at)
            else:
                log.warning("%s[%d]: fetch at offset %d was out of range, the log now holds "
                            "[%d, %d); fetching again from %d", topic, partition, failed, low,
                            high, decision.resume_at)
            task.positions[topic] = decision.resume_at
            moved = True
        return moved

    def _range(self, consumer: Any, topic: str, partition: int) -> tuple[int, int] | None:
        """The partition's ``(low, high)`` on the broker now; None if the broker does not say."""
        try:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition),
                                                       timeout=self._timeout_s)
        except KafkaException as exc:
            log.warning("%s[%d]: fetch position out of range, and the log's range cannot be "
                        "read (%s); trying again after the next batch", topic, partition,
                        exc.args[0].str() if exc.args else exc)
            return None
        return int(low), int(high)


__all__ = ["Decision", "OffsetResets", "decide"]
