"""Driftline's error tree, and the exit code each error ends a ``driftline`` process with.

Data never raises: bad input becomes a dead-letter record (a value, not an exception), and a
failed *training* becomes a ``failed`` retrain event. What is left are errors of the runtime and
of the operator's configuration. The one tree, across the three packages (each class lives with
the package that raises it; imports flow retrain_worker → consumer → detectors)::

    DriftlineError                         (detectors.exceptions) base              exit 1
    ├── ConfigError                        bad configuration: names the field or
    │   │                                  the DRIFTLINE_… variable                 exit 2
    │   ├── KafkaConfigError               (consumer.exceptions) librdkafka refused
    │   │                                  a client property                        exit 2
    │   └── KafkaAuthenticationError       the broker refused the credentials or
    │                                      the TLS handshake (SASL, SSL)            exit 2
    ├── SnapshotError                      a state snapshot refused (that model starts fresh)
    ├── ServiceError                       (consumer.exceptions) the Kafka runtime both
    │   │                                  services share                           exit 1
    │   ├── TopicLayoutError               topics missing or not co-partitioned     exit 2
    │   ├── BrokerUnavailableError         no broker answered for broker_timeout_s  exit 3
    │   ├── StateRestoreError              the state topic cannot be read back      exit 4
    │   ├── TopicReadError                 a topic cannot be read to its end (the
    │   │                                  caller turns it into its own error)
    │   ├── ShutdownTimeoutError           SIGTERM/SIGINT not done within its bound exit 5
    │   ├── ClientStuckError               a Kafka client call blocked far past
    │   │                                  its timeout                              exit 7
    │   ├── InputTruncatedError            an input partition ends before the
    │   │                                  consumer's position (log truncated)      exit 8
    │   └── TransactionError               a Kafka transaction failed
    │       ├── AbortableTransactionError  abort, rewind to the committed offsets, reload
    │       │                              state; go on (never ends the process)
    │       └── FatalTransactionError      fenced or fatal producer                 exit 6
    └── RetrainWorkerError                 (retrain_worker.exceptions)              exit 1
        ├── TrainerError                   one training failed: a ``failed`` event, the
        │   │                              worker goes on
        │   ├── TrainerLoadError           the entry point cannot be imported
        │   ├── TrainerCrashError          the trainer raised, or its process died
        │   ├── TrainerTimeoutError        ran past its timeout and was killed
        │   ├── TrainerOutputError         returned something that is not a model
        │   └── TrainerCancelledError      stopped by the worker (shutdown, revoke)
        ├── RegistryError                  the model registry cannot store or load
        └── DecisionLogError               the retrain topic cannot be read         exit 4

``tests/consumer/test_exceptions.py`` checks this drawing against the classes.

>>> issubclass(AbortableTransactionError, TransactionError), FatalTransactionError.exit_code
(True, 6)
>>> issubclass(ServiceError, DriftlineError)
True
"""

from __future__ import annotations

from detectors.exceptions import ConfigError, DriftlineError, SnapshotError


class KafkaConfigError(ConfigError):
    """librdkafka refused a client property when the client was made (a misspelt property, a
    bad value, a SASL mechanism this build lacks, an unreadable SSL file)."""


class KafkaAuthenticationError(ConfigError):
    """The broker answered but refused the client: SASL authentication or the TLS handshake
    failed. Retrying cannot help; the credentials or security settings must change."""


class ServiceError(DriftlineError):
    """Base class of the Kafka runtime's errors (consumer and retrain worker)."""


class TopicLayoutError(ServiceError):
    """The input topics are missing or not co-partitioned (same partition count)."""

    exit_code = 2


class BrokerUnavailableError(ServiceError):
    """No broker answered for longer than ``consumer.broker_timeout_s``."""

    exit_code = 3


class StateRestoreError(ServiceError):
    """A partition's state could not be read back from the state topic."""

    exit_code = 4


class TopicReadError(ServiceError):
    """A topic could not be read to its end (:mod:`consumer.topic_reader`: client error or
    deadline); callers raise their own error from it."""


class ShutdownTimeoutError(ServiceError):
    """The final commit after SIGTERM/SIGINT did not finish within its bound."""

    exit_code = 5


class ClientStuckError(ServiceError):
    """A librdkafka call blocked far past its own timeout (``send_offsets_to_transaction`` can,
    after a coordinator outage: librdkafka issues #5456, #5511) again after repeated in-process
    recoveries (:mod:`consumer.transactions`), or the guard's backstop fired. The process exits;
    a restart with the same ``transactional.id`` fences and aborts what was open."""

    exit_code = 7


class InputTruncatedError(ServiceError):
    """An input partition's log now ends before the consumer's position: records it processed
    are gone (:mod:`consumer.offset_reset`); the operator resets the group's offsets."""

    exit_code = 8


class TransactionError(ServiceError):
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
    "ConfigError",
    "DriftlineError",
    "FatalTransactionError",
    "InputTruncatedError",
    "KafkaAuthenticationError",
    "KafkaConfigError",
    "ServiceError",
    "ShutdownTimeoutError",
    "SnapshotError",
    "StateRestoreError",
    "TopicLayoutError",
    "TopicReadError",
    "TransactionError",
]
