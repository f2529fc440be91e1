"""The commit sequence: outputs, state snapshots and input offsets in ONE Kafka transaction.

Between two commits the service consumes batches and produces their outputs (drift events,
labelled records, dead letters) into the open transaction as they are computed. Every
``consumer.commit_interval_ms`` — and on revoke and on shutdown — :meth:`Checkpointer.commit` runs:

1. **Skip if idle.** No task has new offsets and no transaction is open: nothing to do.
2. **Snapshot** (a *checkpoint*; for the partitions whose last one is older than
   ``consumer.snapshot_interval_ms``, or all of them when forced: on revoke and shutdown). Every
   model the partition's pipeline marks dirty since its last checkpoint is snapshotted and
   produced to the compacted state topic (key ``<group>/<partition>/<model_id>``, state partition
   ``partition % state_partitions``; a large one in chunks, see :mod:`consumer.state_store`), in
   an envelope recording the input offsets it reflects and the River version, with only the
   segments of its label join that changed since its last checkpoint (records of their own:
   :meth:`~consumer.state_store.StateStore.checkpoint`; the segments not written are still
   current, by the argument below); then the partition's checkpoint marker (key
   ``<group>/<partition>/``) with the same offsets and the partition's watermark. With
   ``snapshot_interval_ms`` at or below the commit interval, every commit is a checkpoint.
   Between checkpoints, restore replays the inputs from the checkpoint to the committed offsets
   (:mod:`consumer.catchup`).

   A model restored from the state topic and unchanged since is *not* dirty
   (:class:`~consumer.restore.PartitionRestorer` restores with ``persisted=True``), so the first
   checkpoint after a restore writes only the models that changed (before: every model, 1.67 GB
   at 100 000 keys). This is exactly-once safe: the restore read the latest committed record of
   the model's key (``read_committed``, to the end of the state partition); only the partition's
   owner writes that key after it, inside a transaction that also commits its input offsets (a
   zombie from an older generation is fenced at ``send_offsets``; a transaction without offsets
   writes state at the committed offsets, the state the restore rebuilds); the state topic is
   compacted, which keeps the latest record per key. So the record on the topic *is* the model's
   current state, as for any model not dirty between two checkpoints; the checkpoint marker
   moves on, and a later restore replays from it (events touch only models they make dirty).
   The same holds for a join segment a dirty model's checkpoint does not rewrite: its latest
   committed record is its current state, up to the entries popped since (expired, evicted),
   which the head's FIFO positions leave out on restore (:mod:`detectors.join`).
   ``tests/consumer/test_restore.py`` kills -9 right after such a checkpoint and reads back the
   state of an uninterrupted run.
3. **Flush.** Wait until every record of the transaction is acknowledged; any failed delivery
   makes the transaction abortable.
4. **Offsets.** ``send_offsets_to_transaction`` with the next offset of every input partition
   read, and the consumer's group metadata (so a zombie from an older generation is fenced).
5. **Commit.** ``commit_transaction``. Outputs, snapshots and offsets become visible to
   ``read_committed`` readers together, or not at all.
6. **Mark clean.** Only now are the checkpointed pipelines told their state is persisted, and
   the tasks' committed offsets moved forward.

Failures (classified in :mod:`consumer.transactions`):

* :class:`~consumer.exceptions.AbortableTransactionError` at any step: the caller aborts, seeks
  every owned partition back to its committed offsets and reloads its state from the state
  topic (:meth:`consumer.service.ConsumerService._recover`), then carries on.
* :class:`~consumer.exceptions.FatalTransactionError` (fenced, fatal): the caller logs one clear
  line and exits non-zero without committing anything else.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from consumer.metrics import Metrics
from consumer.partition import PartitionTask
from consumer.state_store import CHECKPOINT, StateStore, encode_envelope
from consumer.transactions import Transactor

log = logging.getLogger(__name__)


class Checkpointer:
    """Runs the commit sequence above for the tasks it is given."""

    def __init__(self, tx: Transactor, store: StateStore, metrics: Metrics) -> None:
        self._tx = tx
        self._store = store
        self._metrics = metrics

    def commit(
        self,
        tasks: Iterable[PartitionTask],
        group_metadata: Any,
        timeout_s: float,
        *,
        snapshot_interval_s: float = 0.0,
        force_checkpoint: bool = False,
    ) -> bool:
        """Run steps 1–6; True if a transaction was committed."""
        tasks = list(tasks)
        # 1. Skip if idle.
        if (not self._tx.in_transaction and not any(t.has_new_offsets() for t in tasks)
                and not (force_checkpoint
                         and any(t.checkpoint_offsets != t.positions for t in tasks))):
            return False
        began = time.monotonic()
        deadline = began + timeout_s
        # 2. Snapshot the dirty models of the partitions due a checkpoint, then their marker.
        snapshots = 0
        checkpointed = [t for t in tasks if force_checkpoint or t.last_checkpoint == 0.0
                        or began - t.last_checkpoint >= snapshot_interval_s]
        for task in checkpointed:
            offsets = dict(task.positions)
            state_partition = self._store.state_partition(task.partition)
            for model_id in sorted(task.pipeline.dirty_models()):
                for key, value in self._store.checkpoint(
                        task.partition, model_id, task.pipeline.checkpoint_model(model_id),
                        offsets):
                    self._tx.produce(self._store.topic, value, key=key,
                                     partition=state_partition)
                snapshots += 1
            self._tx.produce(
                self._store.topic,
                encode_envelope(b"", partition=task.partition, model_id=CHECKPOINT,
                                offsets=offsets, **_watermark(task.pipeline.watermark)),
                key=self._store.key(task.partition, CHECKPOINT),
                partition=state_partition,
            )
        # 3. Flush: every record acknowledged, none failed.
        self._tx.flush(deadline)
        # 4. Offsets of every input partition read, with the group metadata.
        positions = [tp for task in tasks for tp in task.offsets_to_commit()]
        if positions:
            self._tx.send_offsets(positions, group_metadata, deadline)
        # 5. Commit.
        self._tx.commit(deadline)
        # 6. Mark clean.
        for task in checkpointed:
            task.pipeline.mark_clean()
            task.last_checkpoint = began
            task.checkpoint_offsets = dict(task.positions)
        for task in tasks:
            task.mark_committed()
        self._metrics.snapshots.inc(snapshots)
        self._metrics.transactions.labels("committed").inc()
        self._metrics.commit_seconds.observe(time.monotonic() - began)
        return True


def _watermark(watermark: float) -> dict[str, float]:
    """The marker's ``watermark`` field (none before the first event: JSON has no infinity)."""
    return {"watermark": watermark} if watermark != float("-inf") else {}


__all__ = ["Checkpointer"]
