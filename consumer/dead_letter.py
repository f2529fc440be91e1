"""Dead-letter records: bad input, kept whole, with headers that say what went wrong and where.

A dead-lettered record keeps the original key, value, headers and timestamp, and adds headers in
the Kafka Connect convention with a ``driftline.`` prefix (SPEC §3):

=====================================  =====================================================
header                                 value
=====================================  =====================================================
``driftline.errors.stage``             ``deserialize`` | ``validate`` | ``join`` | ``process``
``driftline.errors.class.name``        the error class, e.g. ``ValidationError``
``driftline.errors.exception.message`` what failed and what was expected (at most 4 KiB)
``driftline.errors.topic``             source topic
``driftline.errors.partition``         source partition
``driftline.errors.offset``            source offset
=====================================  =====================================================

>>> context = DeadLetterContext(stage="validate", error_class="ValidationError",
...     message="prediction.score: Input should be a finite number",
...     topic="driftline.predictions", partition=2, offset=41)
>>> context.to_headers()[0]
('driftline.errors.stage', b'validate')
>>> DeadLetterContext.from_headers(context.to_headers()) == context
True
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Stage = Literal["deserialize", "validate", "join", "process"]
HEADER_PREFIX = "driftline.errors."
MAX_MESSAGE_BYTES = 4096

_FIELDS_TO_HEADERS = {
    "stage": "driftline.errors.stage",
    "error_class": "driftline.errors.class.name",
    "message": "driftline.errors.exception.message",
    "topic": "driftline.errors.topic",
    "partition": "driftline.errors.partition",
    "offset": "driftline.errors.offset",
}


class DeadLetterContext(BaseModel):
    """Why and where a record was dead-lettered; travels as Kafka headers on the DLQ record."""

    model_config = ConfigDict(frozen=True)

    stage: Stage
    error_class: str = Field(min_length=1)
    message: str
    topic: str
    partition: int = Field(ge=0)
    offset: int = Field(ge=0)

    def to_headers(self) -> list[tuple[str, bytes]]:
        """The context as Kafka headers, message truncated to :data:`MAX_MESSAGE_BYTES`."""
        values = self.model_dump()
        values["message"] = values["message"].encode()[:MAX_MESSAGE_BYTES].decode(errors="ignore")
        return [(header, str(values[name]).encode()) for name, header in _FIELDS_TO_HEADERS.items()]

    @classmethod
    def from_headers(cls, headers: list[tuple[str, bytes | None]] | None) -> DeadLetterContext:
        """Read the context back from a DLQ record's headers (other headers are ignored)."""
        by_name = {key: (value or b"").decode() for key, value in headers or []}
        return cls.model_validate(
            {name: by_name.get(header) for name, header in _FIELDS_TO_HEADERS.items()}
        )


__all__ = ["HEADER_PREFIX", "MAX_MESSAGE_BYTES", "DeadLetterContext", "Stage"]
