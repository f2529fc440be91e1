"""Decoding and validating Kafka records into input events, errors as values.

Contract:

* :meth:`Decoder.decode` turns one record's ``(value, key, topic, partition, offset)`` into a
  :class:`~detectors.contracts.Prediction` / :class:`~detectors.contracts.Label`, or into a
  :class:`~detectors.rejection.Rejection` carrying the original bytes and the source. It never
  raises on data.
* Checks, in order: a value is present (``deserialize:NullValue``), not larger than
  ``max_record_bytes`` (``deserialize:RecordTooLarge``), a key is present unless
  ``accept_unaddressed`` (``validate:MissingKey``); then the value is decoded by the one decoder
  of every entry point, :class:`detectors.decoding.EventDecoder` (field mapping included): not
  JSON is ``deserialize:JSONDecodeError``, not a valid event ``validate:ValidationError``
  (NaN/inf, wrong types, missing/null fields, unknown ``schema_version``), messages naming the
  field, exactly as the pydantic contract says.

>>> d = Decoder()
>>> ok = d.decode(b'{"type":"label","prediction_id":"p","model_id":"m","timestamp":0,"label":1}',
...               b"m", "labels", 0, 5)
>>> type(ok).__name__, ok.label
('InputLabel', 1)
>>> bad = d.decode(b'{"type":"label","prediction_id":"p","model_id":"m","timestamp":0,'
...                b'"label":NaN}', b"m", "labels", 0, 6)
>>> bad.reason, bad.source.offset
('validate:ValidationError', 6)
>>> d.decode(b"{not json", b"m", "labels", 0, 7).reason
'deserialize:JSONDecodeError'
>>> d.decode(b'{}', None, "labels", 0, 8).reason
'validate:MissingKey'
"""

from __future__ import annotations

from detectors.contracts import make_source
from detectors.decoding import EventDecoder, Refusal
from detectors.events import InputLabel, InputPrediction
from detectors.field_mapping import FieldMapping
from detectors.rejection import Rejection, Stage


class Decoder:
    """Bytes → event or :class:`Rejection`; one instance serves every partition."""

    def __init__(
        self,
        mapping: FieldMapping | None = None,
        *,
        max_record_bytes: int = 900_000,
        accept_unaddressed: bool = False,
    ) -> None:
        self._decode = EventDecoder(mapping).decode
        self._max = max_record_bytes
        self._accept_unaddressed = accept_unaddressed

    def decode(
        self, value: bytes | None, key: bytes | None, topic: str, partition: int, offset: int
    ) -> InputPrediction | InputLabel | Rejection:
        if value is None:
            return self._reject("deserialize", "NullValue", "record has no value (a tombstone?)",
                                topic, partition, offset, value)
        if len(value) > self._max:
            return self._reject(
                "deserialize", "RecordTooLarge",
                f"record value is {len(value)} bytes; consumer.max_record_bytes is {self._max}",
                topic, partition, offset, value)
        if key is None and not self._accept_unaddressed:
            return self._reject(
                "validate", "MissingKey",
                "record has no key; producers must key records by model_id "
                "(or set consumer.accept_unaddressed)", topic, partition, offset, value)
        result = self._decode(value, topic)
        if isinstance(result, Refusal):
            return self._reject(*result, topic, partition, offset, value)
        return result

    @staticmethod
    def _reject(
        stage: Stage, error_class: str, message: str,
        topic: str, partition: int, offset: int, value: bytes | None,
    ) -> Rejection:
        return Rejection(stage=stage, error_class=error_class, message=message,
                         source=make_source(topic, partition, offset), raw=value, model_id=None)


__all__ = ["Decoder", "make_source"]
