"""Prometheus metrics of the consumer service (``driftline_`` prefix, Prometheus naming).

Contract:

* Every metric lives in the :class:`Metrics` instance's own registry (tests can run several
  services in one process); :class:`~consumer.health.HealthServer` serves it on ``/metrics``.
* The hot loop never touches a labelled child per record: it counts into plain dictionaries and
  :meth:`Metrics.add_batch` folds them in once per batch.
* Per input partition, ``driftline_consumer_records_total{outcome="consumed"}`` equals
  ``processed`` + ``dead_lettered`` once the batch is done (SPEC §5).
* ``driftline_rolling_metric{model_id, model_version, segment, metric}`` is the latest value of
  each *full* rolling performance window (classification: accuracy, precision, recall, f1;
  regression: mae), refreshed by :meth:`Metrics.refresh_rolling_metrics` from the pipelines
  (read-only) at a commit every ``consumer.model_gauges_interval_s``; keys no longer tracked
  (retired, revoked) drop their series then. Both per-key families are :class:`KeyGauges`.
  ``segment`` is ``""`` (the label is absent in Prometheus) for unsegmented keys.
* ``driftline_detector_statistic{model_id, model_version, segment, signal, detector, stat}`` is
  each detector's own current evidence (the numbers of
  :func:`detectors.river_detectors.evidence`: ADWIN width, mean_after (its estimation), variance;
  Page-Hinkley statistic and threshold; DDM p, s, p_min, s_min; ...; ``None`` values skipped),
  refreshed by :meth:`Metrics.refresh_detector_statistics` like the rolling metrics, unless
  ``consumer.detector_statistics`` is off (about 22 series per key with the default detectors).
* ``driftline_consumer_label_delay_seconds{model_id}`` is a histogram of ``labelled_at -
  predicted_at`` per joined label. :meth:`Metrics.observe_label_delay` costs one subtraction,
  one bisect and a dict lookup per labelled record (no Prometheus child lookup); a custom
  collector exposes the accumulated buckets at scrape time.
* Labels consumed per model are ``driftline_consumer_events_consumed_total{type="label"}``; join
  outcomes (joined, orphaned, ...) are ``driftline_consumer_labels_total{outcome}``.

>>> m = Metrics()
>>> m.add_batch(consumed={("prediction", "fraud"): 2}, records={(0, "consumed"): 2,
...             (0, "processed"): 2}, invalid={}, seconds=0.01)
>>> m.registry.get_sample_value("driftline_consumer_events_consumed_total",
...                             {"type": "prediction", "model_id": "fraud"})
2.0
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

_FAST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_SLOW_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
# Label delays: seconds (live demos) to a week (fraud chargebacks).
LABEL_DELAY_BUCKETS = (0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0,
                       12 * 3600.0, 86400.0, 3 * 86400.0, 7 * 86400.0)
_CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1")
# driftline_detector_statistic: model_id, model_version, segment, signal, detector, stat


class LabelDelayCollector(Collector):
    """``driftline_consumer_label_delay_seconds{model_id}``, accumulated in plain lists.

    >>> c = LabelDelayCollector()
    >>> for d in (0.05, 2.0, 2.0, 100000.0):
    ...     c.observe("fraud", d)
    >>> [(s.name, s.value) for s in next(iter(c.collect())).samples
    ...  if s.labels.get("le") in ("0.1", "5.0", "+Inf") or s.name.endswith(("_count", "_sum"))]
    ... # doctest: +NORMALIZE_WHITESPACE
    [('driftline_consumer_label_delay_seconds_bucket', 1.0),
     ('driftline_consumer_label_delay_seconds_bucket', 3.0),
     ('driftline_consumer_label_delay_seconds_bucket', 4.0),
     ('driftline_consumer_label_delay_seconds_count', 4.0),
     ('driftline_consumer_label_delay_seconds_sum', 100004.05)]
    """

    name = "driftline_consumer_label_delay_seconds"

    def __init__(self, buckets: tuple[float, ...] = LABEL_DELAY_BUCKETS) -> None:
        self.buckets = buckets
        # model_id -> [count per bucket (last = above the largest bound)..., sum]
        self._models: dict[str, list[float]] = {}

    def observe(self, model_id: str, seconds: float) -> None:
        row = self._models.get(model_id)
        if row is None:
            row = self._models[model_id] = [0.0] * (len(self.buckets) + 2)
        row[bisect_left(self.buckets, seconds)] += 1
        row[-1] += seconds

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(
            self.name, "Label delay (labelled_at - predicted_at) of joined labels, by model.",
            labels=["model_id"])
        bounds = [*(str(float(b)) for b in self.buckets), "+Inf"]
        for model_id, row in list(self._models.items()):
            counts = row[:-1]
            cumulative, running = [], 0.0
            for bound, n in zip(bounds, counts, strict=True):
                running += n
                cumulative.append((bound, running))
            family.add_metric([model_id], cumulative, row[-1])
        yield family

    def describe(self) -> Iterator[Metric]:
        yield HistogramMetricFamily(self.name, "Label delay of joined labels, by model.",
                                    labels=["model_id"])


class KeyGauges(Collector):
    """A gauge family whose series are all replaced at once, for per-key values.

    :meth:`replace` swaps in a new ``labels → value`` dict (one assignment, so a scrape on the
    HTTP thread sees the old set or the new one, never a mix); :meth:`collect` renders it. No
    labelled children: setting tens of thousands of series costs a dict, and series missing
    from the new dict are simply gone.

    >>> g = KeyGauges("demo_value", "A value per key.", ["key"])
    >>> g.replace({("a",): 1.0, ("b",): 2.0})
    >>> g.replace({("b",): 3.0})
    >>> [(s.labels, s.value) for s in next(iter(g.collect())).samples]
    [({'key': 'b'}, 3.0)]
    """

    def __init__(self, name: str, documentation: str, labelnames: list[str]) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = labelnames
        self._values: dict[tuple[str, ...], float] = {}

    def replace(self, values: dict[tuple[str, ...], float]) -> None:
        self._values = values

    def __len__(self) -> int:
        return len(self._values)

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for labels, value in self._values.items():
            family.add_metric(labels, value)
        yield family

    def describe(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(self.name, self.documentation, labels=self.labelnames)


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
        self.labelled_too_large = Counter(
            "driftline_consumer_labelled_too_large",
            "Labelled records not published: over the record size limit (their label still fed "
            "the detectors).", registry=r)
        self.pending_joins = Gauge(
            "driftline_consumer_pending_joins",
            "Predictions waiting for a label plus labels waiting for a prediction.", registry=r)
        self.drift_events = Counter(
            "driftline_drift_events", "Drift events published, by model, detector, signal and "
            "severity.", ["model_id", "detector", "signal", "severity"], registry=r)
        self.suppressed = Counter(
            "driftline_consumer_suppressed_firings",
            "Detector firings not published, by reason (warmup, cooldown, direction).", ["reason"],
            registry=r)
        self.rolling_metric = KeyGauges(
            "driftline_rolling_metric",
            "Rolling performance metric of each detector key over its full window.",
            ["model_id", "model_version", "segment", "metric"])
        r.register(self.rolling_metric)
        self.estimated_metric = KeyGauges(
            "driftline_estimated_metric",
            "Performance metric of each binary-classifier key estimated from its scores alone "
            "(CBPE) over its rolling window, before any label.",
            ["model_id", "model_version", "segment", "metric"])
        r.register(self.estimated_metric)
        self.estimated_gap = KeyGauges(
            "driftline_estimated_metric_gap",
            "Estimated minus realized metric on each key's last labelled predictions (CBPE's "
            "error once labels arrive).",
            ["model_id", "model_version", "segment", "metric"])
        r.register(self.estimated_gap)
        self.detector_statistic = KeyGauges(
            "driftline_detector_statistic",
            "Current evidence of each detector (River's own state), by key, signal and statistic.",
            ["model_id", "model_version", "segment", "signal", "detector", "stat"])
        r.register(self.detector_statistic)
        self.label_delay = LabelDelayCollector()
        r.register(self.label_delay)
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
        self.skipped_records = Counter(
            "driftline_consumer_skipped_records",
            "Input records deleted by the broker (retention, DeleteRecords) before the consumer "
            "read them; it went on at the log start.", ["topic", "partition"], registry=r)
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

    def observe_label_delay(self, record: Any) -> None:
        """One joined label (a :class:`~detectors.contracts.LabelledRecord`)."""
        self.label_delay.observe(
            record.model_id, (record.labelled_at - record.predicted_at).total_seconds())

    def refresh_key_gauges(self, pipelines: Iterable[Any], *,
                           detector_statistics: bool = True) -> None:
        """Set ``driftline_rolling_metric`` (full windows), ``driftline_estimated_metric`` and
        ``driftline_estimated_metric_gap`` (CBPE) and, when ``detector_statistics``,
        ``driftline_detector_statistic`` from every tracked key, read through the core's typed
        views (:meth:`detectors.pipeline.Pipeline.key_views`). Series of keys, detectors or
        statistics no longer present are removed."""
        rolling: dict[tuple[str, ...], float] = {}
        estimated: dict[tuple[str, ...], float] = {}
        gap: dict[tuple[str, ...], float] = {}
        statistics: dict[tuple[str, ...], float] = {}
        for pipeline in pipelines:
            for view in pipeline.key_views(detector_statistics=detector_statistics):
                seg = view.segment or ""
                for name, value in view.rolling_metrics.items():
                    rolling[(view.model_id, view.model_version, seg, name)] = value
                for name, value in view.estimated_metrics.items():
                    estimated[(view.model_id, view.model_version, seg, name)] = value
                for name, value in view.estimated_gap.items():
                    gap[(view.model_id, view.model_version, seg, name)] = value
                for detector in view.detectors:
                    for stat, value in detector.statistics.items():
                        statistics[(view.model_id, view.model_version, seg, detector.signal,
                                    detector.detector, stat)] = value
        self.rolling_metric.replace(rolling)
        self.estimated_metric.replace(estimated)
        self.estimated_gap.replace(gap)
        if detector_statistics:
            self.detector_statistic.replace(statistics)


__all__ = ["LABEL_DELAY_BUCKETS", "KeyGauges", "LabelDelayCollector", "Metrics"]
