"""Dead-letter records: bad input, kept whole, with headers that say what went wrong and where.

A dead-lettered record keeps the original key, value, headers and timestamp, and adds headers in
the Kafka Connect convention with a ``driftline.`` prefix (SPEC §3). A record that would not fit
in one Kafka record with them (over :data:`~consumer.topics.MAX_RECORD_BYTES`) goes without its value, and the
original headers too if need be (:func:`fit_dead_letter`); the original stays in its source topic
at the coordinates the headers give:

=====================================  =====================================================
header                                 value
=====================================  =====================================================
``driftline.errors.stage``             ``deserialize`` | ``validate`` | ``join`` | ``process``
``driftline.errors.class.name``        the error class, e.g. ``ValidationError``
``driftline.errors.exception.message`` what failed and what was expected (at most 4 KiB)
``driftline.errors.topic``             source topic
``driftline.errors.partition``         source partition
``driftline.errors.offset``            source offset
``driftline.errors.value.omitted``     only when the value was left out: its size in bytes
=====================================  =====================================================

>>> context = DeadLetterContext(stage="validate", error_class="ValidationError",
...     message="prediction.score: Input should be a finite number",
...     topic="driftline.predictions", partition=2, offset=41)
>>> context.to_headers()[0]
('driftline.errors.stage', b'validate')
>>> DeadLetterContext.from_headers(context.to_headers()) == context
True
>>> value, headers = fit_dead_letter(b"m", b"x" * 2_000_000, [], context.to_headers())
>>> value, headers[-1]
(None, ('driftline.errors.value.omitted', b'2000000'))
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from consumer.topics import MAX_RECORD_BYTES
from detectors.rejection import Stage

HEADER_PREFIX = "driftline.errors."
MAX_MESSAGE_BYTES = 4096
VALUE_OMITTED_HEADER = "driftline.errors.value.omitted"

Headers = list[tuple[str, bytes | None]]

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


def fit_dead_letter(
    key: bytes | None, value: bytes | None, original_headers: Headers, context_headers: Headers,
) -> tuple[bytes | None, Headers]:
    """Value and headers of a dead-letter record that fits in :data:`~consumer.topics.MAX_RECORD_BYTES`: the
    original value and headers plus the context when they fit; else without the value (marked
    by :data:`VALUE_OMITTED_HEADER`); else without the original headers too."""

    def size(v: bytes | None, headers: Headers) -> int:
        return len(key or b"") + len(v or b"") + sum(len(k) + len(h or b"") for k, h in headers)

    headers = [*original_headers, *context_headers]
    if size(value, headers) <= MAX_RECORD_BYTES:
        return value, headers
    omitted: Headers = [(VALUE_OMITTED_HEADER, str(len(value or b"")).encode())]
    if size(None, headers + omitted) <= MAX_RECORD_BYTES:
        return None, headers + omitted
    return None, [*context_headers, *omitted]


__all__ = [
    "HEADER_PREFIX",
    "MAX_MESSAGE_BYTES",
    "VALUE_OMITTED_HEADER",
    "DeadLetterContext",
    "fit_dead_letter",
]
