"""Errors of the consumer service, and the exit code each one ends the process with.

Data never raises: bad input becomes a dead-letter record (a value, not an exception). What is
left are errors of the runtime itself::

    ConsumerError                      base of everything raised by consumer/
    ├── TopicLayoutError               input topics missing or not co-partitioned   (exit 2)
    ├── StateRestoreError              the state topic cannot be read back          (exit 4)
    ├── BrokerUnavailableError         no broker reachable for consumer.broker_timeout_s (exit 3)
    ├── ShutdownTimeoutError           SIGTERM/SIGINT not completed within the bound  (exit 5)
    ├── ClientStuckError               a Kafka client call blocked far past its timeout (exit 7)
    └── TransactionError               a Kafka transaction failed
        ├── AbortableTransactionError  abort, rewind to the committed offsets, reload state; go on
        └── FatalTransactionError      fenced or fatal producer: exit non-zero          (exit 6)

:class:`consumer.config.ConfigError` (exit 2) lives with the configuration.

>>> issubclass(AbortableTransactionError, TransactionError), FatalTransactionError.exit_code
(True, 6)
"""

from __future__ import annotations


class ConsumerError(Exception):
    """Base class of the consumer service's runtime errors."""

    exit_code = 1


class TopicLayoutError(ConsumerError):
    """The input topics are missing or not co-partitioned (same partition count)."""

    exit_code = 2


class BrokerUnavailableError(ConsumerError):
    """No broker answered for longer than ``consumer.broker_timeout_s``."""

    exit_code = 3


class StateRestoreError(ConsumerError):
    """A partition's state could not be read back from the state topic."""

    exit_code = 4


class ShutdownTimeoutError(ConsumerError):
    """The final commit after SIGTERM/SIGINT did not finish within ``consumer.shutdown_timeout_s``."""

    exit_code = 5


class ClientStuckError(ConsumerError):
    """A librdkafka call blocked far past its own timeout (``send_offsets_to_transaction`` can,
    after a coordinator outage: librdkafka issues #5456, #5511). The guard thread exits the
    process; a restart with the same ``transactional.id`` fences and aborts what was open."""

    exit_code = 7


class TransactionError(ConsumerError):
    """A Kafka transaction could not be committed."""


class AbortableTransactionError(TransactionError):
    """The transaction must be aborted; the service rewinds to the committed offsets and goes on."""


class FatalTransactionError(TransactionError):
    """The producer is fenced (another instance took over) or hit a fatal error: exit."""

    exit_code = 6


__all__ = [
    "AbortableTransactionError",
    "BrokerUnavailableError",
    "ClientStuckError",
    "ConsumerError",
    "FatalTransactionError",
    "ShutdownTimeoutError",
    "StateRestoreError",
    "TopicLayoutError",
    "TransactionError",
]
