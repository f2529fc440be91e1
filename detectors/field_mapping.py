"""Field mapping: read predictions and labels from the shape a team already produces (SPEC §3).

Contract:

* Each contract field is read from a JSON pointer (RFC 6901) into the decoded event; fields not
  named in the mapping are read from ``/<field>``, so a mapping lists only what differs.
* The event type is read from ``type_path`` and translated by ``type_values`` (the team's value →
  ``prediction`` | ``label``); when that path is absent, ``topic_types`` decides by topic.
* A pointer that does not resolve leaves the field out, so validation names the *contract* field
  that is missing (``prediction.model_id: Field required``); nothing here raises on data.
* The mapper is pure (no Kafka) and costs one dictionary walk per mapped field.

>>> mapping = FieldMapping(
...     type_path="/kind", type_values={"inference": "prediction", "feedback": "label"},
...     prediction={"prediction_id": "/id", "model_id": "/model/name",
...                 "model_version": "/model/version", "timestamp": "/ts",
...                 "features": "/input", "prediction": "/output/class",
...                 "score": "/output/probs/1"})
>>> event = {"kind": "inference", "id": "r-1", "model": {"name": "fraud", "version": "7"},
...          "ts": 1700000000000, "input": {"amount": 3.5},
...          "output": {"class": 1, "probs": [0.2, 0.8]}}
>>> mapped = FieldMapper(mapping).apply(event, topic="payments.inference")
>>> mapped["type"], mapped["model_id"], mapped["score"], mapped["features"]
('prediction', 'fraud', 0.8, {'amount': 3.5})
>>> resolve_pointer({"a/b": {"~x": 1}}, parse_pointer("/a~1b/~0x"))
1
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

EventType = Literal["prediction", "label"]

PREDICTION_FIELDS = (
    "schema_version",
    "prediction_id",
    "model_id",
    "model_version",
    "timestamp",
    "features",
    "prediction",
    "score",
    "segment",
)
LABEL_FIELDS = ("schema_version", "prediction_id", "model_id", "timestamp", "label")

_MISSING = object()


def parse_pointer(pointer: str) -> tuple[str, ...]:
    """Split an RFC 6901 JSON pointer into unescaped reference tokens.

    >>> parse_pointer("/output/probs/1"), parse_pointer("")
    (('output', 'probs', '1'), ())
    """
    if pointer == "":
        return ()
    if not pointer.startswith("/"):
        raise ValueError(f"JSON pointer must be empty or start with '/', got {pointer!r}")
    return tuple(t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/"))


def resolve_pointer(document: Any, tokens: tuple[str, ...]) -> Any:
    """The value at ``tokens`` in ``document``, or the module's private missing marker."""
    node = document
    for token in tokens:
        if isinstance(node, dict):
            node = node.get(token, _MISSING)
            if node is _MISSING:
                return _MISSING
        elif isinstance(node, list):
            if not token.isdigit() or int(token) >= len(node):
                return _MISSING
            node = node[int(token)]
        else:
            return _MISSING
    return node


def _check_pointers(value: dict[str, str], allowed: tuple[str, ...]) -> dict[str, str]:
    for name, pointer in value.items():
        if name not in allowed:
            raise ValueError(f"unknown contract field {name!r}; expected one of {list(allowed)}")
        parse_pointer(pointer)
    return value


class FieldMapping(BaseModel):
    """Where each contract field lives in the team's events (JSON pointers)."""

    model_config = ConfigDict(extra="forbid")

    #: Pointer to the event-type discriminator.
    type_path: str = "/type"
    #: The team's type values → contract types; values not listed are used as they are.
    type_values: dict[str, EventType] = Field(default_factory=dict)
    #: Topic → event type, used when ``type_path`` does not resolve (one type per topic).
    topic_types: dict[str, EventType] = Field(default_factory=dict)
    #: Contract field → pointer, for predictions.
    prediction: dict[str, str] = Field(default_factory=dict)
    #: Contract field → pointer, for labels.
    label: dict[str, str] = Field(default_factory=dict)

    @field_validator("type_path")
    @classmethod
    def _valid_type_path(cls, value: str) -> str:
        parse_pointer(value)
        return value

    @field_validator("prediction")
    @classmethod
    def _valid_prediction(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_pointers(value, PREDICTION_FIELDS)

    @field_validator("label")
    @classmethod
    def _valid_label(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_pointers(value, LABEL_FIELDS)


class FieldMapper:
    """Applies a :class:`FieldMapping` to decoded JSON, returning a contract-shaped dict."""

    def __init__(self, mapping: FieldMapping) -> None:
        self._type_tokens = parse_pointer(mapping.type_path)
        self._type_values = dict(mapping.type_values)
        self._topic_types = dict(mapping.topic_types)
        self._plans: dict[str, list[tuple[str, tuple[str, ...]]]] = {
            "prediction": [
                (name, parse_pointer(mapping.prediction.get(name, "/" + name)))
                for name in PREDICTION_FIELDS
            ],
            "label": [
                (name, parse_pointer(mapping.label.get(name, "/" + name))) for name in LABEL_FIELDS
            ],
        }

    def apply(self, document: Any, topic: str) -> dict[str, Any]:
        """The contract fields found in ``document`` (missing ones left out)."""
        raw_type = resolve_pointer(document, self._type_tokens)
        if raw_type is _MISSING:
            event_type: Any = self._topic_types.get(topic)
        else:
            event_type = self._type_values.get(raw_type, raw_type) if isinstance(
                raw_type, str
            ) else raw_type
        out: dict[str, Any] = {"type": event_type}
        plan = self._plans.get(event_type) if isinstance(event_type, str) else None
        if plan is None:
            return out  # validation reports the bad discriminator
        for name, tokens in plan:
            value = resolve_pointer(document, tokens)
            if value is not _MISSING:
                out[name] = value
        return out


__all__ = [
    "LABEL_FIELDS",
    "PREDICTION_FIELDS",
    "EventType",
    "FieldMapper",
    "FieldMapping",
    "parse_pointer",
    "resolve_pointer",
]
