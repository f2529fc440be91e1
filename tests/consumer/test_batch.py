"""Decoding records into events (:mod:`consumer.batch`), with a field mapping."""

from __future__ import annotations

from consumer.batch import Decoder
from detectors.events import InputLabel, InputPrediction
from detectors.field_mapping import FieldMapping
from detectors.rejection import Rejection


def test_decoder_with_field_mapping() -> None:
    mapping = FieldMapping.model_validate({
        "type_path": "/kind", "type_values": {"inference": "prediction", "truth": "label"},
        "prediction": {"prediction_id": "/id", "model_id": "/model/name",
                       "model_version": "/model/version", "timestamp": "/ts",
                       "features": "/input", "prediction": "/out"},
        "label": {"prediction_id": "/id", "model_id": "/model/name", "timestamp": "/ts",
                  "label": "/y"},
    })
    decoder = Decoder(mapping)
    p = decoder.decode(b'{"kind":"inference","id":"r1","model":{"name":"m","version":"7"},'
                       b'"ts":0,"input":{"a":1.5},"out":1}', b"m", "t", 0, 0)
    assert isinstance(p, InputPrediction) and p.model_version == "7" and p.features == {"a": 1.5}
    label = decoder.decode(b'{"kind":"truth","id":"r1","model":{"name":"m"},"ts":5,"y":0}',
                           b"m", "t", 0, 1)
    assert isinstance(label, InputLabel) and label.label == 0
    missing = decoder.decode(b'{"kind":"inference","id":"r2","ts":0,"out":1}', b"m", "t", 0, 2)
    assert isinstance(missing, Rejection)
    assert "prediction.model_id" in missing.message
    assert decoder.decode(b"[1,", b"m", "t", 0, 3).reason == "deserialize:JSONDecodeError"
