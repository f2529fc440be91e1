"""Exceptions raised by the detection core.

Errors *about data* are never raised: they come out of :class:`~detectors.pipeline.Pipeline` as
:class:`~detectors.rejection.Rejection` values. The exceptions below are for the operator's
mistakes (a bad configuration) and for state that cannot be trusted (a snapshot from another
build), where carrying on would be wrong.

Hierarchy::

    DriftlineError
    ├── ConfigError          invalid detection configuration (names the field)
    └── SnapshotError        snapshot bytes refused: corrupt, foreign format or River version,
                             or for another model; the pipeline's state is left unchanged
"""

from __future__ import annotations

__all__ = ["ConfigError", "DriftlineError", "SnapshotError"]


class DriftlineError(Exception):
    """Base class of every exception Driftline raises on purpose."""


class ConfigError(DriftlineError, ValueError):
    """The detection configuration is invalid; the message names the offending field."""


class SnapshotError(DriftlineError):
    """A snapshot was refused; nothing of it was loaded."""
