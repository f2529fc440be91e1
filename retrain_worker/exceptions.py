"""Errors of the retrain worker (its branch of the tree drawn in :mod:`consumer.exceptions`).

A failed *training* is not an exception of the worker: it is a value (a ``failed`` retrain event),
and the worker carries on. Data that fails a check is a ``skipped`` event. The transaction errors
(fenced: exit 6) are the runtime's own, shared with the consumer
(:class:`consumer.exceptions.FatalTransactionError`).

>>> issubclass(TrainerTimeoutError, TrainerError), DecisionLogError.exit_code
(True, 4)
>>> TrainerTimeoutError("ran 3.0 s").reason
'timeout'
"""

from __future__ import annotations

from detectors.exceptions import DriftlineError


class RetrainWorkerError(DriftlineError):
    """Base class of the retrain worker's errors."""


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


__all__ = [
    "DecisionLogError",
    "RegistryError",
    "RetrainWorkerError",
    "TrainerCancelledError",
    "TrainerCrashError",
    "TrainerError",
    "TrainerLoadError",
    "TrainerOutputError",
    "TrainerTimeoutError",
]
