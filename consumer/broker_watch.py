"""Is a broker there? Waiting for one at start, noticing it go, and giving up after a bound.

Contract:

* :func:`wait_for_cluster` (start-up of every service and command that talks to Kafka): asks
  for the cluster's metadata until a broker answers, with backoff and one log line per interval
  (:class:`~consumer.retry.Retry`); returns the metadata. A broker that refuses the client (SASL
  or TLS) raises :class:`~consumer.exceptions.KafkaAuthenticationError` (exit 2) at once; no
  answer within the bound: :class:`~consumer.exceptions.BrokerUnavailableError` (exit 3) saying
  where it looked and what librdkafka said last (connection refused, name not resolved, …). A
  configuration librdkafka refuses never gets here: making the client raises
  :class:`~consumer.exceptions.KafkaConfigError` (exit 2, :mod:`consumer.clients`).
* :meth:`BrokerWatch.wait_for_topics` (the consumer's start-up): :func:`wait_for_cluster`, then
  checks that the input and state topics exist and the inputs are co-partitioned, and returns
  the state topic's partition count. Missing topics get a short grace (created a moment ago),
  then :class:`~consumer.exceptions.TopicLayoutError` (exit 2).
* :meth:`BrokerWatch.on_kafka_error` is the clients' ``error_cb``: *all brokers down* marks
  ``/healthz`` unhealthy; a fatal error marks it fatal and is remembered (:attr:`fatal_reason`),
  so the exit line can say why; every error is logged at most once per 30 s per kind.
* :meth:`BrokerWatch.check` (every loop turn): healthy again on a record received, a committed
  transaction or a metadata answer (asked at most every 2 s); unhealthy for longer than
  ``consumer.broker_timeout_s``: :class:`~consumer.exceptions.BrokerUnavailableError` with the
  last reason librdkafka gave.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaError, KafkaException

from consumer.clients import ClientErrors, describe, new_admin
from consumer.config import ConsumerSettings
from consumer.exceptions import BrokerUnavailableError, TopicLayoutError
from consumer.health import HealthState
from consumer.retry import Retry
from consumer.topics import TopicError, counts_in

log = logging.getLogger(__name__)

BROKER_DOWN_CODES = frozenset({KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT,
                               KafkaError._RESOLVE})


def wait_for_cluster(kafka_conf: Mapping[str, Any], timeout_s: float, *,
                     bound: str = "consumer.broker_timeout_s",
                     stop: threading.Event | None = None) -> Any:
    """The cluster's metadata once a broker answers (module docstring); ``bound`` names the
    setting behind ``timeout_s`` in the message. None if ``stop`` was set meanwhile."""
    servers = kafka_conf.get("bootstrap.servers", "(no bootstrap.servers)")
    errors = ClientErrors(log.debug)  # the retry below logs; librdkafka's own lines say more
    admin = new_admin({**kafka_conf, "error_cb": errors})
    retry = Retry(f"waiting for a broker at {servers}", initial_s=0.5, max_s=5.0, stop=stop)
    deadline = time.monotonic() + timeout_s
    while True:
        attempt = min(5.0, max(1.0, deadline - time.monotonic()))
        try:
            metadata = admin.list_topics(timeout=attempt)
        except KafkaException as exc:
            admin.poll(0)  # serve error_cb: librdkafka says why
            errors.raise_if_refused()
            reason = errors.reason() or describe(exc)
            if stop is not None and stop.is_set():
                return None
            if time.monotonic() >= deadline:
                raise BrokerUnavailableError(
                    f"no broker reachable at {servers} for {timeout_s:.0f}s ({bound}): "
                    f"{reason}") from None
            retry.wait(retry.failed(reason))
            continue
        retry.succeeded()
        return metadata


class BrokerWatch:
    """Broker availability for one service process (module docstring)."""

    def __init__(self, kafka_conf: Mapping[str, Any], settings: ConsumerSettings,
                 health: HealthState) -> None:
        self._kafka_conf = dict(kafka_conf)
        self._settings = settings
        self._health = health
        self._last_probe = 0.0
        self._errors = ClientErrors()
        #: librdkafka's own words for a fatal error, once one was reported.
        self.fatal_reason: str | None = None

    def on_kafka_error(self, error: KafkaError) -> None:
        if error.code() == KafkaError._ALL_BROKERS_DOWN:
            self._health.broker_down()
        if error.fatal() or error.code() == KafkaError._FATAL:
            log.error("kafka fatal error: %s", error.str())
            self.fatal_reason = error.str()
            self._health.set_fatal(error.str())
        elif error.code() in BROKER_DOWN_CODES and error.code() != KafkaError._ALL_BROKERS_DOWN:
            self._errors.last = error  # librdkafka's own log line says it already
        else:
            self._errors(error)

    def wait_for_topics(self, inputs: list[str], state_topic: str,
                        stop: threading.Event | None = None) -> int | None:
        """Wait for a broker; check the inputs are co-partitioned; return state partitions
        (None if ``stop`` was set meanwhile)."""
        began = time.monotonic()
        timeout_s = self._settings.broker_timeout_s
        names = [*inputs, state_topic]
        retry = Retry("waiting for the topics", initial_s=1.0, max_s=2.0, stop=stop)
        while True:
            remaining = max(1.0, began + timeout_s - time.monotonic())
            metadata = wait_for_cluster(self._kafka_conf, remaining, stop=stop)
            if metadata is None:
                return None
            self._health.broker_up()
            try:
                counts = counts_in(metadata, names)
            except TopicError as exc:
                # Topics created a moment ago may not be in the metadata yet: a short grace.
                if time.monotonic() - began > min(15.0, timeout_s):
                    raise TopicLayoutError(str(exc)) from exc
                retry.wait(retry.failed(str(exc)))
                if stop is not None and stop.is_set():
                    return None
                continue
            counted = {name: counts[name] for name in inputs}
            if len(set(counted.values())) > 1:
                listing = ", ".join(f"{name}={n}" for name, n in counted.items())
                raise TopicLayoutError(
                    f"input topics are not co-partitioned ({listing}): predictions and labels "
                    "must have the same partition count, keyed by model_id")
            log.info("input topics %s co-partitioned with %d partitions", inputs,
                     next(iter(counted.values())))
            return counts[state_topic]

    def check(self, received: bool, consumer: Any, probe_topic: str) -> None:
        """Healthy again on any sign of a broker; :class:`BrokerUnavailableError` after
        ``broker_timeout_s`` without one."""
        since = self._health.broker_down_since
        if since is None:
            return
        if received:
            self._health.broker_up()
            return
        now = time.monotonic()
        if now - self._last_probe >= 2.0:
            self._last_probe = now
            try:
                consumer.list_topics(probe_topic, timeout=1.0)
                self._health.broker_up()
                log.info("broker reachable again")
                return
            except KafkaException:
                pass
        if now - since > self._settings.broker_timeout_s:
            reason = self._errors.reason()
            raise BrokerUnavailableError(
                f"no broker reachable at {self._kafka_conf.get('bootstrap.servers')} for "
                f"{now - since:.0f}s (consumer.broker_timeout_s="
                f"{self._settings.broker_timeout_s:g})" + (f": {reason}" if reason else ""))


__all__ = ["BROKER_DOWN_CODES", "BrokerWatch", "wait_for_cluster"]
