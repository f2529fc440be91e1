"""Outputs as JSON bytes, identical to the contract models' ``model_dump_json``, without a model.

The detection core's outputs go to Kafka (and to replay's files) as the JSON the pydantic
contracts define. Writing them through ``model_dump_json`` costs a model serializer per record;
here the output is laid out as a msgspec struct (the model's field order, timestamps already
formatted by :func:`~detectors.contracts.format_timestamp`) and encoded by msgspec.

msgspec and pydantic-core write strings, integers, booleans, null and floats alike, except a
float with a positive exponent (msgspec ``1e16``, pydantic-core ``1e+16``). :func:`encode_output`
looks for one (a digit, ``e``, a digit; a string such as ``"3e5"`` matches too) and then writes
the same values with pydantic-core, so the bytes are always the model's. Hypothesis checks it
(``tests/detectors/test_labelled_fast_path.py``, ``tests/detectors/test_output_encoding.py``).

>>> from detectors.contracts import DriftEvent
>>> event = DriftEvent(event_id="de-1", kind="data", severity="drift", model_id="m",
...     model_version="v1", signal="feature:x", detector="adwin", detected_at=0,
...     published_at=1, samples_seen=3, stats={"width": 2, "mean": 1e16},
...     source={"topic": "t", "partition": 0, "offset": 5})
>>> drift_event_json(event) == event.model_dump_json().encode()
True
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from pydantic_core import to_json

from detectors.contracts import DriftEvent, format_timestamp

__all__ = ["drift_event_json", "encode_output"]

_encode = msgspec.json.Encoder().encode
_POSITIVE_EXPONENT = re.compile(rb"[0-9]e[0-9]").search
_E_DIGIT = re.compile(rb"e[0-9]").search


def encode_output(layout: msgspec.Struct) -> bytes:
    """``layout`` as JSON, numbers written as pydantic-core writes them."""
    data = _encode(layout)
    # "e" then a digit (a search that starts on a literal, fast), and only then the exact pattern
    if _E_DIGIT(data) is None or _POSITIVE_EXPONENT(data) is None:
        return data
    return to_json(msgspec.to_builtins(layout))


class _Source(msgspec.Struct):
    topic: str
    partition: int
    offset: int


class _ChangePoint(msgspec.Struct):
    at: str
    source: _Source | None
    samples: int
    estimator: str


class _DriftEventJSON(msgspec.Struct):
    """:class:`~detectors.contracts.DriftEvent`'s JSON layout."""

    schema_version: int
    event_id: str
    kind: str
    severity: str
    model_id: str
    model_version: str
    segment: str | None
    signal: str
    detector: str
    detected_at: str
    published_at: str
    samples_seen: int
    stats: dict[str, Any]
    source: _Source
    change_point: _ChangePoint | None


def drift_event_json(event: DriftEvent) -> bytes:
    """``event.model_dump_json().encode()``, byte for byte."""
    f = event.__dict__
    source = f["source"].__dict__
    return encode_output(_DriftEventJSON(
        f["schema_version"], f["event_id"], f["kind"], f["severity"], f["model_id"],
        f["model_version"], f["segment"], f["signal"], f["detector"],
        format_timestamp(f["detected_at"]), format_timestamp(f["published_at"]),
        f["samples_seen"], f["stats"],
        _Source(source["topic"], source["partition"], source["offset"]),
        _change_point(f["change_point"]),
    ))


def _change_point(point: Any) -> _ChangePoint | None:
    if point is None:
        return None
    where = point.source
    return _ChangePoint(
        format_timestamp(point.at),
        None if where is None else _Source(where.topic, where.partition, where.offset),
        point.samples, point.estimator)
