"""``driftline retrain-worker``: drift events and triggers in, exactly one decision per trigger out.

Contract: every trigger the worker accepts (a drift event of a configured kind and severity, an
on-demand trigger, a schedule slot) is answered by exactly one retrain event in the retrain topic,
across crashes and restarts; triggers are never dropped (their input offsets are not committed
before their answer is) and never answered twice (the decision log is read back at start-up, and
each answer is committed atomically with the input offsets).

Exactly-once, as numbered steps:

1. Start-up: ``init_transactions`` with the worker's stable ``transactional.id`` fences any
   previous incarnation and aborts its open transaction; only then the decision log (the retrain
   topic, read_committed, from the beginning) is read: its events say which trigger ids are
   answered, when each model last trained (cooldown, new samples) and its promoted version; the
   registry's champion pointer is reconciled with the last promoted event.
2. Subscribe (read_committed, no auto-commit) to the drift and triggers topics. Each consumed
   trigger *holds* its offset: a partition's committable offset is the lowest held offset, or the
   next offset when nothing is held. Non-trigger records hold nothing.
3. The policy (:mod:`retrain_worker.policy`) dedupes by id, groups an episode, applies cooldown
   and at most K concurrent trainings. Trainings run in worker threads, each driving an isolated
   trainer process; the main loop keeps polling all the while, so a training longer than
   ``max.poll.interval.ms`` never costs the group membership (records that arrive meanwhile are
   buffered; partitions are paused only when ``max_pending`` triggers wait).
4. A decision is published in one transaction: ``begin_transaction``, produce the retrain event
   (key = model_id, ``event_id`` derived from the answered trigger ids), send the committable
   offsets with the answered triggers' holds released (``send_offsets_to_transaction``),
   ``commit_transaction``. Only then the holds are released, the policy records the decision,
   metrics count it and, for ``promoted``, the registry's champion pointer moves.
5. Transactions go through the consumer's :class:`~consumer.transactions.Transactor` (retriable
   errors retried, errors classified once, every blocking call under the
   :class:`~consumer.transactions.CallGuard`). Abortable transaction error: abort and retry the
   same decision on the next loop. Fenced or fatal: exit with code 6 (the newer incarnation owns
   the work). A call stuck far past its timeout (librdkafka #5456): the Transactor replaces the
   producer in-process (the new one fences the stuck one and aborts its transaction) and the
   decision is retried; stuck again after repeated replacements: exit 7, and the restart fences
   and aborts the open transaction (:func:`consumer.process.exit_on_stuck`).
6. kill -9 at any point: the uncommitted decision is invisible (read_committed), the held offsets
   were not committed, so the restarted worker re-reads those triggers and, the decision log not
   listing them, trains them again: one event per trigger.
7. Revoked or lost partitions: their waiting triggers are dropped and trainings answering them are
   cancelled (the new owner answers them); on revoke the committable offsets are committed first.
8. SIGTERM/SIGINT: cancel running trainings (their triggers stay unanswered, uncommitted), commit
   the committable offsets, close, exit 0.

Schedule triggers have no offsets; their slot id makes them exactly-once through the decision log.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from pydantic import ValidationError

from consumer.broker_watch import wait_for_cluster
from consumer.clients import ClientErrors, librdkafka_logger, new_consumer, new_producer
from consumer.exceptions import AbortableTransactionError, FatalTransactionError
from consumer.health import HealthServer, HealthState, start_health_server
from consumer.instance import Instance, claim_instance
from consumer.process import exit_on_stuck, install_stop_signals
from consumer.retry import Retry
from consumer.transactions import CallGuard, Transactor
from detectors.contracts import DriftEvent
from retrain_worker.config import WorkerServiceConfig
from retrain_worker.contracts import RetrainEvent, Trigger
from retrain_worker.exceptions import RegistryError, TrainerCancelledError
from retrain_worker.job import JobOutcome, run_job
from retrain_worker.kafka_io import read_decision_log, read_labelled
from retrain_worker.metrics import WorkerMetrics
from retrain_worker.policy import Episode, Policy, Ready
from retrain_worker.registry import ModelRegistry, open_registry
from retrain_worker.startup_checks import check_trainers
from retrain_worker.triggers import (
    TriggerRef,
    deferral_event_id,
    from_drift_event,
    from_trigger,
    retrain_event_id,
    schedule_trigger,
)

log = logging.getLogger(__name__)
TP = tuple[str, int]


@dataclass
class _Running:
    episode: Episode
    future: Future[JobOutcome]
    cancel: threading.Event
    workdir: Path


@dataclass
class _Decision:
    """A decision waiting to be committed (retried after an abortable error)."""

    episode: Episode
    outcome: JobOutcome
    attempts: int = 0
    causes: list[str] = field(default_factory=list)


class RetrainWorker:
    """The worker's main loop; see the module docstring for the exactly-once steps."""

    def __init__(
        self,
        config: WorkerServiceConfig,
        registry: ModelRegistry | None = None,
        *,
        producer_factory: Callable[[dict[str, Any]], Any] = new_producer,
        exit_when_stuck: bool = True,
        guard_grace_s: float = 15.0,
    ) -> None:
        self.config = config
        self.w = config.worker
        self.topics = config.topics
        self.registry = registry or open_registry(self.w)
        self.metrics = WorkerMetrics()
        self.health = HealthState()
        self.policy = Policy(self.w.policy_for, self.w.max_concurrent)
        self._stop = threading.Event()
        self._holds: dict[str, list[tuple[str, int, int]]] = {}
        self._next: dict[TP, int] = {}
        self._committed: dict[TP, int] = {}
        self._assigned: set[TP] = set()
        self._running: dict[str, _Running] = {}
        self._outbox: list[_Decision] = []
        self._paused = False
        self._last_commit = 0.0
        self._assignments = 0
        self._pool = ThreadPoolExecutor(self.w.max_concurrent, thread_name_prefix="retrain")
        self.consumer: Consumer | None = None
        self.tx: Transactor | None = None
        self._producer_factory = producer_factory
        self._exit_when_stuck = exit_when_stuck
        self._guard_grace_s = guard_grace_s
        self.server: HealthServer | None = None
        #: ``worker.transactional_id`` if set, else unique per running process and stable
        #: across its restarts (:mod:`consumer.instance`).
        configured = self.w.transactional_id if "transactional_id" in self.w.model_fields_set \
            else None
        self._instance: Instance = claim_instance(self.w.group_id, configured)
        self.transactional_id = (configured or f"{self.w.group_id}-{self._instance.id}")
        #: librdkafka's errors and log lines, each kind logged at most once per 30 s.
        self._client_errors = ClientErrors()
        #: Backoff for decisions and offsets whose transaction was aborted.
        self._tx_retry = Retry("publishing a decision", initial_s=0.5, max_s=10.0)

    # -- lifecycle -----------------------------------------------------------------------------
    def stop(self, *_: Any) -> None:
        """Finish: cancel trainings, commit the committable offsets, exit 0 (SIGTERM/SIGINT)."""
        self._stop.set()

    def run(self) -> int:
        if self.w.metrics_port is not None:
            self.server = start_health_server(
                self.metrics.registry, self.health, self.w.metrics_host, self.w.metrics_port,
                slot=self._instance.slot, setting="worker.metrics_port")
            log.info("metrics on http://%s:%d/metrics", self.w.metrics_host, self.server.port)
        try:
            self._start()
            while not self._stop.is_set():
                self._step()
            self._shutdown()
            return 0
        except FatalTransactionError as exc:
            log.error("fatal: %s", exc)
            self.health.set_fatal(str(exc))
            self._cancel_all()
            return exc.exit_code
        finally:
            self._pool.shutdown(wait=False, cancel_futures=True)
            if self.consumer is not None:
                with contextlib.suppress(Exception):
                    self.consumer.close()
            if self.server is not None:
                self.server.stop()
            self._instance.release()

    def _client_conf(self, *extra: dict[str, Any]) -> dict[str, Any]:
        """``kafka:`` plus ``extra``, librdkafka's log lines and errors through Python logging."""
        merged: dict[str, Any] = dict(self.config.kafka)
        for part in extra:
            merged.update(part)
        return {**merged, "logger": librdkafka_logger(), "error_cb": self._client_errors}

    def _build_transactor(self) -> None:
        """The consumer's :class:`~consumer.transactions.Transactor`, guard included."""
        self.tx = Transactor(
            {**self._client_conf(self.w.producer), "transactional.id": self.transactional_id,
             "enable.idempotence": True},
            CallGuard(exit_on_stuck(self.health, exit_process=self._exit_when_stuck),
                      grace_s=self._guard_grace_s),
            producer_factory=self._producer_factory)

    def _start(self) -> None:
        # A broker first (KafkaAuthenticationError, BrokerUnavailableError saying why), so
        # init_transactions below never times out for a reason it cannot name.
        if wait_for_cluster(self._client_conf(), self.w.transaction_timeout_s,
                            bound="worker.transaction_timeout_s", stop=self._stop) is None:
            return
        self.health.broker_up()
        self._build_transactor()
        assert self.tx is not None
        self.tx.init(self.w.transaction_timeout_s)  # step 1: fence the previous incarnation
        self._reload_decisions()
        self.consumer = new_consumer({
            **self._client_conf(self.w.consumer),
            "group.id": self.w.group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
        }, "kafka + worker.consumer")
        self.consumer.subscribe([self.topics.drift, self.topics.triggers],
                                on_assign=self._on_assign, on_revoke=self._on_revoke,
                                on_lost=self._on_lost)
        log.info("retrain worker %s started (group %s, K=%d)", self.transactional_id,
                 self.w.group_id, self.w.max_concurrent)

    def _reload_decisions(self) -> None:
        decisions = read_decision_log(dict(self.config.kafka), self.topics.retrain)
        self.policy.restore(decisions)
        last_promoted: dict[str, str] = {}
        for event in decisions:
            if event.status == "promoted" and event.new_version:
                last_promoted[event.model_id] = event.new_version
                # Seed the gauge so "no successful retrain in N days" survives a restart.
                self.metrics.last_success.labels(event.model_id).set(event.timestamp.timestamp())
        for model_id, version in last_promoted.items():
            champion = self.registry.champion(model_id)
            if champion is None or champion.version != version:
                try:
                    self.registry.promote(model_id, version)
                except RegistryError as exc:
                    log.warning("cannot reconcile the champion of %s: %s", model_id, exc)
        log.info("decision log: %d decisions", len(decisions))

    def _shutdown(self) -> None:
        log.info("stopping: cancelling %d trainings", len(self._running))
        self._cancel_all()
        deadline = time.monotonic() + self.w.shutdown_timeout_s
        for running in list(self._running.values()):
            with contextlib.suppress(Exception):
                running.future.result(timeout=max(0.1, deadline - time.monotonic()))
        self._running.clear()
        self._flush_outbox(force=True)
        with contextlib.suppress(KafkaException, FatalTransactionError):
            self._commit_offsets(force=True)
        if self.tx is not None:
            self.tx.close()

    def _cancel_all(self) -> None:
        for running in self._running.values():
            running.cancel.set()

    # -- rebalance (one place) -----------------------------------------------------------------
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.metrics.rebalances.labels("assign").inc()
        self._assignments += 1
        if self._assignments > 1:
            self._reload_decisions()  # another instance may have answered triggers meanwhile
        for tp in partitions:
            self._assigned.add((tp.topic, tp.partition))
        self.health.set_ready(True)
        log.info("assigned %s", sorted(f"{t.topic}[{t.partition}]" for t in partitions))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.metrics.rebalances.labels("revoke").inc()
        with contextlib.suppress(KafkaException, FatalTransactionError):
            self._commit_offsets(force=True)
        self._release_partitions({(tp.topic, tp.partition) for tp in partitions})

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.metrics.rebalances.labels("lost").inc()
        self._release_partitions({(tp.topic, tp.partition) for tp in partitions})

    def _release_partitions(self, gone: set[TP]) -> None:
        dropped = {tid for tid, holds in self._holds.items()
                   if any((t, p) in gone for t, p, _ in holds)}
        self.policy.drop(dropped)
        for model_id, running in list(self._running.items()):
            if dropped & set(running.episode.trigger_ids):
                running.cancel.set()
                self.policy.abandon(model_id)
        for tid in dropped:
            self._holds.pop(tid, None)
        for tp in gone:
            self._assigned.discard(tp)
            self._next.pop(tp, None)
            self._committed.pop(tp, None)
        if not self._assigned:
            self.health.set_ready(False, "no partitions assigned")

    # -- main loop -----------------------------------------------------------------------------
    def _step(self) -> None:
        assert self.consumer is not None
        msg = self.consumer.poll(0.2)
        now = time.time()
        if msg is not None:
            self._handle(msg, now)
        self._schedule(now)
        for ready in self.policy.ready(now):
            self._act(ready)
        self._collect()
        self._flush_outbox()
        if now - self._last_commit >= self.w.commit_interval_s:
            self._commit_offsets()
        self._flow_control()
        self.metrics.pending.set(self.policy.pending_count)
        self.metrics.in_flight.set(len(self._running))

    def _handle(self, msg: Message, now: float) -> None:
        error = msg.error()
        if error is not None:
            if error.code() != KafkaError._PARTITION_EOF:
                log.warning("consumer error: %s", error)
            return
        topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
        assert topic is not None and partition is not None and offset is not None
        self._next[(topic, partition)] = offset + 1
        ref = self._parse(topic, msg.value(), now)
        if ref is None:
            return
        outcome = self.policy.offer(ref, now)
        self.metrics.triggers.labels(ref.origin, outcome).inc()
        if outcome in ("opened", "joined", "joined_running") or (
            outcome == "duplicate" and not self.policy.is_answered(ref.trigger_id)
        ):
            self._holds.setdefault(ref.trigger_id, []).append((topic, partition, offset))
        log.info("trigger %s (%s) for %s%s: %s", ref.trigger_id, ref.origin, ref.model_id,
                 f" {ref.model_version}" if ref.model_version else "", outcome)

    def _parse(self, topic: str, value: bytes | None, now: float) -> TriggerRef | None:
        if value is None:
            return None
        try:
            if topic == self.topics.drift:
                return from_drift_event(DriftEvent.model_validate_json(value), now)
            return from_trigger(Trigger.model_validate_json(value), now)
        except (ValidationError, ValueError) as exc:
            log.warning("ignoring an invalid record on %s: %s", topic, str(exc)[:200])
            return None

    def _schedule(self, now: float) -> None:
        for model_id, interval in self.w.scheduled_models().items():
            ref = schedule_trigger(model_id, interval, now)
            if not self.policy.is_answered(ref.trigger_id):
                outcome = self.policy.offer(ref, now)
                if outcome != "duplicate":
                    self.metrics.triggers.labels("schedule", outcome).inc()

    def _act(self, ready: Ready) -> None:
        episode = ready.episode
        if ready.action == "skip":
            self._outbox.append(_Decision(episode, JobOutcome(
                "skipped", ready.reason, self.policy.current_version(episode.model_id)),
                causes=["cooldown"]))
            return
        policy = self.w.policy_for(episode.model_id)
        cancel = threading.Event()
        workdir = Path(tempfile.mkdtemp(prefix="driftline-train-"))
        kafka = dict(self.config.kafka)
        labelled = self.topics.labelled

        def reader(model_id: str, window: Any, around: Any) -> Any:
            return read_labelled(kafka, labelled, model_id, window, around)

        drift_versions = [t.model_version for t in episode.triggers if t.model_version]
        previous = self.policy.current_version(episode.model_id) or (
            drift_versions[-1] if drift_versions else None)
        future = self._pool.submit(
            run_job,
            model_id=episode.model_id,
            triggers=list(episode.triggers),
            policy=policy,
            reader=reader,
            registry=self.registry,
            entry_point=policy.trainer or self.w.trainer,
            timeout_s=policy.trainer_timeout_s or self.w.trainer_timeout_s,
            workdir=workdir,
            previous_version=previous,
            last_window_end=self.policy.last_window_end(episode.model_id),
            cancel=cancel,
            change_point=self.policy.change_point(episode),
            defer=self.policy.may_defer(episode, time.time()),
            min_records=episode.min_records,
        )
        self._running[episode.model_id] = _Running(episode, future, cancel, workdir)
        log.info("training %s for %d triggers", episode.model_id, len(episode.triggers))

    def _collect(self) -> None:
        for model_id, running in list(self._running.items()):
            if not running.future.done():
                continue
            del self._running[model_id]
            shutil.rmtree(running.workdir, ignore_errors=True)
            try:
                outcome = running.future.result()
            except TrainerCancelledError:
                log.info("training of %s cancelled; its triggers stay unanswered", model_id)
                continue
            except Exception as exc:  # a bug or an unreadable topic: still answer, never drop
                log.exception("training of %s failed unexpectedly", model_id)
                outcome = JobOutcome("failed", f"worker error: {type(exc).__name__}: {exc}",
                                     self.policy.current_version(model_id), causes=["worker"])
            if running.cancel.is_set():
                continue  # revoked or stopping: the next owner answers these triggers
            if outcome.status == "deferred" and (running.episode.deferral_published
                                                 or running.episode.is_follow_up):
                self.policy.deferred(running.episode, time.time(), published=True)
                log.info("%s still waits: %s", model_id, outcome.reason)
                continue  # the deferred notice is in the log already (or not wanted)
            self._outbox.append(_Decision(running.episode, outcome, causes=outcome.causes))

    # -- publishing ----------------------------------------------------------------------------
    def _committable(self, released: set[str]) -> list[TopicPartition]:
        lowest: dict[TP, int] = dict(self._next)
        for tid, holds in self._holds.items():
            if tid in released:
                continue
            for topic, partition, offset in holds:
                tp = (topic, partition)
                lowest[tp] = min(lowest.get(tp, offset), offset)
        return [TopicPartition(t, p, o) for (t, p), o in sorted(lowest.items())
                if (t, p) in self._assigned]

    def _transaction(self, build: Callable[[Transactor], None],
                     offsets: list[TopicPartition]) -> bool:
        """One transaction of :class:`~consumer.transactions.Transactor` (the consumer's, with
        its retries and its guard): ``build`` produces into it, then the offsets, then commit.
        False after an abortable error (aborted; the caller retries); fenced or fatal raises
        :class:`~consumer.exceptions.FatalTransactionError`."""
        assert self.tx is not None and self.consumer is not None
        tx = self.tx
        deadline = time.monotonic() + self.w.transaction_timeout_s
        try:
            build(tx)
            if offsets:
                tx.send_offsets(offsets, self.consumer.consumer_group_metadata(), deadline)
            tx.flush(deadline)
            tx.commit(deadline)
        except AbortableTransactionError as exc:
            self.metrics.transactions.labels("aborted").inc()
            # Retried with backoff, logged once per interval (the main loop never sleeps on it).
            self._tx_retry.failed(f"aborted: {exc}")
            tx.abort(self.w.transaction_timeout_s)
            return False
        self._tx_retry.succeeded()
        self.metrics.transactions.labels("committed").inc()
        for tp in offsets:
            self._committed[(tp.topic, tp.partition)] = tp.offset
        return True

    def _flush_outbox(self, force: bool = False) -> None:
        if not (force or self._tx_retry.due()):
            return
        while self._outbox:
            decision = self._outbox[0]
            if not self._publish(decision):
                decision.attempts += 1
                return
            self._outbox.pop(0)

    def _publish(self, decision: _Decision) -> bool:
        episode, outcome = decision.episode, decision.outcome
        ids = list(dict.fromkeys(episode.trigger_ids))
        now = time.time()
        deferral = outcome.status == "deferred"  # a notice: the triggers stay held, unanswered
        event = RetrainEvent(
            event_id=deferral_event_id(ids) if deferral else retrain_event_id(ids),
            model_id=episode.model_id,
            status=outcome.status,
            reason=outcome.reason,
            triggers=ids,
            previous_version=outcome.previous_version,
            new_version=outcome.new_version,
            training=outcome.training,
            evaluation=outcome.evaluation,
            artifact_uri=outcome.artifact_uri,
            duration_s=round(outcome.duration_s, 3),
            timestamp=datetime.fromtimestamp(now, UTC),
        )
        payload = event.model_dump_json().encode()

        def build(tx: Transactor) -> None:
            tx.produce(self.topics.retrain, payload, key=episode.model_id.encode())

        if not self._transaction(build, self._committable(set() if deferral else set(ids))):
            return False
        self._last_commit = now
        if deferral:
            self.policy.finished(event)
            self.policy.deferred(episode, now, published=True)
            self.metrics.decision(event.model_id, event.status, duration_s=outcome.duration_s,
                                  latencies=[], causes=decision.causes)
            log.info("decision %s for %s: deferred (%s)", event.event_id, event.model_id,
                     event.reason)
            print(json.dumps({"decision": event.event_id, "model_id": event.model_id,
                              "status": event.status}), flush=True)
            return True
        for tid in ids:
            self._holds.pop(tid, None)
        self.policy.finished(event)
        if event.status == "promoted" and event.new_version:
            try:
                self.registry.promote(event.model_id, event.new_version)
            except RegistryError as exc:
                log.error("promoted %s but cannot move the champion pointer: %s",
                          event.new_version, exc)
        self.metrics.decision(event.model_id, event.status, duration_s=outcome.duration_s,
                              latencies=[now - t.received_at for t in episode.triggers],
                              causes=decision.causes)
        log.info("decision %s for %s: %s (%s) answering %d triggers", event.event_id,
                 event.model_id, event.status, event.reason, len(ids))
        print(json.dumps({"decision": event.event_id, "model_id": event.model_id,
                          "status": event.status}), flush=True)
        return True

    def _commit_offsets(self, force: bool = False) -> None:
        self._last_commit = time.time()
        offsets = [tp for tp in self._committable(set())
                   if self._committed.get((tp.topic, tp.partition)) != tp.offset]
        if offsets and (force or not self._outbox):
            self._transaction(lambda tx: None, offsets)

    def _flow_control(self) -> None:
        assert self.consumer is not None
        backlog = self.policy.pending_count > self.w.max_pending
        if backlog != self._paused:
            assignment = self.consumer.assignment()
            if backlog:
                self.consumer.pause(assignment)
            else:
                self.consumer.resume(assignment)
            self._paused = backlog


def run_worker(config: WorkerServiceConfig) -> int:
    """The ``driftline retrain-worker`` process: trainer entry points checked (a broken one
    exits 2 before anything else), then the worker until SIGTERM/SIGINT."""
    check_trainers(config.worker)
    worker = RetrainWorker(config)
    install_stop_signals(worker.stop)
    return worker.run()


__all__ = ["RetrainWorker", "run_worker"]
