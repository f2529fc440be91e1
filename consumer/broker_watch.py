"""Is a broker there? Waiting for one at start, noticing it go, and giving up after a bound.

Contract:

* :meth:`BrokerWatch.wait_for_topics` (start-up): retries until a broker answers a metadata
  request for the input and state topics, then checks that the inputs are co-partitioned and
  returns the state topic's partition count. Missing topics get a short grace (created a moment
  ago), then :class:`~consumer.exceptions.TopicLayoutError` (exit 2); no broker for
  ``consumer.broker_timeout_s``: :class:`~consumer.exceptions.BrokerUnavailableError` (exit 3).
* :meth:`BrokerWatch.on_kafka_error` is the clients' ``error_cb``: *all brokers down* marks
  ``/healthz`` unhealthy; a fatal error marks it fatal and is remembered (:attr:`fatal_reason`),
  so the exit line can say why.
* :meth:`BrokerWatch.check` (every loop turn): healthy again on a record received, a committed
  transaction or a metadata answer (asked at most every 2 s); unhealthy for longer than
  ``consumer.broker_timeout_s``: :class:`~consumer.exceptions.BrokerUnavailableError`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaError, KafkaException

from consumer.config import ConsumerSettings
from consumer.exceptions import BrokerUnavailableError, TopicLayoutError
from consumer.health import HealthState
from consumer.topics import TopicError, partition_counts

log = logging.getLogger(__name__)

BROKER_DOWN_CODES = frozenset({KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT,
                               KafkaError._RESOLVE})


class BrokerWatch:
    """Broker availability for one service process (module docstring)."""

    def __init__(self, kafka_conf: Mapping[str, Any], settings: ConsumerSettings,
                 health: HealthState) -> None:
        self._kafka_conf = dict(kafka_conf)
        self._settings = settings
        self._health = health
        self._last_probe = 0.0
        #: librdkafka's own words for a fatal error, once one was reported.
        self.fatal_reason: str | None = None

    def on_kafka_error(self, error: KafkaError) -> None:
        if error.code() == KafkaError._ALL_BROKERS_DOWN:
            self._health.broker_down()
            log.warning("kafka: %s", error.str())
        elif error.code() in BROKER_DOWN_CODES:
            log.debug("kafka: %s", error.str())  # librdkafka's own log line says it already
        elif error.fatal() or error.code() == KafkaError._FATAL:
            log.error("kafka fatal error: %s", error.str())
            self.fatal_reason = error.str()
            self._health.set_fatal(error.str())
        else:
            log.warning("kafka: %s", error.str())

    def wait_for_topics(self, inputs: list[str], state_topic: str) -> int:
        """Wait for a broker; check the inputs are co-partitioned; return state partitions."""
        began = time.monotonic()
        timeout_s = self._settings.broker_timeout_s
        deadline = began + timeout_s
        names = [*inputs, state_topic]
        while True:
            attempt = min(5.0, max(1.0, deadline - time.monotonic()))
            try:
                counts = partition_counts(self._kafka_conf, names, timeout_s=attempt)
            except TopicError as exc:
                # Topics created a moment ago may not be in the metadata yet: a short grace.
                if time.monotonic() - began > min(15.0, timeout_s):
                    raise TopicLayoutError(str(exc)) from exc
                log.warning("%s; retrying", exc)
                time.sleep(1.0)
                continue
            except KafkaException as exc:
                self._health.broker_down()
                reason = exc.args[0].str() if exc.args else str(exc)
                if time.monotonic() >= deadline:
                    raise BrokerUnavailableError(
                        f"no broker reachable at {self._kafka_conf.get('bootstrap.servers')} "
                        f"for {timeout_s}s (consumer.broker_timeout_s): {reason}") from exc
                log.warning("waiting for a broker: %s", reason)
                continue
            self._health.broker_up()
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
            raise BrokerUnavailableError(
                f"no broker reachable for {now - since:.0f}s "
                f"(consumer.broker_timeout_s={self._settings.broker_timeout_s})")


__all__ = ["BROKER_DOWN_CODES", "BrokerWatch"]
