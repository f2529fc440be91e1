"""Making Kafka clients, and saying in one line what went wrong with one.

Every Kafka client of the consumer, the retrain worker and the ``driftline`` commands is made
here (``tests/consumer/test_clients.py`` checks that no other module calls the constructors).
Contract:

* :func:`new_consumer`, :func:`new_producer`, :func:`new_admin`: a configuration librdkafka
  refuses when the client is made (``_INVALID_ARG``: a misspelt property, a bad value, a SASL
  mechanism this build lacks, an unreadable SSL file) raises
  :class:`~consumer.exceptions.KafkaConfigError` (exit 2) naming the property, so no retry loop
  ever mistakes it for a missing broker. File-valued properties (``ssl.ca.location``, …) are
  checked first: librdkafka's own words for a missing file are ``BIO lib``.
* :class:`ClientErrors` is an ``error_cb``: it logs what librdkafka reports (each kind at most
  once per 30 s, with a count) and keeps the latest reason, so a wait that gives up can say
  *why* (connection refused at X, a name that does not resolve, authentication).
  :meth:`ClientErrors.raise_if_refused` turns a refused SASL or TLS handshake into
  :class:`~consumer.exceptions.KafkaAuthenticationError` (exit 2).
* :func:`describe` is one readable line for a ``KafkaException`` or ``KafkaError``.
* :class:`QuietLibrdkafka` is a logging filter for librdkafka's own log lines (the ``logger``
  client property): a line that repeats (a reconnect every second) is logged once per 30 s.

>>> describe(KafkaError(KafkaError._TRANSPORT, "Connection refused"))
'_TRANSPORT: Connection refused'
>>> config_problem(KafkaError(KafkaError._INVALID_ARG,
...                'No such configuration property: "bootstrap.servrs"'), "kafka")
'kafka property "bootstrap.servrs": No such configuration property'
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient

from consumer.exceptions import KafkaAuthenticationError, KafkaConfigError
from consumer.retry import Throttled

log = logging.getLogger(__name__)

#: Properties that name a file librdkafka opens when the client is made.
FILE_PROPERTIES = ("ssl.ca.location", "ssl.certificate.location", "ssl.key.location",
                   "ssl.keystore.location", "ssl.crl.location", "sasl.kerberos.keytab")

#: Errors by which a broker refuses the client itself: retrying cannot help.
REFUSED_CODES = frozenset({KafkaError._AUTHENTICATION, KafkaError._SSL,
                           KafkaError.SASL_AUTHENTICATION_FAILED,
                           KafkaError.UNSUPPORTED_SASL_MECHANISM,
                           KafkaError.ILLEGAL_SASL_STATE})

#: Where the properties of every client come from, for messages.
DEFAULT_SOURCE = "kafka"

_QUOTED = re.compile(r'^(?P<what>[^"]*?):? *"(?P<name>[^"]+)"(?P<rest>.*)$')
_CREATE_PREFIX = re.compile(r"^Failed to create [a-z ]+: ")


def describe(error: KafkaException | KafkaError | BaseException) -> str:
    """``NAME: what librdkafka says`` for a Kafka error; ``str(exc)`` for anything else."""
    if isinstance(error, KafkaException) and error.args and isinstance(error.args[0],
                                                                       KafkaError):
        error = error.args[0]
    if isinstance(error, KafkaError):
        return f"{error.name()}: {error.str()}"
    return str(error)


def config_problem(error: KafkaError, source: str, conf: Mapping[str, Any] | None = None) -> str:
    """librdkafka's refusal of a configuration, naming the property: the one it quotes, else
    the one of ``conf`` whose name or value its message mentions.

    >>> config_problem(KafkaError(KafkaError._INVALID_ARG, "Failed to create consumer: No "
    ...     "provider for SASL mechanism GSSAPI: recompile librdkafka"), "kafka",
    ...     {"sasl.mechanism": "GSSAPI", "bootstrap.servers": "b:9092"})
    'kafka property "sasl.mechanism": No provider for SASL mechanism GSSAPI: recompile librdkafka'
    """
    text = _CREATE_PREFIX.sub("", error.str())
    match = _QUOTED.match(text)
    if match:
        rest = match["rest"].strip()
        return f'{source} property "{match["name"]}": {match["what"].strip()}' + (
            f" {rest}" if rest else "")
    for name, value in (conf or {}).items():
        if name in text or (isinstance(value, str) and len(value) >= 3 and value in text):
            return f'{source} property "{name}": {text}'
    return f"{source}: {text}"


def check_files(conf: Mapping[str, Any], source: str = DEFAULT_SOURCE) -> None:
    """:class:`KafkaConfigError` for a file-valued property naming a file that is not there."""
    for name in FILE_PROPERTIES:
        value = conf.get(name)
        if not isinstance(value, str) or not value or value == "probe":
            continue
        if not Path(value).exists():
            raise KafkaConfigError(f'{source} property "{name}": {value} does not exist')


def _make(factory: Callable[[dict[str, Any]], Any], conf: Mapping[str, Any],
          source: str) -> Any:
    check_files(conf, source)
    try:
        return factory(dict(conf))
    except KafkaException as exc:
        error = exc.args[0] if exc.args else None
        if isinstance(error, KafkaError) and error.code() in (KafkaError._INVALID_ARG,
                                                              KafkaError._NOT_IMPLEMENTED):
            raise KafkaConfigError(config_problem(error, source, conf)) from None
        raise


def new_consumer(conf: Mapping[str, Any], source: str = DEFAULT_SOURCE) -> Consumer:
    """A :class:`confluent_kafka.Consumer`; :class:`KafkaConfigError` if librdkafka refuses
    ``conf`` (``source`` names where the properties were set, for the message)."""
    return _make(Consumer, conf, source)


def new_producer(conf: Mapping[str, Any], source: str = DEFAULT_SOURCE) -> Producer:
    """A :class:`confluent_kafka.Producer` (see :func:`new_consumer`)."""
    return _make(Producer, conf, source)


def new_admin(conf: Mapping[str, Any], source: str = DEFAULT_SOURCE) -> AdminClient:
    """A :class:`confluent_kafka.admin.AdminClient` (see :func:`new_consumer`)."""
    return _make(AdminClient, conf, source)


class ClientErrors:
    """An ``error_cb`` that logs quietly and remembers why (module docstring)."""

    def __init__(self, log_fn: Callable[[str], object] = log.warning,
                 every_s: float = 30.0) -> None:
        self._quiet = Throttled(log_fn, every_s)
        #: The latest error other than "all brokers are down" (which says nothing new).
        self.last: KafkaError | None = None
        #: The latest error by which a broker refused the client (:data:`REFUSED_CODES`).
        self.refused: KafkaError | None = None

    def __call__(self, error: KafkaError) -> None:
        if error.code() in REFUSED_CODES:
            self.refused = error
        if error.code() != KafkaError._ALL_BROKERS_DOWN or self.last is None:
            self.last = error
        self._quiet.emit(error.name(), f"kafka: {error.str()}")

    def reason(self) -> str | None:
        """What librdkafka said last, for a message."""
        return self.last.str() if self.last is not None else None

    def raise_if_refused(self) -> None:
        """:class:`KafkaAuthenticationError` if a broker refused the client."""
        if self.refused is not None:
            raise KafkaAuthenticationError(
                f"the broker refused the connection: {self.refused.str()}; check "
                "security.protocol, sasl.mechanism, sasl.username/sasl.password and the ssl.* "
                "properties in the kafka section")


class QuietLibrdkafka(logging.Filter):
    """Pass each distinct librdkafka log line at most once per ``every_s`` (digits ignored
    when comparing), adding how often it repeated."""

    _DIGITS = re.compile(r"\d+")

    def __init__(self, every_s: float = 30.0) -> None:
        super().__init__()
        self._quiet = Throttled(lambda _message: None, every_s)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        suffix = self._quiet.note(self._DIGITS.sub("#", message))
        if suffix is None:
            return False
        if suffix:
            record.msg, record.args = message + suffix, None
        return True


def librdkafka_logger() -> logging.Logger:
    """The Python logger librdkafka's own lines go to (the ``logger`` client property), quiet."""
    logger = logging.getLogger("librdkafka")
    if not any(isinstance(f, QuietLibrdkafka) for f in logger.filters):
        logger.addFilter(QuietLibrdkafka())
    return logger


__all__ = [
    "FILE_PROPERTIES",
    "REFUSED_CODES",
    "ClientErrors",
    "QuietLibrdkafka",
    "check_files",
    "config_problem",
    "describe",
    "librdkafka_logger",
    "new_admin",
    "new_consumer",
    "new_producer",
]
