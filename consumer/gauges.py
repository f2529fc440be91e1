"""What runs after every commit: the gauges and counters read from the owned partitions.

Contract (:meth:`GaugeRefresher.after_commit`, the commit policy's after-commit hook):

* **Lag** per owned input partition, from the high watermark each fetch response brings. A
  partition that stopped fetching (stalled in the client) would keep its last lag, so every
  :data:`LAG_QUERY_INTERVAL_S` the watermarks are asked of the broker instead: a stalled consumer
  shows growing lag (alert ``DriftlineConsumerLagHigh``), not zero. One failed query falls back
  to the cached values for the rest of that round (a slow or unreachable broker).
* **Pipeline counters** (joins, orphans, suppressed firings, refused keys, waiting labels),
  folded into Prometheus counters by delta, at most once a second.
* **Per-key gauges** (rolling metrics, detector statistics, CBPE's estimates) every
  ``consumer.model_gauges_interval_s``, and at once when the owned partitions changed (an
  assignment or a revocation: a restored partition's keys show up, a revoked one's go, without
  waiting for the interval): each walks every tracked key on the processing thread. A restored
  model's keys read the views its snapshot's head kept until its first event decodes them
  (:meth:`detectors.pipeline.Pipeline.key_views`), so a restart or a rebalance leaves no gap.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

from confluent_kafka import KafkaException, TopicPartition

from consumer.config import ConsumerSettings
from consumer.metrics import Metrics
from consumer.partition import PartitionTask, pipeline_counts

#: Seconds between two lag readings asked of the broker (between them, the watermark cached from
#: fetch responses is used; it goes stale if a partition stops fetching).
LAG_QUERY_INTERVAL_S = 10.0


class GaugeRefresher:
    """Refreshes the consumer's gauges after each commit (module docstring)."""

    def __init__(self, metrics: Metrics, settings: ConsumerSettings) -> None:
        self._metrics = metrics
        self._settings = settings
        #: The group consumer whose watermarks give the lag (set once it exists).
        self.consumer: Any = None
        self._last_refresh = 0.0
        self._last_gauge_refresh = -math.inf
        self._last_lag_query = -math.inf
        #: The partitions whose keys the per-key gauges show.
        self._gauge_partitions: frozenset[int] = frozenset()

    def after_commit(self, tasks: Sequence[PartitionTask]) -> None:
        self.update_lag(tasks)
        self.refresh_pipeline_metrics(tasks)

    def update_lag(self, tasks: Sequence[PartitionTask]) -> None:
        if self.consumer is None:
            return
        now = time.monotonic()
        query = now - self._last_lag_query >= LAG_QUERY_INTERVAL_S
        if query:
            self._last_lag_query = now
        for task in tasks:
            for topic, position in task.positions.items():
                try:
                    _low, high = self.consumer.get_watermark_offsets(
                        TopicPartition(topic, task.partition), timeout=1.0, cached=not query)
                except KafkaException:
                    query = False  # slow or unreachable broker: cached values for the rest
                    continue
                if high >= 0:
                    self._metrics.lag.labels(topic, str(task.partition)).set(
                        max(0, high - position))

    def refresh_pipeline_metrics(self, tasks: Sequence[PartitionTask]) -> None:
        now = time.monotonic()
        if now - self._last_refresh < 1.0:
            return
        self._last_refresh = now
        m = self._metrics
        pending = tracked = 0
        for task in tasks:
            view = task.pipeline.counter_view()
            part = str(task.partition)
            for name, value in pipeline_counts(view).items():
                if name == "processed":
                    continue  # folded in per batch
                delta = value - task.reported.get(name, 0)
                task.reported[name] = value
                if delta <= 0:
                    continue
                if name == "keys_refused":
                    m.refused_keys.inc(delta)
                elif name.startswith("suppressed_"):
                    m.suppressed.labels(name.removeprefix("suppressed_")).inc(delta)
                else:
                    m.labels.labels(name).inc(delta)
            m.waiting_labels.labels(part).set(view.waiting)
            pending += view.pending + view.waiting
            tracked += view.tracked_keys
        owned = frozenset(task.partition for task in tasks)
        if (now - self._last_gauge_refresh >= self._settings.model_gauges_interval_s
                or owned != self._gauge_partitions):
            self._last_gauge_refresh = now
            self._gauge_partitions = owned
            m.refresh_key_gauges([task.pipeline for task in tasks],
                                 detector_statistics=self._settings.detector_statistics)
        m.pending_joins.set(pending)
        m.tracked_keys.set(tracked)


__all__ = ["LAG_QUERY_INTERVAL_S", "GaugeRefresher"]
