"""``driftline consume``: the consumer group that turns predictions and labels into drift events.

Contract:

* Subscribes the group (``consumer.group_id``) to the input topics with ``range`` assignment,
  ``read_committed``, manual offsets; refuses to start (exit 2) when the input topics are
  missing or not co-partitioned (:class:`~consumer.broker_watch.BrokerWatch`).
* Runs a short loop of named steps (:meth:`ConsumerService._loop`): consume a batch, process it
  (:class:`~consumer.processing.BatchProcessor`), commit when the commit policy says so
  (:class:`~consumer.commit_policy.CommitPolicy`, through the rebalance owner: every
  ``consumer.commit_interval_ms``, and after a batch that left the consumer caught up), check
  the broker.
* Partitions, their state and every commit or abort belong to the rebalance owner
  (:class:`~consumer.rebalance.PartitionOwner`); an abortable error rewinds to the committed
  offsets and state; a fatal or fenced producer logs one line and exits 6.
* ``auto.offset.reset=error``: a fetch position the broker no longer has is decided by
  :mod:`consumer.offset_reset` after the batch (records deleted before they were read: counted,
  logged, go on at the log start; log truncated below the position: exit 8), never moved
  silently by librdkafka.
* SIGTERM/SIGINT: finish the batch, commit, close, exit 0, all within
  ``consumer.shutdown_timeout_s`` (else exit 5). No broker for ``consumer.broker_timeout_s``:
  ``/healthz`` reports it meanwhile, then exit 3. Exit codes: :mod:`consumer.exceptions`.
* Garbage collection (:mod:`consumer.gc_policy`): at start the young-generation threshold is
  raised for the process; after commits the heap is frozen (at most every few seconds), so the
  collector's full collections walk what is new, not the whole detection state (and, when
  ``consumer.gc_full_sweep_interval_s`` is set, one full sweep that often).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

from confluent_kafka import Consumer, KafkaException

from consumer.batch import Decoder
from consumer.broker_watch import BrokerWatch
from consumer.checkpoint import Checkpointer
from consumer.clients import librdkafka_logger, new_consumer, new_producer
from consumer.commit_policy import CommitPolicy, caught_up
from consumer.config import ConsumerServiceConfig
from consumer.exceptions import (
    AbortableTransactionError,
    FatalTransactionError,
    ServiceError,
    ShutdownTimeoutError,
    TransactionError,
)
from consumer.gauges import GaugeRefresher
from consumer.gc_policy import HeapPolicy, tune_gc
from consumer.health import HealthServer, HealthState, start_health_server
from consumer.instance import Instance, claim_instance
from consumer.metrics import Metrics
from consumer.offset_reset import OffsetResets
from consumer.partition import PartitionTask, PipelineFactory
from consumer.process import exit_after, exit_on_stuck, install_stop_signals
from consumer.processing import BatchProcessor
from consumer.rebalance import PartitionOwner
from consumer.restore import PartitionRestorer
from consumer.state_store import StateStore
from consumer.transactions import CallGuard, Transactor

log = logging.getLogger(__name__)

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
        #: Unique per running process, stable across its restarts (:mod:`consumer.instance`).
        self._instance: Instance = claim_instance(self.settings.group_id,
                                                  self.settings.instance_id)
        self.instance_id = self._instance.id
        self.metrics = Metrics()
        self.health = HealthState()
        self._factory = pipeline_factory or default_pipeline_factory(config)
        #: A real process: signals, watchdog exits. In-process (tests, benchmarks): neither.
        self._own_process = install_signal_handlers
        self._stop = threading.Event()
        self._decoder = Decoder(config.field_mapping,
                                max_record_bytes=self.settings.max_record_bytes,
                                accept_unaddressed=self.settings.accept_unaddressed)
        self._broker = BrokerWatch(self._client_conf, self.settings, self.health)
        self._gauges = GaugeRefresher(self.metrics, self.settings)
        self._heap = HeapPolicy(full_sweep_interval_s=self.settings.gc_full_sweep_interval_s)
        self._server: HealthServer | None = None
        self._consumer: Consumer | None = None
        self._tx: Transactor | None = None
        self._policy: CommitPolicy | None = None
        self._owner: PartitionOwner | None = None
        self._processor: BatchProcessor | None = None
        self._offset_resets = OffsetResets(self.metrics)

    # -- client configuration --------------------------------------------------------------------

    @property
    def _client_conf(self) -> dict[str, Any]:
        """``kafka:`` plus librdkafka's own log lines routed through Python logging (a line
        that repeats is logged once per 30 s)."""
        return {**self.config.kafka, "logger": librdkafka_logger()}

    def _kafka_conf(self) -> dict[str, Any]:
        return {**self._client_conf, "error_cb": self._broker.on_kafka_error}

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
            # Start offsets are explicit (committed, or consumer.auto_offset_reset for a new
            # group: PartitionOwner.load); a position the broker no longer has is reported, not
            # silently moved to the log start or end: consumer.offset_reset decides.
            "auto.offset.reset": "error",
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
                except TransactionError as error:
                    cause = error.__cause__
                    self._broker.fatal_reason = self._broker.fatal_reason or (
                        cause.args[0].str() if isinstance(cause, KafkaException) else str(error))
            why = f" ({self._broker.fatal_reason})" if self._broker.fatal_reason else ""
            return self._fail(exc, f"{exc}{why}; exiting with code {exc.exit_code} without "
                                   "committing further")
        except ServiceError as exc:
            return self._fail(exc, f"{type(exc).__name__}: {exc}; exiting with code "
                                   f"{exc.exit_code}")
        finally:
            self._heap.release()
            if self._server is not None:
                self._server.stop()
            self._instance.release()

    def _after_commit(self, tasks: Sequence[PartitionTask]) -> None:
        self._gauges.after_commit(tasks)
        self._heap.after_commit()

    def _fail(self, exc: ServiceError, line: str) -> int:
        log.critical("fatal: %s", line)
        self.health.set_fatal(str(exc))
        self._arm_watchdog(exc.exit_code)  # closing must not hang the exit
        self._close(commit=False)
        return exc.exit_code

    def _run(self) -> int:
        tune_gc()
        self._start_http()
        if self._own_process:
            install_stop_signals(self._on_stop_signal)
        state_partitions = self._broker.wait_for_topics(self.inputs, self.topics.state,
                                                        stop=self._stop)
        if state_partitions is None:  # stopped while waiting for a broker
            return 0
        self._start_transactions()
        self._build_owner(state_partitions)
        self._subscribe()
        self._loop()
        return self._shutdown()

    def _start_http(self) -> None:
        self._server = start_health_server(
            self.metrics.registry, self.health, self.settings.metrics_host,
            self.settings.metrics_port, slot=self._instance.slot,
            setting="consumer.metrics_port")
        log.info("metrics on http://%s:%d/metrics", self.settings.metrics_host, self._server.port)

    def _on_stop_signal(self, name: str) -> None:
        if not self._stop.is_set():
            log.info("%s: finishing the batch, committing and exiting", name)
            self._stop.set()
            self._arm_watchdog(ShutdownTimeoutError.exit_code)

    def _arm_watchdog(self, code: int) -> None:
        """Exit with ``code`` if the process is still here after ``shutdown_timeout_s``."""
        if self._own_process:  # in-process use: never kill the host process
            bound = self.settings.shutdown_timeout_s
            exit_after(bound, code, f"shutdown did not finish within "
                                    f"consumer.shutdown_timeout_s={bound}s")

    def _start_transactions(self) -> None:
        guard = CallGuard(exit_on_stuck(self.health, exit_process=self._own_process))
        self._tx = Transactor(self._producer_conf(), guard, producer_factory=lambda conf:
                              new_producer(conf, "kafka + consumer.producer_properties"))
        self._tx.init(self.settings.broker_timeout_s)

    def _build_owner(self, state_partitions: int) -> None:
        assert self._tx is not None
        store = StateStore(self._client_conf, topic=self.topics.state,
                           group_id=self.settings.group_id, state_partitions=state_partitions)
        self._policy = CommitPolicy(
            Checkpointer(self._tx, store, self.metrics), self._tx, self.metrics,
            commit_interval_s=self.settings.commit_interval_ms / 1000,
            snapshot_interval_s=self.settings.snapshot_interval_ms / 1000,
            abort_timeout_s=self.settings.revoke_timeout_s,
            after_commit=self._after_commit,
            commit_on_catch_up=self.settings.commit_on_catch_up)
        restorer = PartitionRestorer(
            store=store, pipeline_factory=self._factory, metrics=self.metrics,
            kafka_conf=self._client_conf, decoder=self._decoder,
            timeout_s=self.settings.broker_timeout_s)
        self._owner = PartitionOwner(
            inputs=self.inputs, restorer=restorer, policy=self._policy, metrics=self.metrics,
            health=self.health, revoke_timeout_s=self.settings.revoke_timeout_s,
            auto_offset_reset=self.settings.auto_offset_reset)
        self._processor = BatchProcessor(decoder=self._decoder, tx=self._tx, topics=self.topics,
                                         metrics=self.metrics, health=self.health,
                                         offset_resets=self._offset_resets)

    def _subscribe(self) -> None:
        assert self._owner is not None and self._tx is not None
        owner = self._owner
        self._consumer = new_consumer(self._consumer_conf(),
                                      "kafka + consumer.consumer_properties")
        self._gauges.consumer = self._consumer
        self._consumer.subscribe(self.inputs, on_assign=owner.on_assign,
                                 on_revoke=owner.on_revoke, on_lost=owner.on_lost)
        log.info("consuming %s as group %s, transactional.id %s", self.inputs,
                 self.settings.group_id, self._tx.transactional_id)

    def _loop(self) -> None:
        """Consume a batch, process it, commit when due, check the broker; until stopped."""
        assert self._consumer is not None and self._owner is not None
        assert self._policy is not None and self._processor is not None
        consumer, owner, policy, processor = (self._consumer, self._owner, self._policy,
                                              self._processor)
        batch_size, poll_timeout = self.settings.batch_size, self.settings.poll_timeout_s
        while not self._stop.is_set():
            messages = consumer.consume(batch_size, timeout=poll_timeout)
            received = 0
            if messages:
                try:
                    received = processor.process(messages, owner.tasks)
                except AbortableTransactionError as exc:  # a produce into the transaction
                    owner.recover(consumer, str(exc))
                    continue
            if self._offset_resets.pending and self._offset_resets.resolve(consumer, owner.tasks):
                owner.restart_fetch(consumer)  # after the batch: the positions are up to date
            at_head = received > 0 and policy.commit_on_catch_up and (
                len(messages) < batch_size or caught_up(consumer, owner.tasks, batch_size, self.inputs))
            if policy.due(caught_up=at_head) and owner.commit(consumer):
                self.health.broker_up()
            self._check_broker(received > 0)

    def _check_broker(self, received: bool) -> None:
        assert self._consumer is not None
        self._broker.check(received, self._consumer, self.inputs[0])

    def _shutdown(self) -> int:
        log.info("stopping: final commit")
        assert self._owner is not None and self._consumer is not None
        self._owner.commit(self._consumer, force_checkpoint=True)
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
            self._gauges.consumer = None
        if self._tx is not None and commit:
            self._tx.close()


def run_service(config: ConsumerServiceConfig, **kwargs: Any) -> int:
    return ConsumerService(config, **kwargs).run()


__all__ = ["ConsumerService", "default_pipeline_factory", "run_service"]
