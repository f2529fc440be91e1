"""Prometheus metrics of the retrain worker (``driftline_retrain_`` prefix).

Contract: every metric lives in the :class:`WorkerMetrics` instance's own registry, served on
``/metrics`` by :class:`consumer.health.HealthServer` next to ``/healthz`` and ``/readyz``.
:meth:`WorkerMetrics.decision` is called once per *committed* decision, so the counters equal the
events in the retrain topic.

>>> m = WorkerMetrics()
>>> m.decision("fraud", "skipped", duration_s=0.0, latencies=[1.5], causes=["min_samples"])
>>> m.registry.get_sample_value("driftline_retrain_decisions_total",
...                             {"model_id": "fraud", "status": "skipped"})
1.0
>>> m.registry.get_sample_value("driftline_retrain_skipped_total",
...                             {"model_id": "fraud", "reason": "min_samples"})
1.0
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_TRAINING_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 3600)
_LATENCY_BUCKETS = (1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200)


class WorkerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = r = registry or CollectorRegistry()
        self.decisions = Counter(
            "driftline_retrain_decisions", "Retrain decisions published, by model and status.",
            ["model_id", "status"], registry=r)
        self.skipped = Counter(
            "driftline_retrain_skipped", "Skipped retrains, by model and reason (failed check or "
            "cooldown).", ["model_id", "reason"], registry=r)
        self.failed = Counter(
            "driftline_retrain_failed", "Failed retrains, by model and cause.",
            ["model_id", "cause"], registry=r)
        self.duration = Histogram(
            "driftline_retrain_duration_seconds", "Duration of a retrain, data read to decision.",
            ["model_id"], buckets=_TRAINING_BUCKETS, registry=r)
        self.in_flight = Gauge(
            "driftline_retrain_in_flight", "Trainings running now.", registry=r)
        self.last_success = Gauge(
            "driftline_retrain_last_success_timestamp_seconds",
            "Unix time of the last promoted retrain, by model.", ["model_id"], registry=r)
        self.latency = Histogram(
            "driftline_retrain_trigger_to_decision_seconds",
            "Time from the worker receiving a trigger to its committed decision.",
            buckets=_LATENCY_BUCKETS, registry=r)
        self.triggers = Counter(
            "driftline_retrain_triggers", "Triggers received, by origin and what became of them.",
            ["origin", "outcome"], registry=r)
        self.pending = Gauge(
            "driftline_retrain_pending_triggers", "Triggers waiting for a decision.", registry=r)
        self.rebalances = Counter(
            "driftline_retrain_rebalances", "Partition assignments and revocations, by kind.",
            ["kind"], registry=r)
        self.transactions = Counter(
            "driftline_retrain_transactions", "Transactions of the worker, by result.",
            ["result"], registry=r)

    def decision(
        self,
        model_id: str,
        status: str,
        *,
        duration_s: float,
        latencies: Sequence[float],
        causes: Sequence[str] = (),
    ) -> None:
        self.decisions.labels(model_id, status).inc()
        if status in ("promoted", "rejected", "failed"):
            self.duration.labels(model_id).observe(duration_s)
        if status == "promoted":
            self.last_success.labels(model_id).set(time.time())
        for cause in causes:
            if status == "skipped":
                self.skipped.labels(model_id, cause).inc()
            elif status == "failed":
                self.failed.labels(model_id, cause).inc()
        for latency in latencies:
            self.latency.observe(max(0.0, latency))


__all__ = ["WorkerMetrics"]
