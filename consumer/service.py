"""``driftline consume``: the consumer group that turns predictions and labels into drift events.

Contract:

* Subscribes the group (``consumer.group_id``) to the input topics with ``range`` assignment,
  ``read_committed``, manual offsets; refuses to start (exit 2) when the input topics are
  missing or not co-partitioned.
* Consumes in batches; each record is decoded and validated (:mod:`consumer.batch`), fed to the
  pipeline of its partition number (:mod:`consumer.partition`), and its outputs produced into
  the open transaction: drift events (key ``model_id``) to the drift topic, labelled records to
  the labelled topic, rejections to the DLQ with their context headers
  (:class:`~consumer.dead_letter.DeadLetterContext`). Data never stops the service.
* Every ``consumer.commit_interval_ms`` the commit sequence of :mod:`consumer.checkpoint` runs;
  on an abortable error the service aborts, rewinds to the committed offsets and reloads state;
  on a fatal or fenced producer it logs one line and exits 6.
* Rebalances are handled by :class:`~consumer.rebalance.PartitionOwner`.
* SIGTERM/SIGINT: finish the batch, commit, close, exit 0, all within
  ``consumer.shutdown_timeout_s`` (else exit 5). No broker for ``consumer.broker_timeout_s``:
  ``/healthz`` reports it meanwhile, then exit 3.
* At start the young-generation GC threshold is raised for the process (:func:`tune_gc`).
"""

from __future__ import annotations

import faulthandler
import gc
import logging
import math
import os
import signal
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message

from consumer.batch import Decoder, make_source
from consumer.catchup import catch_up
from consumer.checkpoint import Checkpointer
from consumer.config import ConsumerServiceConfig
from consumer.dead_letter import DeadLetterContext, fit_dead_letter
from consumer.exceptions import (
    AbortableTransactionError,
    BrokerUnavailableError,
    ClientStuckError,
    FatalTransactionError,
    ServiceError,
    ShutdownTimeoutError,
    TopicLayoutError,
)
from consumer.health import HealthServer, HealthState
from consumer.metrics import Metrics
from consumer.partition import PipelineFactory, pipeline_counts
from consumer.rebalance import PartitionOwner
from consumer.state_store import StateStore
from consumer.topics import MAX_RECORD_BYTES, TopicError, partition_counts
from consumer.transactions import CallGuard, Transactor
from detectors.contracts import DriftEvent, LabelledRecord
from detectors.labelled import labelled_json
from detectors.rejection import Rejection

log = logging.getLogger(__name__)

_BROKER_DOWN_CODES = frozenset({KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT,
                                KafkaError._RESOLVE})


#: Seconds between two lag readings asked of the broker (between them, the watermark cached from
#: fetch responses is used; it goes stale if a partition stops fetching).
LAG_QUERY_INTERVAL_S = 10.0

#: Allocations between two young-generation garbage collections while the service runs. The hot
#: path allocates a few short-lived objects per record (no reference cycles); with Python's
#: default (700) the collector ran every few dozen records, ~15 % of the loop's CPU.
GC_GEN0_THRESHOLD = 50_000


def tune_gc() -> None:
    """Raise the young-generation GC threshold to :data:`GC_GEN0_THRESHOLD` (never lower it).

    Process-wide. Cyclic garbage is found later (the hot path makes little of it); nothing else
    changes.
    """
    gen0, gen1, gen2 = gc.get_threshold()
    if 0 < gen0 < GC_GEN0_THRESHOLD:
        gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


def default_pipeline_factory(config: ConsumerServiceConfig) -> PipelineFactory:
    from detectors.pipeline import Pipeline

    def factory() -> Any:
        return Pipeline(config.detection)

    return factory


class ConsumerService:
    """One process of the consumer group; :meth:`run` returns the exit code."""

    def __init__(
        self,
        config: ConsumerServiceConfig,
        *,
        pipeline_factory: PipelineFactory | None = None,
        install_signal_handlers: bool = True,
    ) -> None:
        self.config = config
        self.settings = config.consumer
        self.topics = config.topics
        self.inputs = config.topics.inputs()
        self.instance_id = self.settings.instance_id or socket.gethostname()
        self.metrics = Metrics()
        self.health = HealthState()
        self._factory = pipeline_factory or default_pipeline_factory(config)
        self._install_signals = install_signal_handlers
        self._stop = threading.Event()
        self._decoder = Decoder(config.field_mapping,
                                max_record_bytes=self.settings.max_record_bytes,
                                accept_unaddressed=self.settings.accept_unaddressed)
        #: model → the first partition it was seen on; and every (model, partition) seen.
        self._model_partition: dict[str, int] = {}
        self._model_partitions: set[tuple[str, int]] = set()
        self._server: HealthServer | None = None
        self._consumer: Consumer | None = None
        self._tx: Transactor | None = None
        self._owner: PartitionOwner | None = None
        self._checkpointer: Checkpointer | None = None
        self._last_probe = 0.0
        self._last_refresh = 0.0
        self._last_gauge_refresh = -math.inf
        self._last_lag_query = -math.inf
        self._fatal_reason: str | None = None

    # -- wiring ---------------------------------------------------------------------------------

    @property
    def _client_conf(self) -> dict[str, Any]:
        """``kafka:`` plus librdkafka's own log lines routed through Python logging."""
        return {**self.config.kafka, "logger": logging.getLogger("librdkafka")}

    def _kafka_conf(self) -> dict[str, Any]:
        return {**self._client_conf, "error_cb": self._on_kafka_error}

    def _consumer_conf(self) -> dict[str, Any]:
        return {
            "partition.assignment.strategy": "range",
            "session.timeout.ms": 10_000,
            # librdkafka stops fetching a partition once queued.min.messages (100 000) are queued
            # and then waits this long (default 1 s) before it fetches again, even when the queue
            # drained long before: a 1 s stall per 100 000 records on any backlog.
            "fetch.queue.backoff.ms": 10,
            **self._kafka_conf(),
            "group.id": self.settings.group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "isolation.level": "read_committed",
            "auto.offset.reset": self.settings.auto_offset_reset,
            **self.settings.consumer_properties,
        }

    def _producer_conf(self) -> dict[str, Any]:
        # A transaction stays open for one commit interval; the coordinator must not time it
        # out (that fences the producer), yet a crashed instance's open transaction should not
        # block readers for long when nobody with its transactional.id comes back.
        interval_ms = self.settings.commit_interval_ms
        return {
            "linger.ms": 5,
            "transaction.timeout.ms": max(30_000, 2 * interval_ms + 10_000),
            **self._kafka_conf(),
            "transactional.id": f"{self.settings.group_id}-{self.instance_id}",
            "enable.idempotence": True,
            **self.settings.producer_properties,
        }

    def _on_kafka_error(self, error: KafkaError) -> None:
        if error.code() == KafkaError._ALL_BROKERS_DOWN:
            self.health.broker_down()
            log.warning("kafka: %s", error.str())
        elif error.code() in _BROKER_DOWN_CODES:
            log.debug("kafka: %s", error.str())  # librdkafka's own log line says it already
        elif error.fatal() or error.code() == KafkaError._FATAL:
            log.error("kafka fatal error: %s", error.str())
            self._fatal_reason = error.str()
            self.health.set_fatal(error.str())
        else:
            log.warning("kafka: %s", error.str())

    def stop(self) -> None:
        """Ask the loop to finish its batch, commit and exit (what SIGTERM does)."""
        self._stop.set()

    @property
    def http_port(self) -> int | None:
        return self._server.port if self._server else None

    # -- run ------------------------------------------------------------------------------------

    def run(self) -> int:
        try:
            return self._run()
        except FatalTransactionError as exc:
            if self._tx is not None:
                try:
                    self._tx.poll()  # serve error_cb: librdkafka says *why* it is fatal
                except KafkaException as cause:
                    self._fatal_reason = self._fatal_reason or cause.args[0].str()
            why = f" ({self._fatal_reason})" if self._fatal_reason else ""
            log.critical("fatal: %s%s; exiting with code %d without committing further",
                         exc, why, exc.exit_code)
            self.health.set_fatal(str(exc))
            self._start_watchdog(exc.exit_code)  # closing must not hang the exit
            self._close(commit=False)
            return exc.exit_code
        except ServiceError as exc:
            log.critical("fatal: %s: %s; exiting with code %d", type(exc).__name__, exc,
                         exc.exit_code)
            self._start_watchdog(exc.exit_code)
            self._close(commit=False)
            return exc.exit_code
        finally:
            if self._server is not None:
                self._server.stop()

    def _run(self) -> int:
        tune_gc()
        self._server = HealthServer(self.metrics.registry, self.health,
                                    self.settings.metrics_host, self.settings.metrics_port).start()
        log.info("metrics on http://%s:%d/metrics", self.settings.metrics_host, self._server.port)
        if self._install_signals:
            self._install_signal_handlers()
        state_partitions = self._wait_for_topics()
        self._tx = Transactor(self._producer_conf(), CallGuard(self._on_stuck))
        self._tx.init(self.settings.broker_timeout_s)
        store = StateStore(self._client_conf, topic=self.topics.state,
                           group_id=self.settings.group_id, state_partitions=state_partitions)
        self._checkpointer = Checkpointer(self._tx, store, self.metrics)
        from detectors.exceptions import SnapshotError

        self._owner = PartitionOwner(
            inputs=self.inputs, store=store, pipeline_factory=self._factory,
            metrics=self.metrics, health=self.health, commit=self._commit,
            abort=self._abort, revoke_timeout_s=self.settings.revoke_timeout_s,
            auto_offset_reset=self.settings.auto_offset_reset, snapshot_error=SnapshotError,
            catch_up=self._catch_up,
        )
        self._consumer = Consumer(self._consumer_conf())
        owner = self._owner
        self._consumer.subscribe(self.inputs, on_assign=owner.on_assign,
                                 on_revoke=owner.on_revoke, on_lost=owner.on_lost)
        log.info("consuming %s as group %s, transactional.id %s", self.inputs,
                 self.settings.group_id, self._tx.transactional_id)
        self._loop()
        return self._shutdown()

    def _wait_for_topics(self) -> int:
        """Wait for a broker; check the inputs are co-partitioned; return state partitions."""
        began = time.monotonic()
        deadline = began + self.settings.broker_timeout_s
        names = [*self.inputs, self.topics.state]
        while True:
            attempt = min(5.0, max(1.0, deadline - time.monotonic()))
            try:
                counts = partition_counts(self._client_conf, names, timeout_s=attempt)
            except TopicError as exc:
                # Topics created a moment ago may not be in the metadata yet: a short grace.
                if time.monotonic() - began > min(15.0, self.settings.broker_timeout_s):
                    raise TopicLayoutError(str(exc)) from exc
                log.warning("%s; retrying", exc)
                time.sleep(1.0)
                continue
            except KafkaException as exc:
                self.health.broker_down()
                if time.monotonic() >= deadline:
                    raise BrokerUnavailableError(
                        f"no broker reachable at {self.config.kafka.get('bootstrap.servers')} "
                        f"for {self.settings.broker_timeout_s}s (consumer.broker_timeout_s): "
                        f"{exc.args[0].str() if exc.args else exc}"
                    ) from exc
                log.warning("waiting for a broker: %s", exc.args[0].str() if exc.args else exc)
                continue
            self.health.broker_up()
            inputs = {name: counts[name] for name in self.inputs}
            if len(set(inputs.values())) > 1:
                listing = ", ".join(f"{name}={n}" for name, n in inputs.items())
                raise TopicLayoutError(
                    f"input topics are not co-partitioned ({listing}): predictions and labels "
                    "must have the same partition count, keyed by model_id")
            log.info("input topics %s co-partitioned with %d partitions", self.inputs,
                     next(iter(inputs.values())))
            return counts[self.topics.state]

    def _install_signal_handlers(self) -> None:
        def handle(signum: int, _frame: Any) -> None:
            if not self._stop.is_set():
                log.info("%s: finishing the batch, committing and exiting",
                         signal.Signals(signum).name)
                self._stop.set()
                self._start_watchdog(ShutdownTimeoutError.exit_code)

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)
        faulthandler.register(signal.SIGUSR2, all_threads=True)  # stacks of a stuck process

    def _on_stuck(self, what: str, seconds: float) -> None:
        """From the guard thread: the main thread is blocked inside librdkafka."""
        reason = (f"{what} blocked for {seconds:.0f}s, far past its timeout (librdkafka "
                  "#5456/#5511 after a coordinator outage)")
        self.health.set_fatal(reason)
        if not self._install_signals:
            log.critical("fatal: %s; in-process: not exiting", reason)
            return
        log.critical("fatal: %s; exiting with code %d: a restart fences and aborts the open "
                     "transaction", reason, ClientStuckError.exit_code)
        logging.shutdown()
        os._exit(ClientStuckError.exit_code)

    def _start_watchdog(self, code: int) -> None:
        """Exit with ``code`` if the process is still here after ``shutdown_timeout_s``."""
        if not self._install_signals:
            return  # in-process use (tests, benchmarks): never kill the host process
        bound = self.settings.shutdown_timeout_s

        def expire() -> None:
            log.critical("fatal: shutdown did not finish within consumer.shutdown_timeout_s=%ss; "
                         "exiting with code %d", bound, code)
            logging.shutdown()
            os._exit(code)

        timer = threading.Timer(bound, expire)
        timer.daemon = True
        timer.start()

    def _loop(self) -> None:
        assert self._consumer is not None and self._tx is not None
        consumer = self._consumer
        interval = self.settings.commit_interval_ms / 1000.0
        batch_size = self.settings.batch_size
        poll_timeout = self.settings.poll_timeout_s
        last_commit = time.monotonic()
        while not self._stop.is_set():
            messages = consumer.consume(batch_size, timeout=poll_timeout)
            received = 0
            if messages:
                try:
                    received = self._process(messages)
                except AbortableTransactionError as exc:  # a produce into the transaction
                    log.warning("transaction aborted: %s; rewinding to the committed offsets", exc)
                    self._recover()
                    continue
            now = time.monotonic()
            if now - last_commit >= interval:
                self._commit_or_recover()
                last_commit = time.monotonic()
            self._check_broker(received > 0)

    def _shutdown(self) -> int:
        log.info("stopping: final commit")
        self._commit_or_recover(force_checkpoint=True)
        self._close(commit=True)
        log.info("stopped cleanly after a final commit")
        return 0

    def _close(self, commit: bool) -> None:
        if self._owner is not None and not commit:
            self._owner.frozen = True
        if self._consumer is not None:
            try:
                self._consumer.close()  # revoke callback commits (nothing left) unless frozen
            except Exception as exc:
                log.warning("closing the consumer: %s", exc)
            self._consumer = None
        if self._tx is not None and commit:
            self._tx.close()

    # -- broker health --------------------------------------------------------------------------

    def _check_broker(self, received: bool) -> None:
        """Healthy again on a record received, a transaction committed or a metadata answer;
        :class:`BrokerUnavailableError` after ``broker_timeout_s`` without any."""
        since = self.health.broker_down_since
        if since is None:
            return
        if received:
            self.health.broker_up()
            return
        now = time.monotonic()
        if now - self._last_probe >= 2.0:
            self._last_probe = now
            try:
                assert self._consumer is not None
                self._consumer.list_topics(self.inputs[0], timeout=1.0)
                self.health.broker_up()
                log.info("broker reachable again")
                return
            except KafkaException:
                pass
        if now - since > self.settings.broker_timeout_s:
            raise BrokerUnavailableError(
                f"no broker reachable for {now - since:.0f}s "
                f"(consumer.broker_timeout_s={self.settings.broker_timeout_s})"
            )

    # -- commit ---------------------------------------------------------------------------------

    def _catch_up(self, pipeline: Any, partition: int, ranges: dict[str, tuple[int, int]]) -> int:
        return catch_up(self._client_conf, pipeline, self._decoder, partition, ranges,
                        timeout_s=self.settings.broker_timeout_s)

    def _commit(self, timeout_s: float, force_checkpoint: bool = False) -> bool:
        """The commit sequence (:mod:`consumer.checkpoint`); True if a transaction committed."""
        assert self._checkpointer and self._consumer and self._owner and self._tx
        committed = self._checkpointer.commit(
            self._owner.tasks.values(), self._consumer.consumer_group_metadata(), timeout_s,
            snapshot_interval_s=self.settings.snapshot_interval_ms / 1000,
            force_checkpoint=force_checkpoint)
        self._update_lag()
        self._refresh_pipeline_metrics()
        return committed

    def _abort(self) -> None:
        assert self._tx is not None
        self._tx.abort(self.settings.revoke_timeout_s)
        self.metrics.transactions.labels("aborted").inc()

    def _commit_or_recover(self, force_checkpoint: bool = False) -> None:
        try:
            if self._commit(self.settings.revoke_timeout_s, force_checkpoint):
                self.health.broker_up()
        except AbortableTransactionError as exc:
            log.warning("transaction aborted: %s; rewinding to the committed offsets", exc)
            self._recover()

    def _recover(self) -> None:
        assert self._consumer is not None and self._owner is not None
        self._abort()
        self._owner.rewind(self._consumer)

    def _refresh_pipeline_metrics(self) -> None:
        """Fold the pipelines' own counters into Prometheus (at most once a second), and
        recompute the per-key gauges every ``consumer.model_gauges_interval_s``."""
        assert self._owner is not None
        now = time.monotonic()
        if now - self._last_refresh < 1.0:
            return
        self._last_refresh = now
        m = self.metrics
        pending = tracked = 0
        for task in self._owner.tasks.values():
            pipeline: Any = task.pipeline
            c = pipeline.counters
            part = str(task.partition)
            for name, value in pipeline_counts(pipeline).items():
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
            m.waiting_labels.labels(part).set(c.waiting)
            pending += c.pending + c.waiting
            tracked += len(pipeline.keys())
        if now - self._last_gauge_refresh >= self.settings.model_gauges_interval_s:
            self._last_gauge_refresh = now
            pipelines = [task.pipeline for task in self._owner.tasks.values()]
            m.refresh_rolling_metrics(pipelines)
            if self.settings.detector_statistics:
                m.refresh_detector_statistics(pipelines)
        m.pending_joins.set(pending)
        m.tracked_keys.set(tracked)

    def _update_lag(self) -> None:
        """Lag per owned input partition, from the high watermark each fetch response brings.
        A partition that stopped fetching (stalled in the client) would keep its last lag, so
        every :data:`LAG_QUERY_INTERVAL_S` the watermarks are asked of the broker instead: a
        stalled consumer shows growing lag (alert ``DriftlineConsumerLagHigh``), not zero."""
        assert self._consumer is not None and self._owner is not None
        from confluent_kafka import TopicPartition

        now = time.monotonic()
        query = now - self._last_lag_query >= LAG_QUERY_INTERVAL_S
        if query:
            self._last_lag_query = now
        for task in self._owner.tasks.values():
            for topic, position in task.positions.items():
                try:
                    _low, high = self._consumer.get_watermark_offsets(
                        TopicPartition(topic, task.partition), timeout=1.0, cached=not query)
                except KafkaException:
                    query = False  # slow or unreachable broker: cached values for the rest
                    continue
                if high >= 0:
                    self.metrics.lag.labels(topic, str(task.partition)).set(
                        max(0, high - position))

    # -- the hot path ---------------------------------------------------------------------------

    def _process(self, messages: list[Message]) -> int:
        """Decode, detect and produce one batch; returns the number of records (not errors)."""
        assert self._owner is not None and self._tx is not None
        began = time.perf_counter()
        tasks = self._owner.tasks
        decode = self._decoder.decode
        emit = self._emit
        dead_letter = self._dead_letter
        produce = self._tx.produce
        labelled_topic = self.topics.labelled
        label_delay = self.metrics.observe_label_delay
        consumed: dict[tuple[str, str], int] = defaultdict(int)
        records: dict[tuple[int, str], int] = defaultdict(int)
        invalid: dict[str, int] = defaultdict(int)
        model_partition = self._model_partition
        touched = set()
        n = 0
        for msg in messages:
            if msg.error() is not None:
                self._on_message_error(msg)
                continue
            topic = msg.topic()
            partition = msg.partition()
            offset = msg.offset()
            assert topic is not None and partition is not None and offset is not None
            task = tasks.get(partition)
            if task is None:  # fetched before a revoke; not ours any more
                continue
            n += 1
            value = msg.value()
            records[(partition, "consumed")] += 1
            result = decode(value, msg.key(), topic, partition, offset)
            if isinstance(result, Rejection):
                dead_letter(result, msg, records, invalid)
            else:
                model_id = result.model_id
                consumed[(result.type, model_id)] += 1
                if model_partition.setdefault(model_id, partition) != partition:
                    self._model_conflict(model_id, model_partition[model_id], partition)
                for out in task.pipeline.process(result, make_source(topic, partition, offset),
                                                 raw=value):
                    if out.__class__ is LabelledRecord:  # one per joined label
                        data = labelled_json(out)
                        if len(data) <= MAX_RECORD_BYTES:
                            produce(labelled_topic, data, out.model_id.encode())
                        else:
                            self._labelled_too_large(out, len(data))
                        label_delay(out)
                    elif isinstance(out, Rejection):
                        src = out.source
                        own = (src.offset == offset and src.partition == partition
                               and src.topic == topic)
                        dead_letter(out, msg if own else None, records, invalid)
                    else:
                        emit(out)
                touched.add(partition)
            task.positions[topic] = offset + 1
        for partition in touched:
            task = tasks[partition]
            processed = task.pipeline.counters.processed
            records[(partition, "processed")] += processed - task.reported.get("processed", 0)
            task.reported["processed"] = processed
        self._tx.poll()
        self.metrics.add_batch(consumed=consumed, records=records, invalid=invalid,
                               seconds=time.perf_counter() - began, size=n)
        return n

    def _emit(self, out: DriftEvent | Any) -> None:
        """Any output but a labelled record (produced in :meth:`_process`) or a rejection."""
        assert self._tx is not None
        if isinstance(out, DriftEvent):
            self._tx.produce(self.topics.drift, out.model_dump_json().encode(),
                             key=out.model_id.encode())
            self.metrics.drift_events.labels(out.model_id, out.detector, out.signal,
                                             out.severity).inc()
        else:
            log.error("pipeline returned an unknown output %r; ignored", type(out).__name__)

    def _labelled_too_large(self, record: LabelledRecord, size: int) -> None:
        """Not published: Kafka would refuse it, aborting every transaction that carries it. Its
        label still fed the detectors; the prediction and label stay in the input topics."""
        self.metrics.labelled_too_large.inc()
        log.warning("labelled record of prediction %r (model %r) not published: %d bytes, over "
                    "%d", record.prediction_id, record.model_id, size, MAX_RECORD_BYTES)

    def _dead_letter(
        self,
        rejection: Rejection,
        msg: Message | None,
        records: dict[tuple[int, str], int],
        invalid: dict[str, int],
    ) -> None:
        """Produce ``rejection`` to the DLQ: the original record (``msg``, when it is the one
        being processed) with the context headers; a rejection of an earlier record (an orphan
        label expiring) is keyed by its model, with the original value."""
        assert self._tx is not None
        src = rejection.source
        records[(src.partition, "dead_lettered")] += 1
        invalid[rejection.reason] += 1
        context = DeadLetterContext(stage=rejection.stage, error_class=rejection.error_class,
                                    message=rejection.message, topic=src.topic,
                                    partition=src.partition, offset=src.offset)
        original_headers: list[tuple[str, bytes | None]] = []
        timestamp = 0
        if msg is not None:
            key = msg.key()
            original = msg.headers() or []
            original_headers.extend((k, v.encode() if isinstance(v, str) else v)
                                    for k, v in (original.items() if isinstance(original, dict)
                                                 else original))
            ts_type, ts = msg.timestamp()
            timestamp = ts if ts_type != 0 and ts > 0 else 0
        else:
            key = rejection.model_id.encode() if rejection.model_id else None
        value, headers = fit_dead_letter(key, rejection.raw, original_headers,
                                         list(context.to_headers()))
        if value is None and rejection.raw:
            log.warning("dead letter of %s[%d]@%d: its %d-byte value is left out (over %d bytes "
                        "with headers); read it at its source", src.topic, src.partition,
                        src.offset, len(rejection.raw), MAX_RECORD_BYTES)
        self._tx.produce(self.topics.dlq, value, key=key, headers=headers, timestamp=timestamp)
        self.metrics.dead_letters.inc()

    def _model_conflict(self, model_id: str, first: int, now: int) -> None:
        """Count and log each further partition a model shows up on (once per partition)."""
        if (model_id, now) in self._model_partitions:
            return
        self._model_partitions.add((model_id, now))
        self.metrics.model_partition_conflicts.labels(model_id).inc()
        log.warning("model %s seen on partition %d after partition %d: producers should key by "
                    "model_id; its state is split between partitions", model_id, now, first)

    def _on_message_error(self, msg: Message) -> None:
        err = msg.error()
        assert err is not None
        if err.code() == KafkaError._PARTITION_EOF:
            return
        if err.code() in _BROKER_DOWN_CODES:
            self.health.broker_down()
        log.warning("consume error: %s", err.str())


def run_service(config: ConsumerServiceConfig, **kwargs: Any) -> int:
    return ConsumerService(config, **kwargs).run()


ServiceFactory = Callable[[ConsumerServiceConfig], ConsumerService]

__all__ = ["ConsumerService", "default_pipeline_factory", "run_service", "tune_gc"]
