"""Prometheus metrics of the consumer service (``driftline_`` prefix, Prometheus naming).

Contract:

* Every metric lives in the :class:`Metrics` instance's own registry (tests can run several
  services in one process); :class:`~consumer.health.HealthServer` serves it on ``/metrics``.
* The hot loop never touches a labelled child per record: it counts into plain dictionaries and
  :meth:`Metrics.add_batch` folds them in once per batch.
* Per input partition, ``driftline_consumer_records_total{outcome="consumed"}`` equals
  ``processed`` + ``dead_lettered`` once the batch is done (SPEC §5).

>>> m = Metrics()
>>> m.add_batch(consumed={("prediction", "fraud"): 2}, records={(0, "consumed"): 2,
...             (0, "processed"): 2}, invalid={}, seconds=0.01)
>>> m.registry.get_sample_value("driftline_consumer_events_consumed_total",
...                             {"type": "prediction", "model_id": "fraud"})
2.0
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_FAST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_SLOW_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class Metrics:
    """All consumer metrics, in one registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.events_consumed = Counter(
            "driftline_consumer_events_consumed", "Valid input events consumed, by type and model.",
            ["type", "model_id"], registry=r)
        self.records = Counter(
            "driftline_consumer_records",
            "Input records per partition number by outcome; consumed + restored_waiting = "
            "processed + dead_lettered + waiting.", ["partition", "outcome"], registry=r)
        self.waiting_labels = Gauge(
            "driftline_consumer_waiting_labels",
            "Labels waiting for their prediction, per partition number.", ["partition"],
            registry=r)
        self.invalid = Counter(
            "driftline_consumer_invalid_events",
            "Input records dead-lettered, by reason (stage:error_class).", ["reason"], registry=r)
        self.dead_letters = Counter(
            "driftline_consumer_dead_letters", "Records written to the DLQ topic.", registry=r)
        self.labels = Counter(
            "driftline_consumer_labels",
            "Labels by join outcome (joined, orphaned, expired, duplicate).", ["outcome"],
            registry=r)
        self.pending_joins = Gauge(
            "driftline_consumer_pending_joins",
            "Predictions waiting for a label plus labels waiting for a prediction.", registry=r)
        self.drift_events = Counter(
            "driftline_drift_events", "Drift events published, by model, detector, signal and "
            "severity.", ["model_id", "detector", "signal", "severity"], registry=r)
        self.suppressed = Counter(
            "driftline_consumer_suppressed_firings",
            "Detector firings not published, by reason (warmup, cooldown).", ["reason"],
            registry=r)
        self.rolling_metric = Gauge(
            "driftline_rolling_metric", "Latest rolling performance metric per model.",
            ["model_id", "metric"], registry=r)
        self.tracked_keys = Gauge(
            "driftline_consumer_tracked_keys", "Detector keys held in memory.", registry=r)
        self.refused_keys = Counter(
            "driftline_consumer_refused_keys",
            "New detector keys refused because max_tracked_keys was reached.", registry=r)
        self.lag = Gauge(
            "driftline_consumer_lag_records",
            "Records behind the high watermark, per input partition.",
            ["topic", "partition"], registry=r)
        self.model_partition_conflicts = Counter(
            "driftline_consumer_model_partition_conflicts",
            "Further partitions a model was seen on (producers should key by model_id).",
            ["model_id"], registry=r)
        self.batch_seconds = Histogram(
            "driftline_consumer_batch_duration_seconds", "Time to process one batch.",
            buckets=_FAST_BUCKETS, registry=r)
        self.batch_records = Histogram(
            "driftline_consumer_batch_records", "Records per batch.",
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000), registry=r)
        self.commit_seconds = Histogram(
            "driftline_consumer_commit_duration_seconds",
            "Time to commit one transaction (snapshots, flush, offsets, commit).",
            buckets=_FAST_BUCKETS, registry=r)
        self.restore_seconds = Histogram(
            "driftline_consumer_restore_duration_seconds",
            "Time to restore one partition's state from the state topic.",
            buckets=_SLOW_BUCKETS, registry=r)
        self.restored_models = Counter(
            "driftline_consumer_restored_models", "Model snapshots restored from the state topic.",
            registry=r)
        self.replayed_records = Counter(
            "driftline_consumer_replayed_records",
            "Input records replayed into restored state (checkpoint to committed offsets).",
            registry=r)
        self.snapshots = Counter(
            "driftline_consumer_state_snapshots", "State snapshots written to the state topic.",
            registry=r)
        self.transactions = Counter(
            "driftline_consumer_transactions", "Transactions by outcome (committed, aborted).",
            ["outcome"], registry=r)
        self.rebalances = Counter(
            "driftline_consumer_rebalance_events", "Rebalance callbacks (assign, revoke, lost).",
            ["kind"], registry=r)
        self.assigned_partitions = Gauge(
            "driftline_consumer_assigned_partitions", "Input partition numbers owned.",
            registry=r)
        self.ready = Gauge(
            "driftline_consumer_ready", "1 once assigned partitions are restored.", registry=r)

    def add_batch(
        self,
        *,
        consumed: Mapping[tuple[str, str], int],
        records: Mapping[tuple[int, str], int],
        invalid: Mapping[str, int],
        seconds: float,
        size: int = 0,
    ) -> None:
        for (type_, model_id), n in consumed.items():
            self.events_consumed.labels(type_, model_id).inc(n)
        for (partition, outcome), n in records.items():
            if n:
                self.records.labels(str(partition), outcome).inc(n)
        for reason, n in invalid.items():
            self.invalid.labels(reason).inc(n)
        self.batch_seconds.observe(seconds)
        if size:
            self.batch_records.observe(size)


__all__ = ["Metrics"]
