"""The root of Driftline's exceptions, and the detection core's own.

Errors *about data* are never raised: they come out of :class:`~detectors.pipeline.Pipeline` as
:class:`~detectors.rejection.Rejection` values. Exceptions are for the operator's mistakes (a bad
configuration) and for state that cannot be trusted (a snapshot from another build), where
carrying on would be wrong.

The whole tree, with the exit code each error ends a ``driftline`` process with, is drawn once,
in :mod:`consumer.exceptions`. The part defined here::

    DriftlineError           base of every exception Driftline raises on purpose  (exit 1)
    ├── ConfigError          invalid configuration; the message names the field
    │                        or environment variable                             (exit 2)
    └── SnapshotError        snapshot bytes refused: corrupt, foreign format or River version,
                             or for another model; the pipeline's state is left unchanged

>>> ConfigError("consumer.commit_interval_ms: ...").exit_code
2
"""

from __future__ import annotations

__all__ = ["ConfigError", "DriftlineError", "SnapshotError"]


class DriftlineError(Exception):
    """Base class of every exception Driftline raises on purpose."""

    #: The exit code of a ``driftline`` process that ends with this error.
    exit_code = 1


class ConfigError(DriftlineError, ValueError):
    """The configuration is invalid; the message names the field (or the environment variable)
    and what to fix."""

    exit_code = 2


class SnapshotError(DriftlineError):
    """A snapshot was refused; nothing of it was loaded."""
