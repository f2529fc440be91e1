"""How one input partition's detection state comes back: snapshots, then catch-up.

Contract (:meth:`PartitionRestorer.restore`):

1. A fresh pipeline is built and every model snapshot of the partition is loaded from the state
   topic (:meth:`consumer.state_store.StateStore.restore`), lazily: each model's head (joins,
   watermark, counts) now, its keys' detectors when the model's first event needs them
   (:meth:`detectors.pipeline.Pipeline.restore_model`, ``lazy=True``), so the partition is
   ready long before 100 000 keys would be decoded; each key's per-key gauges read the view its
   snapshot kept until then. The model's label join comes back whole, from its head and the
   join segments stored for it (:meth:`consumer.state_store.StateStore.checkpoint`). The
   pipeline's watermark is the checkpoint marker's (an event refused, e.g. a duplicate, may have
   advanced it without changing any model's head). A restored model is not dirty: its snapshot
   is the state topic's latest record for its key, so the next checkpoint writes only the models
   that change after the restore (catch-up included). A snapshot the pipeline refuses
   (:class:`~detectors.exceptions.SnapshotError`: another River version, corrupt) is logged
   loudly and that model starts fresh; the service does not crash-loop on state (keys' bytes
   found corrupt at their first use: logged, those keys start fresh).
2. The inputs committed after the snapshots' checkpoint are replayed into it, outputs dropped
   (:mod:`consumer.catchup`): the result is the state an uninterrupted run had at the committed
   offsets.
3. The returned :class:`~consumer.partition.PartitionTask` starts at the committed offsets, in
   state ``restoring`` (the owner activates it), its counters already reported (the replay is
   not counted twice).

An unreadable state topic raises :class:`~consumer.exceptions.StateRestoreError` (exit 4).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from consumer.batch import Decoder
from consumer.catchup import catch_up
from consumer.metrics import Metrics
from consumer.partition import PartitionTask, PipelineFactory, pipeline_counts
from consumer.state_store import StateStore
from detectors.exceptions import SnapshotError

log = logging.getLogger(__name__)


class PartitionRestorer:
    """Builds a partition's task from the state topic and the committed inputs."""

    def __init__(
        self,
        *,
        store: StateStore,
        pipeline_factory: PipelineFactory,
        metrics: Metrics,
        kafka_conf: Mapping[str, Any],
        decoder: Decoder,
        timeout_s: float,
    ) -> None:
        self._store = store
        self._factory = pipeline_factory
        self._metrics = metrics
        self._kafka_conf = dict(kafka_conf)
        self._decoder = decoder
        self._timeout_s = timeout_s

    def restore(self, p: int, committed: dict[str, int]) -> PartitionTask:
        """Steps 1–3 of the module docstring for input partition ``p``."""
        began = time.monotonic()
        pipeline = self._factory()
        restored = self._store.restore(p)
        for model_id, snap in restored.models.items():
            try:
                pipeline.restore_model(model_id, snap.payload, lazy=True, persisted=True,
                                       segments=snap.segments)
            except SnapshotError as exc:
                log.error("partition %d model %s: snapshot refused (%s); the model starts fresh",
                          p, model_id, exc)
        if restored.watermark is not None:
            pipeline.restore_watermark(restored.watermark)
        checkpoint = restored.checkpoint or {}
        ahead = {t: o for t, o in checkpoint.items() if o > committed.get(t, -1)}
        if ahead:
            log.error("partition %d: state checkpoint %s is beyond the committed offsets %s",
                      p, checkpoint, committed)
        ranges = {t: (checkpoint.get(t, 0), c) for t, c in committed.items()
                  if c > checkpoint.get(t, 0)}
        replayed = 0
        if ranges:
            replayed = catch_up(self._kafka_conf, pipeline, self._decoder, p, ranges,
                                timeout_s=self._timeout_s)
            self._metrics.replayed_records.inc(replayed)
        self._metrics.restored_models.inc(len(restored.models))
        seconds = time.monotonic() - began
        self._metrics.restore_seconds.observe(seconds)
        log.info("partition %d: restored %d model snapshots (checkpoint %s) and replayed %d "
                 "records up to the committed offsets %s in %.3fs", p, len(restored.models),
                 checkpoint, replayed, committed, seconds)
        task = PartitionTask(partition=p, pipeline=pipeline, positions=dict(committed),
                             committed=dict(committed), checkpoint_offsets=dict(checkpoint))
        view = pipeline.counter_view()
        task.reported = pipeline_counts(view)  # the replay is already in the counters
        self._metrics.records.labels(str(p), "restored_waiting").inc(view.waiting)
        return task


__all__ = ["PartitionRestorer"]
