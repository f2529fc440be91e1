"""Event contracts: valid events parse in both timestamp forms; malformed ones are refused with
messages that name the field and say what was expected."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from consumer.dead_letter import DeadLetterContext
from detectors.contracts import (
    DriftEvent,
    Label,
    LabelledRecord,
    Prediction,
    Source,
    describe_validation_error,
    drift_event_id,
    parse_input_json,
)
from retrain_worker.contracts import RetrainEvent, Trigger

PREDICTION: dict[str, Any] = {
    "type": "prediction",
    "prediction_id": "p-1",
    "model_id": "fraud",
    "model_version": "v3",
    "timestamp": "2024-05-01T12:00:00.250Z",
    "features": {"amount": 12.5, "country": "DE", "new_customer": True, "age": None},
    "prediction": 1,
    "score": 0.82,
    "segment": "eu",
}
LABEL: dict[str, Any] = {
    "type": "label",
    "prediction_id": "p-1",
    "model_id": "fraud",
    "timestamp": 1714564800250,
    "label": 0,
}


def _error(raw: dict[str, Any] | bytes) -> str:
    data = raw if isinstance(raw, bytes) else json.dumps(raw).encode()
    with pytest.raises(ValidationError) as info:
        parse_input_json(data)
    return describe_validation_error(info.value)


def test_both_timestamp_forms_give_the_same_instant() -> None:
    prediction = parse_input_json(json.dumps(PREDICTION))
    label = parse_input_json(json.dumps(LABEL))
    assert isinstance(prediction, Prediction) and isinstance(label, Label)
    assert prediction.timestamp == label.timestamp == datetime(2024, 5, 1, 12, 0, 0, 250000, UTC)


def test_offsets_are_normalised_to_utc() -> None:
    event = parse_input_json(json.dumps({**PREDICTION, "timestamp": "2024-05-01T14:00:00+02:00"}))
    assert event.timestamp == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def test_types_are_kept_for_booleans_and_strings() -> None:
    event = parse_input_json(json.dumps({**PREDICTION, "prediction": True}))
    assert isinstance(event, Prediction)
    assert event.prediction is True
    assert event.features["new_customer"] is True and event.features["country"] == "DE"


def test_json_round_trip_is_lossless() -> None:
    event = parse_input_json(json.dumps(PREDICTION))
    assert parse_input_json(event.model_dump_json()) == event


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"timestamp": "2024-05-01T12:00:00"},
            "prediction.timestamp: Value error, timestamp must carry a UTC offset",
        ),
        (
            {"timestamp": "soon"},
            "prediction.timestamp: Value error, expected an RFC 3339 timestamp",
        ),
        (
            {"timestamp": True},
            "prediction.timestamp: Value error, expected an RFC 3339 string or integer epoch milliseconds, got a boolean",
        ),
        ({"score": "high"}, "prediction.score: Input should be a valid number"),
        ({"model_id": ""}, "prediction.model_id: String should have at least 1 character"),
        ({"model_id": None}, "prediction.model_id: Input should be a valid string"),
        ({"features": [1, 2]}, "prediction.features: Input should be an object"),
        ({"features": {"x": [1]}}, "prediction.features.x"),
        (
            {"schema_version": 7},
            "prediction.schema_version: Value error, unknown schema_version 7; this build reads [1]",
        ),
        (
            {"type": "feedback"},
            "Input tag 'feedback' found using 'type' does not match any of the expected tags: 'prediction', 'label'",
        ),
    ],
)
def test_malformed_prediction_names_field_and_expectation(
    change: dict[str, Any], expected: str
) -> None:
    assert expected in _error({**PREDICTION, **change})


@pytest.mark.parametrize(
    "field", ["prediction_id", "model_id", "model_version", "timestamp", "prediction"]
)
def test_missing_required_field_is_named(field: str) -> None:
    event = {k: v for k, v in PREDICTION.items() if k != field}
    assert f"prediction.{field}: Field required" in _error(event)


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_non_finite_numbers_are_refused(literal: bytes) -> None:
    raw = json.dumps({**PREDICTION, "score": 0.5}).encode().replace(b"0.5", literal)
    assert "prediction.score: Input should be a finite number" in _error(raw)


def test_non_finite_feature_is_refused() -> None:
    raw = json.dumps({**PREDICTION, "features": {"amount": 0.5}}).encode().replace(b"0.5", b"NaN")
    assert "prediction.features.amount" in _error(raw)


def test_malformed_json_is_a_validation_error() -> None:
    assert "Invalid JSON" in _error(b'{"type": "label", ')


def test_label_requires_prediction_id() -> None:
    label = {k: v for k, v in LABEL.items() if k != "prediction_id"}
    assert "label.prediction_id: Field required" in _error(label)


def test_drift_event_ids_are_deterministic_and_distinct() -> None:
    base: dict[str, Any] = dict(
        model_id="m",
        model_version="v1",
        segment=None,
        signal="error",
        detector="adwin",
        severity="drift",
        source=Source(topic="t", partition=0, offset=1),
    )
    assert drift_event_id(**base) == drift_event_id(**base)
    moved = {**base, "source": Source(topic="t", partition=0, offset=2)}
    assert drift_event_id(**base) != drift_event_id(**moved)
    assert drift_event_id(**base) != drift_event_id(**{**base, "severity": "warning"})


def test_output_contracts_refuse_unknown_enum_values() -> None:
    with pytest.raises(ValidationError, match="kind"):
        DriftEvent.model_validate(
            {
                "event_id": "e",
                "kind": "vibes",
                "severity": "drift",
                "model_id": "m",
                "model_version": "v",
                "signal": "error",
                "detector": "adwin",
                "detected_at": 0,
                "published_at": 0,
                "samples_seen": 1,
                "source": {"topic": "t", "partition": 0, "offset": 0},
            }
        )
    with pytest.raises(ValidationError, match="status"):
        RetrainEvent.model_validate(
            {
                "event_id": "r",
                "model_id": "m",
                "status": "maybe",
                "reason": "",
                "duration_s": 0,
                "timestamp": 0,
            }
        )


def test_dead_letter_context_requires_known_stage() -> None:
    with pytest.raises(ValidationError, match="stage"):
        DeadLetterContext(
            stage="elsewhere",
            error_class="E",
            message="m",  # type: ignore[arg-type]
            topic="t",
            partition=0,
            offset=0,
        )


def test_every_contract_exposes_schema_version() -> None:
    for model in (Prediction, Label, DriftEvent, LabelledRecord, Trigger, RetrainEvent):
        assert "schema_version" in model.model_fields
