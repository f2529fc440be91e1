"""Rebalance handling, in one place: which partitions this process owns, their state, and when
their work is committed or thrown away.

Contract (range assignment, eager protocol; input topics co-partitioned, so partition ``p`` of
every input topic arrives and leaves together):

* **assign** — for each partition number build its :class:`~consumer.partition.PartitionTask`:
  reuse the one parked at the last revoke when the broker's committed offsets still equal what
  that task committed (nobody processed it since), else restore it
  (:class:`~consumer.restore.PartitionRestorer`: snapshots, then catch-up to the committed
  offsets); only then ``assign()`` the partitions, at their committed offsets, and mark the tasks
  ``active``. Nothing is fetched before that call, so no record can arrive before its
  partition's state: the effect of "pause, restore, resume" without pause/resume. (An
  application ``resume()`` racing librdkafka's own fetch start can be dropped as an outdated op,
  leaving the partition paused for good: seen here with librdkafka 2.16, one restart in ~8.)
  ``/readyz`` turns ready after this.
* **commit** — the service loop's periodic commit (:meth:`PartitionOwner.commit`) goes through
  the :class:`~consumer.commit_policy.CommitPolicy`; an abortable error recovers: abort, then
  every owned partition back to its committed offsets and state (:meth:`PartitionOwner.recover`).
* **revoke** — commit everything owned with a forced checkpoint (bounded by
  ``consumer.revoke_timeout_s``), then park the tasks. If that commit fails, the transaction is
  aborted and the revoked tasks are dropped (their in-memory state is ahead of what was
  committed).
* **lost** — the group moved on without us (session timeout): abort the open transaction, drop
  the lost tasks' state and never commit for them.
* **frozen** — after a fatal error nothing is committed any more; revoked tasks are dropped.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, KafkaException, TopicPartition

from consumer.commit_policy import CommitPolicy
from consumer.exceptions import AbortableTransactionError, StateRestoreError
from consumer.health import HealthState
from consumer.metrics import Metrics
from consumer.partition import PartitionTask, TaskState
from consumer.retry import Retry

log = logging.getLogger(__name__)


class Restorer(Protocol):
    """What the owner needs to rebuild a partition (:class:`consumer.restore.PartitionRestorer`)."""

    def restore(self, p: int, committed: dict[str, int]) -> PartitionTask: ...


class PartitionOwner:
    """Holds the owned :class:`PartitionTask`\\s and implements the rebalance callbacks."""

    def __init__(
        self,
        *,
        inputs: list[str],
        restorer: Restorer,
        policy: CommitPolicy,
        metrics: Metrics,
        health: HealthState,
        revoke_timeout_s: float,
        auto_offset_reset: str = "earliest",
    ) -> None:
        self.inputs = inputs
        self.tasks: dict[int, PartitionTask] = {}
        self._parked: dict[int, PartitionTask] = {}
        self._recoveries = Retry("committing", log=log.warning, initial_s=0.2, max_s=5.0)
        self._restorer = restorer
        self._policy = policy
        self._metrics = metrics
        self._health = health
        self._revoke_timeout_s = revoke_timeout_s
        self._reset = OFFSET_BEGINNING if auto_offset_reset == "earliest" else OFFSET_END
        #: Set when the process must not commit any more (fatal error).
        self.frozen = False

    # -- callbacks given to Consumer.subscribe ---------------------------------------------

    def on_assign(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        self._metrics.rebalances.labels("assign").inc()
        self._health.set_ready(False, "restoring state")
        numbers = sorted({tp.partition for tp in partitions})
        start = self.load(consumer, numbers)  # before assign(): nothing is fetched meanwhile
        consumer.assign(start)  # the same partitions, at the committed offsets
        for p in numbers:
            self.tasks[p].state = TaskState.ACTIVE
        self._drop_parked()
        self._metrics.assigned_partitions.set(len(self.tasks))
        self._health.set_ready(True)
        self._metrics.ready.set(1)
        log.info("assigned partitions %s of %s; state restored", numbers, self.inputs)

    def on_revoke(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        self._metrics.rebalances.labels("revoke").inc()
        self._health.set_ready(False, "rebalancing")
        self._metrics.ready.set(0)
        numbers = sorted({tp.partition for tp in partitions})
        if self.frozen:
            self._drop(numbers)
            return
        try:
            self._commit_now(consumer, force_checkpoint=True)  # the next owner replays less
        except Exception:
            log.exception("commit on revoke failed; aborting and dropping the revoked state")
            self._policy.abort()
            self._drop(numbers)
            self._drop_parked()
            return
        for p in numbers:
            task = self.tasks.pop(p, None)
            if task is not None:
                task.state = TaskState.PARKED
                self._parked[p] = task
        self._metrics.assigned_partitions.set(len(self.tasks))
        log.info("revoked partitions %s after a final commit", numbers)

    def on_lost(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        self._metrics.rebalances.labels("lost").inc()
        self._health.set_ready(False, "partitions lost")
        self._metrics.ready.set(0)
        numbers = sorted({tp.partition for tp in partitions})
        log.warning("partitions %s lost (the group moved on); dropping their state uncommitted",
                    numbers)
        self._policy.abort()
        self._drop(numbers)
        self._drop_parked()

    # -- commits -------------------------------------------------------------------------------

    def active_tasks(self) -> list[PartitionTask]:
        return [task for task in self.tasks.values() if task.state is TaskState.ACTIVE]

    def _commit_now(self, consumer: Any, *, force_checkpoint: bool) -> bool:
        return self._policy.commit(self.active_tasks(), consumer.consumer_group_metadata(),
                                   timeout_s=self._revoke_timeout_s,
                                   force_checkpoint=force_checkpoint)

    def commit(self, consumer: Any, *, force_checkpoint: bool = False) -> bool:
        """Commit the owned partitions' work (the service loop's periodic commit, and the final
        one at shutdown); on an abortable error, :meth:`recover`. True if a transaction
        committed. Nothing is committed once :attr:`frozen`."""
        if self.frozen:
            return False
        try:
            committed = self._commit_now(consumer, force_checkpoint=force_checkpoint)
        except AbortableTransactionError as exc:
            self.recover(consumer, str(exc))
            return False
        if committed:
            self._recoveries.succeeded()
        return committed

    def recover(self, consumer: Any, reason: str = "abortable error") -> None:
        """After an abortable error: abort, then every owned partition back to its committed
        offsets and state (:meth:`rewind`). Repeated recoveries back off (0.2 s doubling to
        5 s) and are logged once per interval (:class:`~consumer.retry.Retry`): a transaction
        that keeps aborting must not turn into a loop of state reloads."""
        self._policy.abort()
        self.rewind(consumer)
        self._recoveries.wait(self._recoveries.failed(
            f"transaction aborted ({reason}); rewound to the committed offsets"))

    # -- state --------------------------------------------------------------------------------

    def _drop(self, numbers: list[int]) -> None:
        for p in numbers:
            task = self.tasks.pop(p, None)
            if task is not None:
                task.state = TaskState.DROPPED
        self._metrics.assigned_partitions.set(len(self.tasks))

    def _drop_parked(self) -> None:
        for task in self._parked.values():
            task.state = TaskState.DROPPED
        self._parked.clear()

    def committed_offsets(self, consumer: Any, p: int) -> dict[str, int]:
        """The group's committed offsets of partition ``p`` of every input topic (stable:
        ``read_committed`` waits for pending transactional commits)."""
        tps = [TopicPartition(topic, p) for topic in self.inputs]
        deadline = time.monotonic() + self._revoke_timeout_s
        retry = Retry(f"committed offsets of partition {p}", log=log.warning)
        while True:
            try:
                result = consumer.committed(tps, timeout=max(1.0, deadline - time.monotonic()))
                return {tp.topic: tp.offset for tp in result if tp.offset >= 0}
            except KafkaException as exc:
                if time.monotonic() >= deadline:
                    raise StateRestoreError(
                        f"committed offsets of partition {p}: {exc.args[0].str()}") from exc
                retry.wait(retry.failed(exc.args[0].str()))

    def load(self, consumer: Any, numbers: list[int]) -> list[TopicPartition]:
        """Build the tasks of ``numbers`` (reuse or restore); return where to start reading."""
        start: list[TopicPartition] = []
        for p in numbers:
            committed = self.committed_offsets(consumer, p)
            parked = self._parked.pop(p, None)
            if parked is not None and parked.committed == committed:
                self.tasks[p] = parked
                log.info("partition %d: kept in-memory state (committed offsets unchanged)", p)
            else:
                if parked is not None:
                    parked.state = TaskState.DROPPED
                self.tasks[p] = self._restorer.restore(p, committed)
            for topic in self.inputs:
                start.append(TopicPartition(topic, p, committed.get(topic, self._reset)))
        return start

    def restart_fetch(self, consumer: Any) -> None:
        """Fetch every owned partition again from its task's position (the next record to
        process; where none yet, the committed offset or the new group's start): after
        :mod:`consumer.offset_reset` moved positions. librdkafka refuses ``seek()`` on a partition
        whose fetch stopped (``auto.offset.reset=error``), and the eager protocol changes an
        assignment only through ``assign()``: the whole assignment is assigned again. Records
        fetched but not yet delivered are fetched again; none was processed."""
        start = [TopicPartition(topic, p, task.positions.get(topic,
                                                             task.committed.get(topic, self._reset)))
                 for p, task in sorted(self.tasks.items()) for topic in self.inputs]
        if not start:  # nothing owned (an assign() now would answer a pending rebalance)
            return
        consumer.assign(start)
        log.info("fetching %s again from %s", self.inputs,
                 {f"{tp.topic}[{tp.partition}]": tp.offset for tp in start})

    def rewind(self, consumer: Any) -> None:
        """After an abort: every owned partition back to its committed offsets and state."""
        numbers = sorted(self.tasks)
        self._drop(numbers)
        self._drop_parked()
        start = self.load(consumer, numbers)
        for p in numbers:
            self.tasks[p].state = TaskState.ACTIVE
        for tp in start:
            try:
                consumer.seek(tp)
            except Exception as exc:  # not fetched yet: the assignment offset still applies
                log.debug("seek %s: %s", tp, exc)
        log.warning("rewound partitions %s to their committed offsets and state", numbers)


__all__ = ["PartitionOwner"]
