"""Rebalance handling, in one place: which partitions this process owns, and their state.

Contract (range assignment, eager protocol; input topics co-partitioned, so partition ``p`` of
every input topic arrives and leaves together):

* **assign** — assign and *pause* the partitions; for each partition number build its
  :class:`~consumer.partition.PartitionTask`: reuse the one parked at the last revoke when the
  broker's committed offsets still equal what that task committed (nobody processed it since),
  else restore every model's snapshot from the state topic into a fresh pipeline; position the
  partitions at their committed offsets; *resume*. ``/readyz`` turns ready after this.
* **revoke** — commit everything owned (bounded by ``consumer.revoke_timeout_s``), then park the
  tasks. If that commit fails, the transaction is aborted and the parked tasks are dropped (their
  in-memory state is ahead of what was committed).
* **lost** — the group moved on without us (session timeout): abort the open transaction, drop
  the lost tasks' state and never commit for them.
* A snapshot the pipeline refuses (``SnapshotError``: another River version, corrupt) is logged
  loudly and that model starts fresh; the service does not crash-loop on state.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, TopicPartition

from consumer.health import HealthState
from consumer.metrics import Metrics
from consumer.partition import PartitionTask, PipelineFactory
from consumer.state_store import StateStore

log = logging.getLogger(__name__)


class PartitionOwner:
    """Holds the owned :class:`PartitionTask`\\s and implements the rebalance callbacks."""

    def __init__(
        self,
        *,
        inputs: list[str],
        store: StateStore,
        pipeline_factory: PipelineFactory,
        metrics: Metrics,
        health: HealthState,
        commit: Callable[[float], None],
        abort: Callable[[], None],
        revoke_timeout_s: float,
        auto_offset_reset: str = "earliest",
        snapshot_error: type[Exception] = Exception,
    ) -> None:
        self.inputs = inputs
        self.tasks: dict[int, PartitionTask] = {}
        self._parked: dict[int, PartitionTask] = {}
        self._store = store
        self._factory = pipeline_factory
        self._metrics = metrics
        self._health = health
        self._commit = commit
        self._abort = abort
        self._revoke_timeout_s = revoke_timeout_s
        self._reset = OFFSET_BEGINNING if auto_offset_reset == "earliest" else OFFSET_END
        self._snapshot_error = snapshot_error
        #: Set when the process must not commit any more (fatal error).
        self.frozen = False

    # -- callbacks given to Consumer.subscribe ---------------------------------------------

    def on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._metrics.rebalances.labels("assign").inc()
        self._health.set_ready(False, "restoring state")
        consumer.assign(partitions)
        if partitions:
            consumer.pause(partitions)
        numbers = sorted({tp.partition for tp in partitions})
        start = self.load(consumer, numbers)
        if start:
            consumer.assign(start)  # the same partitions, now positioned at committed offsets
            consumer.resume(start)
        self._parked.clear()
        self._metrics.assigned_partitions.set(len(self.tasks))
        self._health.set_ready(True)
        self._metrics.ready.set(1)
        log.info("assigned partitions %s of %s; state restored", numbers, self.inputs)

    def on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._metrics.rebalances.labels("revoke").inc()
        self._health.set_ready(False, "rebalancing")
        self._metrics.ready.set(0)
        numbers = sorted({tp.partition for tp in partitions})
        if self.frozen:
            self._drop(numbers)
            return
        try:
            self._commit(self._revoke_timeout_s)
        except Exception:
            log.exception("commit on revoke failed; aborting and dropping the revoked state")
            self._abort()
            self._drop(numbers)
            self._parked.clear()
            return
        for p in numbers:
            task = self.tasks.pop(p, None)
            if task is not None:
                self._parked[p] = task
        self._metrics.assigned_partitions.set(len(self.tasks))
        log.info("revoked partitions %s after a final commit", numbers)

    def on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._metrics.rebalances.labels("lost").inc()
        self._health.set_ready(False, "partitions lost")
        self._metrics.ready.set(0)
        numbers = sorted({tp.partition for tp in partitions})
        log.warning("partitions %s lost (the group moved on); dropping their state uncommitted",
                    numbers)
        self._abort()
        self._drop(numbers)
        self._parked.clear()

    # -- state --------------------------------------------------------------------------------

    def _drop(self, numbers: list[int]) -> None:
        for p in numbers:
            self.tasks.pop(p, None)
        self._metrics.assigned_partitions.set(len(self.tasks))

    def committed_offsets(self, consumer: Consumer, p: int) -> dict[str, int]:
        tps = [TopicPartition(topic, p) for topic in self.inputs]
        result = consumer.committed(tps, timeout=self._revoke_timeout_s)
        return {tp.topic: tp.offset for tp in result if tp.offset >= 0}

    def load(self, consumer: Consumer, numbers: list[int]) -> list[TopicPartition]:
        """Build the tasks of ``numbers`` (reuse or restore); return where to start reading."""
        start: list[TopicPartition] = []
        for p in numbers:
            committed = self.committed_offsets(consumer, p)
            parked = self._parked.pop(p, None)
            if parked is not None and parked.committed == committed:
                self.tasks[p] = parked
                log.info("partition %d: kept in-memory state (committed offsets unchanged)", p)
            else:
                self.tasks[p] = self._restore(p, committed)
            for topic in self.inputs:
                start.append(TopicPartition(topic, p, committed.get(topic, self._reset)))
        return start

    def _restore(self, p: int, committed: dict[str, int]) -> PartitionTask:
        began = time.monotonic()
        pipeline = self._factory()
        restored = self._store.restore(p)
        for model_id, snap in restored.items():
            ahead = {t: o for t, o in snap.offsets.items() if o > committed.get(t, 0)}
            if ahead:
                log.error("partition %d model %s: snapshot reflects offsets %s beyond the "
                          "committed %s", p, model_id, ahead, committed)
            try:
                pipeline.restore_model(model_id, snap.payload)
            except self._snapshot_error as exc:
                log.error("partition %d model %s: snapshot refused (%s); the model starts fresh",
                          p, model_id, exc)
        self._metrics.restored_models.inc(len(restored))
        seconds = time.monotonic() - began
        self._metrics.restore_seconds.observe(seconds)
        log.info("partition %d: restored %d model snapshots in %.3fs (committed offsets %s)",
                 p, len(restored), seconds, committed)
        return PartitionTask(partition=p, pipeline=pipeline, positions=dict(committed),
                             committed=dict(committed))

    def rewind(self, consumer: Consumer) -> None:
        """After an abort: every owned partition back to its committed offsets and state."""
        numbers = sorted(self.tasks)
        self.tasks.clear()
        self._parked.clear()
        start = self.load(consumer, numbers)
        for tp in start:
            try:
                consumer.seek(tp)
            except Exception as exc:  # not fetched yet: the assignment offset still applies
                log.debug("seek %s: %s", tp, exc)
        log.warning("rewound partitions %s to their committed offsets and state", numbers)


__all__ = ["PartitionOwner"]
