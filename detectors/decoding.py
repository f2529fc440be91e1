"""The one decoder of input events: JSON bytes → :mod:`detectors.events`, or a refusal.

Every entry point decodes through :class:`EventDecoder`: the Kafka consumer (via
:class:`consumer.batch.Decoder`, which adds the record-level checks), ``driftline replay``,
``driftline calibrate``, catch-up after a restore and the benchmarks. Contract:

* **The pydantic contract decides.** An event is accepted, with these values and types, exactly
  when :class:`~detectors.contracts.Prediction` / :class:`~detectors.contracts.Label` accept it,
  and a refused one carries exactly the contract's reason and message. The fast path (a strict
  msgspec decode straight into :class:`~detectors.events.InputPrediction` /
  :class:`~detectors.events.InputLabel`, timestamps converted by the contract's own function)
  accepts a subset of what the contract accepts, with the same values; whatever it refuses
  (invalid JSON, invalid events, and the contract's lax coercions such as ``"score": "0.5"``)
  goes through the contract, which accepts it (the result converted to the struct) or explains
  why not. ``tests/detectors/test_decoding_equivalence.py`` checks this with hypothesis.
* **Refusals are values**: :class:`Refusal` ``(stage, error_class, message)``; bytes that are not
  JSON are ``deserialize:JSONDecodeError`` with the JSON parser's message, an invalid event is
  ``validate:ValidationError`` with one ``path: message`` per failed field
  (:func:`~detectors.contracts.describe_validation_error`). Never raises on data.
* **Field mapping** (:mod:`detectors.field_mapping`), when given, applies to every event: the
  bytes are parsed as JSON, mapped to the contract's shape, then decoded by the same two paths,
  so a mapped event is refused with the same reason and message as the same event unmapped.

>>> decoder = EventDecoder()
>>> decoder.decode(b'{"type":"label","prediction_id":"p","model_id":"m","timestamp":0,'
...                b'"label":1}', "labels")
InputLabel(schema_version=1, prediction_id='p', model_id='m', timestamp=datetime.datetime(1970, 1, 1, 0, 0, tzinfo=datetime.timezone.utc), label=1)
>>> decoder.decode(b'{"type":"label","prediction_id":"p","model_id":"m","timestamp":0,'
...                b'"label":"1", "schema_version": 1.0}', "labels").schema_version
1
>>> decoder.decode(b'{not json', "labels")
Refusal(stage='deserialize', error_class='JSONDecodeError', message='Invalid JSON: key must be a string at line 1 column 2')
>>> decoder.decode(b'{"type":"prediction","prediction_id":"p","model_id":"m","timestamp":0,'
...                b'"prediction":1,"score":NaN}', "predictions").message
'prediction.model_version: Field required; prediction.score: Input should be a finite number'
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import NamedTuple

import msgspec
from pydantic import TypeAdapter, ValidationError
from pydantic_core import from_json

from detectors.contracts import (
    SUPPORTED_SCHEMA_VERSIONS,
    Label,
    Prediction,
    describe_validation_error,
)
from detectors.contracts import InputEvent as ContractEvent
from detectors.contracts import _to_utc_datetime as to_utc_datetime
from detectors.events import InputLabel, InputPrediction, from_contract
from detectors.field_mapping import FieldMapper, FieldMapping
from detectors.rejection import Stage

__all__ = ["EventDecoder", "Refusal"]


class Refusal(NamedTuple):
    """Why an input was refused: ``stage`` (``deserialize`` or ``validate``), class, message."""

    stage: Stage
    error_class: str
    message: str

    @property
    def reason(self) -> str:
        return f"{self.stage}:{self.error_class}"


_CONTRACT: TypeAdapter[Prediction | Label] = TypeAdapter(ContractEvent)
#: pydantic error types that mean "these bytes are not JSON" rather than "not a valid event".
_JSON_ERROR_TYPES = frozenset({"json_invalid", "json_type"})
_SUPPORTED = SUPPORTED_SCHEMA_VERSIONS
_FAST_ERRORS = (msgspec.DecodeError, msgspec.ValidationError)
#: A ``\\uD800``-``\\uDFFF`` escape: the contract refuses a lone surrogate anywhere, msgspec
#: only where it decodes a string (not in an ignored field), so such events take the contract path.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]").search


def _valid_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class EventDecoder:
    """JSON bytes → :class:`InputPrediction` | :class:`InputLabel` | :class:`Refusal`."""

    def __init__(self, mapping: FieldMapping | None = None) -> None:
        self._mapper = FieldMapper(mapping) if mapping is not None else None
        self._fast = msgspec.json.Decoder(InputPrediction | InputLabel).decode
        self._untyped = msgspec.json.Decoder().decode
        self._validate_json = _CONTRACT.validator.validate_json
        self._validate_python = _CONTRACT.validator.validate_python

    def decode(self, raw: bytes, topic: str) -> InputPrediction | InputLabel | Refusal:
        """Decode one event read from ``topic`` (the topic matters to field mapping only)."""
        if self._mapper is not None:
            return self._decode_mapped(raw, topic)
        if not (raw.isascii() or _valid_utf8(raw)) or (
            b"\\u" in raw and _SURROGATE_ESCAPE(raw) is not None
        ):
            return self._contract_json(raw)  # msgspec does not check what it skips
        try:
            event = self._fast(raw)
            event.timestamp = _event_time(event.timestamp)
        except (*_FAST_ERRORS, ValueError):
            return self._contract_json(raw)
        if event.schema_version not in _SUPPORTED:
            return self._contract_json(raw)
        return event

    def _contract_json(self, raw: bytes) -> InputPrediction | InputLabel | Refusal:
        try:
            return from_contract(self._validate_json(raw))
        except ValidationError as exc:
            return _refusal(exc)

    def _decode_mapped(self, raw: bytes, topic: str) -> InputPrediction | InputLabel | Refusal:
        assert self._mapper is not None
        try:
            document = self._untyped(raw)
            strict = True
        except _FAST_ERRORS:
            # What the fast parser refuses, the contract's parser decides (it also reads NaN and
            # numbers beyond a float's range, which then fail validation as non-finite).
            try:
                document = from_json(raw)
            except ValueError as exc:
                return Refusal("deserialize", "JSONDecodeError", f"Invalid JSON: {exc}")
            strict = False
        mapped = self._mapper.apply(document, topic)
        if strict:
            try:
                event = msgspec.convert(mapped, InputPrediction | InputLabel)
                event.timestamp = to_utc_datetime(event.timestamp)
            except (*_FAST_ERRORS, ValueError):
                pass
            else:
                if event.schema_version in _SUPPORTED:
                    return event
        try:
            return from_contract(self._validate_python(mapped))
        except ValidationError as exc:
            return _refusal(exc)


#: Recently decoded timestamps (the JSON string or integer → its datetime): events close in time
#: share them. Only ``str`` and ``int`` keys (a float or ``true`` would hash equal to an int).
_TIMES: dict[str | int, datetime] = {}
_TIMES_SIZE = 4096


def _event_time(value: object) -> datetime:
    """:func:`~detectors.contracts._to_utc_datetime`, remembered for recent strings and ints."""
    cls = value.__class__
    if cls is not str and cls is not int:
        return to_utc_datetime(value)
    found = _TIMES.get(value)  # type: ignore[call-overload]
    if found is None:
        found = to_utc_datetime(value)
        if len(_TIMES) >= _TIMES_SIZE:
            _TIMES.clear()
        _TIMES[value] = found  # type: ignore[index]
    return found


def _refusal(exc: ValidationError) -> Refusal:
    errors = exc.errors()
    if errors and errors[0]["type"] in _JSON_ERROR_TYPES:
        return Refusal("deserialize", "JSONDecodeError", errors[0]["msg"])
    return Refusal("validate", "ValidationError", describe_validation_error(exc))
