"""A transactional producer with Kafka's error classes mapped onto Driftline's.

Contract:

* A transaction is begun lazily by the first :meth:`Transactor.produce` (or by
  :meth:`Transactor.send_offsets`), so an idle service opens none.
* Every librdkafka error is classified once, here (:func:`classify`): *retriable* errors retry the
  same call until the call's deadline; errors that *require an abort* raise
  :class:`~consumer.exceptions.AbortableTransactionError`; *fatal* errors and fencing raise
  :class:`~consumer.exceptions.FatalTransactionError`. A failed delivery inside the transaction
  is abortable.
* Every blocking transactional call (``init``, ``send_offsets``, ``commit``, ``abort``) runs on a
  call thread of its own while the caller waits at most the call's timeout plus a grace. A call
  still blocked then (librdkafka #5456/#5511: ``send_offsets_to_transaction`` after a coordinator
  outage ignores its timeout) is *replaced* in-process: the stuck producer is left to its thread
  (never destroyed under it), a new producer with the same ``transactional.id`` runs
  ``init_transactions``, which fences the stuck one and aborts its open transaction, and the
  call raises :class:`~consumer.exceptions.AbortableTransactionError`, so the caller rewinds to
  the committed offsets and goes on serving (the consumer reloads its state; the worker retries
  its decision). More than ``max_replacements`` within ``replacement_window_s`` (each leaves a
  producer and a thread behind) raises :class:`~consumer.exceptions.ClientStuckError` (exit 7):
  then a process restart is the clean way out.
* The :class:`CallGuard`, when one is given, stays the backstop: a call still blocked a second
  grace later is reported to its callback (:func:`consumer.process.exit_on_stuck`, exit 7).
* Nothing else in Driftline calls ``begin/commit/abort_transaction`` directly: the consumer
  (:mod:`consumer.checkpoint`) and the retrain worker both use :class:`Transactor`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition

from consumer.clients import new_producer
from consumer.exceptions import (
    AbortableTransactionError,
    ClientStuckError,
    FatalTransactionError,
    TransactionError,
)
from consumer.retry import Retry

log = logging.getLogger(__name__)

T = TypeVar("T")

_FENCED = frozenset(
    {
        KafkaError._FENCED,
        KafkaError._FATAL,
        KafkaError.PRODUCER_FENCED,
        KafkaError.INVALID_PRODUCER_EPOCH,
        KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
    }
)


def classify(error: KafkaError) -> str:
    """``"fatal"``, ``"abort"`` or ``"retry"`` for a librdkafka error."""
    if error.fatal() or error.code() in _FENCED:
        return "fatal"
    if error.txn_requires_abort():
        return "abort"
    if error.retriable():
        return "retry"
    return "abort"


def _kafka_error(exc: BaseException) -> KafkaError | None:
    """The librdkafka error behind ``exc``: callbacks can wrap it (``SystemError`` whose cause
    is the ``KafkaException``)."""
    seen: BaseException | None = exc
    for _ in range(4):
        if seen is None:
            return None
        if isinstance(seen, KafkaException) and isinstance(seen.args[0], KafkaError):
            return seen.args[0]
        seen = seen.__cause__ or seen.__context__
    return None


class CallGuard:
    """Watches blocking client calls from a daemon thread; ``on_stuck(what, seconds)`` runs
    once when one outlives its deadline by ``grace_s`` (librdkafka #5456: a coordinator request
    that never times out)."""

    def __init__(self, on_stuck: Callable[[str, float], None], grace_s: float = 15.0) -> None:
        self._on_stuck = on_stuck
        self._grace_s = grace_s
        self._current: tuple[str, float, float] | None = None  # what, began, deadline
        self._thread = threading.Thread(target=self._watch, name="driftline-call-guard",
                                        daemon=True)
        self._thread.start()

    @property
    def grace_s(self) -> float:
        return self._grace_s

    def enter(self, what: str, timeout_s: float) -> None:
        now = time.monotonic()
        self._current = (what, now, now + timeout_s)

    def leave(self) -> None:
        self._current = None

    def _watch(self) -> None:
        while True:
            time.sleep(1.0)
            current = self._current
            if current is not None and time.monotonic() > current[2] + self._grace_s:
                self._on_stuck(current[0], time.monotonic() - current[1])
                return


class _Stuck(Exception):
    """A call outlived its wait on the call thread."""


class CallThread:
    """Runs one blocking client call at a time on a daemon thread (a stuck call keeps only
    this thread, never the caller, and never the process from exiting)."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], dict[str, Any],
                                            threading.Event]] = queue.SimpleQueue()
        threading.Thread(target=self._serve, name="driftline-client-call", daemon=True).start()

    def _serve(self) -> None:
        while True:
            fn, box, done = self._jobs.get()
            try:
                box["value"] = fn()
            except BaseException as exc:  # handed to the caller
                box["error"] = exc
            done.set()

    def run(self, fn: Callable[[], T], wait_s: float) -> T:
        """``fn()``'s result or exception; :class:`_Stuck` after ``wait_s``."""
        box: dict[str, Any] = {}
        done = threading.Event()
        self._jobs.put((fn, box, done))
        if not done.wait(wait_s):
            raise _Stuck
        if "error" in box:
            raise box["error"]
        return box["value"]


class Transactor:
    """Owns the transactional producer (and replaces it when a call is stuck)."""

    def __init__(
        self,
        conf: dict[str, Any],
        guard: CallGuard | None = None,
        *,
        producer_factory: Callable[[dict[str, Any]], Any] = new_producer,
        max_replacements: int = 3,
        replacement_window_s: float = 600.0,
    ) -> None:
        # Delivery reports only for failures, through one producer-wide callback: a report per
        # record would cost a Python call per record, and a success needs no action.
        self._conf = {"delivery.report.only.error": True, **conf, "on_delivery": self._on_delivery}
        self._factory = producer_factory
        self._producer = producer_factory(self._conf)
        self._guard = guard
        self._grace_s = guard.grace_s if guard is not None else 15.0
        self._calls = CallThread()
        self._init_timeout_s = 30.0
        self._max_replacements = max_replacements
        self._replacement_window_s = replacement_window_s
        self._replaced_at: deque[float] = deque()
        #: Stuck producers, kept referenced: destroying one under its blocked thread would crash.
        self.abandoned: list[Any] = []
        self._in_transaction = False
        self._delivery_errors: list[str] = []
        self.transactional_id = str(conf["transactional.id"])

    @property
    def in_transaction(self) -> bool:
        return self._in_transaction

    def _call(self, what: str, fn: Callable[[], T], deadline: float) -> T:
        retry = Retry(what, log=log.warning, initial_s=0.1, max_s=1.0)
        while True:
            timeout_s = max(1.0, deadline - time.monotonic())
            try:
                if self._guard is not None:  # the backstop fires a grace after the replacement
                    self._guard.enter(what, timeout_s + self._grace_s)
                began = time.monotonic()
                try:
                    return self._calls.run(fn, timeout_s + self._grace_s)
                except _Stuck:
                    self._replace(what, time.monotonic() - began)
            except KafkaException as exc:
                error = exc.args[0]
                kind = classify(error)
                if kind != "retry" or time.monotonic() >= deadline:
                    raise self._classified(what, exc) from exc
                retry.wait(retry.failed(f"retriable {error.name()}: {error.str()}"))
            finally:
                if self._guard is not None:
                    self._guard.leave()

    def init(self, timeout_s: float) -> None:
        """``init_transactions``: fences a previous instance with the same ``transactional.id``
        and aborts its open transaction."""
        self._init_timeout_s = timeout_s
        self._call("init_transactions",
                   lambda: self._producer.init_transactions(min(timeout_s, 30.0)),
                   time.monotonic() + timeout_s)

    def _replace(self, what: str, seconds: float) -> None:
        """A call is stuck: a new producer fences the stuck one (module docstring)."""
        now = time.monotonic()
        while self._replaced_at and now - self._replaced_at[0] > self._replacement_window_s:
            self._replaced_at.popleft()
        reason = (f"{what} blocked for {seconds:.0f}s, far past its timeout (librdkafka "
                  "#5456/#5511 after a coordinator outage)")
        if len(self._replaced_at) >= self._max_replacements:
            raise ClientStuckError(
                f"{reason}, after {len(self._replaced_at)} producer replacements within "
                f"{self._replacement_window_s:g}s: a restart fences and aborts the open "
                "transaction")
        self._replaced_at.append(now)
        log.warning("%s: replacing the producer; the new one (transactional.id %s) fences the "
                    "stuck one and aborts its open transaction", reason, self.transactional_id)
        self.abandoned.append(self._producer)
        self._calls = CallThread()  # the old one stays blocked with the old producer
        self._producer = self._factory(self._conf)
        self._in_transaction = False
        self._delivery_errors.clear()
        self.init(self._init_timeout_s)  # may itself be replaced, within the bound above
        raise AbortableTransactionError(f"{reason}: the producer was replaced; the open "
                                        "transaction is aborted")

    def _begin(self) -> None:
        if not self._in_transaction:
            self._call("begin_transaction", self._producer.begin_transaction, time.monotonic())
            self._in_transaction = True
            self._delivery_errors.clear()

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self._delivery_errors.append(f"{msg.topic()}: {err.name()}: {err.str()}")

    def produce(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: Sequence[tuple[str, bytes | None]] | None = None,
        partition: int | None = None,
        timestamp: int = 0,
    ) -> None:
        if not self._in_transaction:
            self._begin()
        kwargs: dict[str, Any] = {}
        if partition is not None:
            kwargs["partition"] = partition
        if headers:
            kwargs["headers"] = list(headers)
        if timestamp:
            kwargs["timestamp"] = timestamp
        produce = self._producer.produce
        while True:
            try:
                produce(topic, value, key, **kwargs)
                return
            except BufferError:
                self._poll("produce", 0.05)
            except KafkaException as exc:
                raise self._classified("produce", exc) from exc

    def poll(self) -> None:
        """Serve delivery callbacks (cheap; call once per batch). A fatal error librdkafka
        raised meanwhile (fenced while adding a partition to the transaction) comes out here as
        :class:`FatalTransactionError`, like from every other call."""
        self._poll("poll", 0)

    def _poll(self, what: str, timeout_s: float) -> None:
        try:
            self._producer.poll(timeout_s)
        except KafkaException as exc:
            raise self._classified(what, exc) from exc

    def _classified(self, what: str, exc: KafkaException) -> TransactionError:
        """``exc`` as :class:`FatalTransactionError` or :class:`AbortableTransactionError`."""
        error = exc.args[0]
        if classify(error) == "fatal":
            return FatalTransactionError(
                f"{what}: {error.name()}: {error.str()} (transactional.id "
                f"{self.transactional_id}; fenced by a newer instance or fatal)")
        return AbortableTransactionError(f"{what}: {error.name()}: {error.str()}")

    def flush(self, deadline: float) -> None:
        try:
            remaining = self._producer.flush(max(0.0, deadline - time.monotonic()))
        except Exception as exc:
            error = _kafka_error(exc)
            if error is not None and classify(error) == "fatal":
                raise FatalTransactionError(
                    f"flush: {error.name()}: {error.str()} (transactional.id "
                    f"{self.transactional_id})") from exc
            raise AbortableTransactionError(f"flush: {exc}") from exc
        if remaining:
            raise AbortableTransactionError(f"flush: {remaining} records undelivered in time")
        if self._delivery_errors:
            raise AbortableTransactionError(
                f"{len(self._delivery_errors)} records failed: {self._delivery_errors[0]}"
            )

    def send_offsets(
        self, offsets: list[TopicPartition], group_metadata: Any, deadline: float
    ) -> None:
        self._begin()
        self._call(
            "send_offsets_to_transaction",
            lambda: self._producer.send_offsets_to_transaction(
                offsets, group_metadata, max(1.0, deadline - time.monotonic())
            ),
            deadline,
        )

    def commit(self, deadline: float) -> None:
        self._call(
            "commit_transaction",
            lambda: self._producer.commit_transaction(max(1.0, deadline - time.monotonic())),
            deadline,
        )
        self._in_transaction = False

    def abort(self, timeout_s: float) -> None:
        if not self._in_transaction:
            return
        try:
            self._call("abort_transaction",
                       lambda: self._producer.abort_transaction(timeout_s),
                       time.monotonic() + timeout_s)
        except AbortableTransactionError as exc:  # an abort that cannot complete is fatal
            raise FatalTransactionError(str(exc)) from exc
        finally:
            self._delivery_errors.clear()
        self._in_transaction = False

    def close(self, timeout_s: float = 5.0) -> None:
        self._producer.flush(timeout_s)


__all__ = ["CallGuard", "Transactor", "classify"]
