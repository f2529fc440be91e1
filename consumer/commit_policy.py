"""When to commit, what runs after a commit, what an abort does: the commit policy, in one object.

Contract:

* :meth:`CommitPolicy.due`: a commit is due ``consumer.commit_interval_ms`` after the last one;
  with ``consumer.commit_on_catch_up``, also after any batch that left the consumer caught up
  (:func:`caught_up`: the batch held records, and fewer than ``consumer.batch_size`` records
  remain behind the high watermark the client last saw of every owned input partition).
* :meth:`CommitPolicy.commit` runs the commit sequence of :mod:`consumer.checkpoint` over the
  *active* tasks: outputs, state snapshots (for the partitions due a checkpoint, every
  ``consumer.snapshot_interval_ms``, or all of them when ``force_checkpoint``: on revoke and on
  shutdown) and input offsets in one transaction. After a committed transaction the
  ``after_commit`` hook runs (the gauges: lag, pipeline counters, per-key gauges). It raises what
  the sequence raises: :class:`~consumer.exceptions.AbortableTransactionError` (the caller, the
  rebalance owner, aborts and rewinds) or :class:`~consumer.exceptions.FatalTransactionError`.
* :meth:`CommitPolicy.abort` aborts the open transaction, bounded, and counts it.

The rebalance owner (:class:`~consumer.rebalance.PartitionOwner`) is its only caller: on revoke
(a forced checkpoint; abort when it fails), on lost (abort), on recovery (abort, then rewind), and
for the service loop's periodic commit (:meth:`~consumer.rebalance.PartitionOwner.commit`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from confluent_kafka import TopicPartition

from consumer.checkpoint import Checkpointer
from consumer.metrics import Metrics
from consumer.partition import PartitionTask
from consumer.transactions import Transactor

AfterCommit = Callable[[Sequence[PartitionTask]], None]


def caught_up(consumer: Any, tasks: Mapping[int, PartitionTask], batch_size: int,
              inputs: Sequence[str]) -> bool:
    """Whether fewer than ``batch_size`` records remain to be read in every owned partition of
    every input topic, by the high watermarks the client cached from its last fetches (no broker
    call); an unknown watermark counts as behind, and so does a topic with no position yet
    (nothing read or committed) whose partition holds a batch or more from its log start."""
    for task in tasks.values():
        for topic in inputs:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, task.partition),
                                                       cached=True)
            position = task.positions.get(topic, max(low, 0))
            if high < 0 or high - position >= batch_size:
                return False
    return True


class CommitPolicy:
    """The one object that decides and runs commits and aborts (module docstring)."""

    def __init__(
        self,
        checkpointer: Checkpointer,
        tx: Transactor,
        metrics: Metrics,
        *,
        commit_interval_s: float,
        snapshot_interval_s: float,
        abort_timeout_s: float,
        after_commit: AfterCommit | None = None,
        commit_on_catch_up: bool = False,
    ) -> None:
        self._checkpointer = checkpointer
        self._tx = tx
        self._metrics = metrics
        self.commit_interval_s = commit_interval_s
        self.snapshot_interval_s = snapshot_interval_s
        self.abort_timeout_s = abort_timeout_s
        self._after_commit = after_commit
        self.commit_on_catch_up = commit_on_catch_up
        self._last = time.monotonic()

    def due(self, now: float | None = None, *, caught_up: bool = False) -> bool:
        """Whether a commit is due: the interval has passed, or ``caught_up`` (the batch just
        processed left the consumer caught up) and ``commit_on_catch_up``."""
        if caught_up and self.commit_on_catch_up:
            return True
        return (time.monotonic() if now is None else now) - self._last >= self.commit_interval_s

    def commit(
        self,
        tasks: Sequence[PartitionTask],
        group_metadata: Any,
        *,
        timeout_s: float,
        force_checkpoint: bool = False,
    ) -> bool:
        """Commit the tasks' work; True if a transaction committed (False: nothing to do)."""
        self._last = time.monotonic()
        committed = self._checkpointer.commit(
            tasks, group_metadata, timeout_s, snapshot_interval_s=self.snapshot_interval_s,
            force_checkpoint=force_checkpoint)
        if self._after_commit is not None:
            self._after_commit(tasks)
        return committed

    def abort(self) -> None:
        """Abort the open transaction (if any), within ``abort_timeout_s``."""
        if self._tx.in_transaction:
            self._tx.abort(self.abort_timeout_s)
            self._metrics.transactions.labels("aborted").inc()


__all__ = ["AfterCommit", "CommitPolicy", "caught_up"]
