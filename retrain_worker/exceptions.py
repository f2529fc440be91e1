"""Errors of the retrain worker, and the exit code each one ends the process with.

A failed *training* is not an exception of the worker: it is a value (a ``failed`` retrain event),
and the worker carries on. Data that fails a check is a ``skipped`` event. What is left::

    RetrainWorkerError                 base of everything raised by retrain_worker/
    ├── TrainerError                   one training went wrong; becomes a ``failed`` event
    │   ├── TrainerLoadError           the entry point ``module:function`` cannot be imported
    │   ├── TrainerCrashError          the trainer raised, or its process died
    │   ├── TrainerTimeoutError        the trainer ran past its timeout and was killed
    │   ├── TrainerOutputError         the trainer returned something that is not a model
    │   └── TrainerCancelledError      the worker stopped the training (shutdown, revoke): no event
    ├── RegistryError                  the model registry cannot store or load an artifact
    ├── DecisionLogError               the retrain topic (decision log) cannot be read  (exit 4)
    └── FatalTransactionError          fenced or fatal producer: exit non-zero          (exit 6)

:class:`consumer.config.ConfigError` (exit 2) lives with the configuration.

>>> issubclass(TrainerTimeoutError, TrainerError), FatalTransactionError.exit_code
(True, 6)
>>> TrainerTimeoutError("ran 3.0 s").reason
'timeout'
"""

from __future__ import annotations


class RetrainWorkerError(Exception):
    """Base class of the retrain worker's errors."""

    exit_code = 1


class TrainerError(RetrainWorkerError):
    """One training failed; the message goes into the ``failed`` event's reason."""

    reason = "trainer_error"


class TrainerLoadError(TrainerError):
    """The trainer entry point could not be imported or is not callable."""

    reason = "trainer_load"


class TrainerCrashError(TrainerError):
    """The trainer raised an exception, or its process exited without an answer."""

    reason = "trainer_crash"


class TrainerTimeoutError(TrainerError):
    """The trainer did not answer within its timeout; its process was killed."""

    reason = "timeout"


class TrainerOutputError(TrainerError):
    """The trainer's return value is not a usable model (no ``predict``, wrong shape, …)."""

    reason = "bad_output"


class TrainerCancelledError(TrainerError):
    """The worker killed the training itself (shutdown or revoked partition); nothing is published,
    the triggers stay unanswered and are retrained by whoever owns them next."""

    reason = "cancelled"


class RegistryError(RetrainWorkerError):
    """The model registry could not store, promote or load a model."""


class DecisionLogError(RetrainWorkerError):
    """The decision log (the retrain topic) could not be read at start-up or on assignment."""

    exit_code = 4


class FatalTransactionError(RetrainWorkerError):
    """The transactional producer was fenced or failed fatally; the process must exit."""

    exit_code = 6


__all__ = [
    "DecisionLogError",
    "FatalTransactionError",
    "RegistryError",
    "RetrainWorkerError",
    "TrainerCancelledError",
    "TrainerCrashError",
    "TrainerError",
    "TrainerLoadError",
    "TrainerOutputError",
    "TrainerTimeoutError",
]
