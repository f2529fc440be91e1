"""Rebalance handling, in one place: which partitions this process owns, and their state.

Contract (range assignment, eager protocol; input topics co-partitioned, so partition ``p`` of
every input topic arrives and leaves together):

* **assign** — for each partition number build its :class:`~consumer.partition.PartitionTask`:
  reuse the one parked at the last revoke when the broker's committed offsets still equal what
  that task committed (nobody processed it since), else restore every model's snapshot from the
  state topic into a fresh pipeline and replay the inputs committed since the snapshots'
  checkpoint, outputs dropped (:mod:`consumer.catchup`); only then ``assign()`` the partitions,
  at their committed offsets. Nothing is fetched before that call, so no record can arrive
  before its partition's state: the effect of "pause, restore, resume" without pause/resume. (An
  application ``resume()`` racing librdkafka's own fetch start can be dropped as an outdated op,
  leaving the partition paused for good: seen here with librdkafka 2.16, one restart in ~8.)
  ``/readyz`` turns ready after this.
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

from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    Consumer,
    KafkaException,
    TopicPartition,
)

from consumer.exceptions import StateRestoreError
from consumer.health import HealthState
from consumer.metrics import Metrics
from consumer.partition import PartitionTask, PipelineFactory, PipelineLike, pipeline_counts
from consumer.state_store import StateStore

log = logging.getLogger(__name__)

#: ``(pipeline, partition, {topic: (start, end)}) -> records replayed`` (:mod:`consumer.catchup`).
CatchUp = Callable[[PipelineLike, int, dict[str, tuple[int, int]]], int]


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
        commit: Callable[[float, bool], object],
        abort: Callable[[], None],
        revoke_timeout_s: float,
        auto_offset_reset: str = "earliest",
        snapshot_error: type[Exception] = Exception,
        catch_up: CatchUp | None = None,
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
        self._catch_up = catch_up
        #: Set when the process must not commit any more (fatal error).
        self.frozen = False

    # -- callbacks given to Consumer.subscribe ---------------------------------------------

    def on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._metrics.rebalances.labels("assign").inc()
        self._health.set_ready(False, "restoring state")
        numbers = sorted({tp.partition for tp in partitions})
        start = self.load(consumer, numbers)  # before assign(): nothing is fetched meanwhile
        consumer.assign(start)  # the same partitions, at the committed offsets
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
            self._commit(self._revoke_timeout_s, True)  # checkpoint: the next owner replays less
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
        """The group's committed offsets of partition ``p`` of every input topic (stable:
        ``read_committed`` waits for pending transactional commits)."""
        tps = [TopicPartition(topic, p) for topic in self.inputs]
        deadline = time.monotonic() + self._revoke_timeout_s
        while True:
            try:
                result = consumer.committed(tps, timeout=max(1.0, deadline - time.monotonic()))
                return {tp.topic: tp.offset for tp in result if tp.offset >= 0}
            except KafkaException as exc:
                if time.monotonic() >= deadline:
                    raise StateRestoreError(
                        f"committed offsets of partition {p}: {exc.args[0].str()}") from exc
                log.warning("committed offsets of partition %d: %s; retrying", p,
                            exc.args[0].str())
                time.sleep(0.2)

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
        """A fresh pipeline, loaded with the partition's snapshots, caught up to ``committed``."""
        began = time.monotonic()
        pipeline = self._factory()
        restored = self._store.restore(p)
        for model_id, snap in restored.models.items():
            try:
                pipeline.restore_model(model_id, snap.payload)
            except self._snapshot_error as exc:
                log.error("partition %d model %s: snapshot refused (%s); the model starts fresh",
                          p, model_id, exc)
        checkpoint = restored.checkpoint or {}
        ahead = {t: o for t, o in checkpoint.items() if o > committed.get(t, -1)}
        if ahead:
            log.error("partition %d: state checkpoint %s is beyond the committed offsets %s",
                      p, checkpoint, committed)
        # Inputs committed after the checkpoint: replay them into the state, outputs dropped.
        ranges = {t: (checkpoint.get(t, 0), c) for t, c in committed.items()
                  if c > checkpoint.get(t, 0)}
        replayed = 0
        if ranges and self._catch_up is not None:
            replayed = self._catch_up(pipeline, p, ranges)
            self._metrics.replayed_records.inc(replayed)
        self._metrics.restored_models.inc(len(restored.models))
        seconds = time.monotonic() - began
        self._metrics.restore_seconds.observe(seconds)
        log.info("partition %d: restored %d model snapshots (checkpoint %s) and replayed %d "
                 "records up to the committed offsets %s in %.3fs", p, len(restored.models),
                 checkpoint, replayed, committed, seconds)
        task = PartitionTask(partition=p, pipeline=pipeline, positions=dict(committed),
                             committed=dict(committed), checkpoint_offsets=dict(checkpoint))
        # Counters already include the replay: only what happens from now on is reported.
        task.reported = pipeline_counts(pipeline)
        self._metrics.records.labels(str(p), "restored_waiting").inc(pipeline.counters.waiting)
        return task

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
