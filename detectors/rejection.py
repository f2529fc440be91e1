"""Errors as values: an input the pipeline could not use, ready for a dead-letter queue.

A :class:`Rejection` is returned (never raised) by :class:`~detectors.pipeline.Pipeline` for every
input it refuses, at the stage where it refused it, with the *original* record's raw bytes and
source, so the Kafka consumer can dead-letter it and replay can report it by line number.

>>> from detectors.contracts import Source
>>> r = Rejection(stage="join", error_class="DuplicateLabel", message="label for p1 seen before",
...               source=Source(topic="labels", partition=0, offset=9), raw=b"{}", model_id="m")
>>> r.reason
'join:DuplicateLabel'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from detectors.contracts import Source

__all__ = ["Rejection", "Stage"]

Stage = Literal["deserialize", "validate", "join", "process"]


@dataclass(frozen=True, slots=True)
class Rejection:
    """One refused input: where it failed, why, and what it was."""

    stage: Stage
    error_class: str
    message: str
    source: Source
    raw: bytes | None
    model_id: str | None

    @property
    def reason(self) -> str:
        """``stage:error_class``, the key counters and summaries group rejections by."""
        return f"{self.stage}:{self.error_class}"
