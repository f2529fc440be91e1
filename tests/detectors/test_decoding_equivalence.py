"""The fast decoder accepts, refuses and explains exactly as the pydantic contract does.

The reference is the contract alone, as the consumer decoded before the fast path existed:
``Prediction | Label`` validated from the bytes (or, with a field mapping, from the mapped
document), ``deserialize:JSONDecodeError`` with pydantic's message for bytes that are not JSON,
``validate:ValidationError`` with :func:`describe_validation_error` otherwise. Hypothesis writes
random events, valid and not: fields missing, null, of the wrong JSON type, lax forms the
contract coerces (numeric strings, ``1.0`` for an int), numbers at the edges (big integers,
overflowing floats, NaN, ``-0.0``), strings at the length limits, every timestamp form, duplicate
keys, unknown fields, truncated and corrupted bytes.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError
from pydantic_core import from_json

from detectors.contracts import InputEvent, Label, Prediction, describe_validation_error
from detectors.decoding import EventDecoder, Refusal
from detectors.field_mapping import FieldMapper, FieldMapping

CONTRACT: TypeAdapter[Prediction | Label] = TypeAdapter(InputEvent)


def _refused(exc: ValidationError) -> tuple[str, str, str]:
    errors = exc.errors()
    if errors and errors[0]["type"] in ("json_invalid", "json_type"):
        return ("refused", "deserialize:JSONDecodeError", errors[0]["msg"])
    return ("refused", "validate:ValidationError", describe_validation_error(exc))


def _accepted(event: Any) -> tuple[str, str, dict[str, str]]:
    fields = {k: v for k, v in (event.__dict__ if hasattr(event, "__dict__") else {
        name: getattr(event, name) for name in event.__struct_fields__}).items() if k != "type"}
    # repr: the value *and* its type (1 vs 1.0 vs True, -0.0, tz-aware datetimes, nested dicts).
    return ("accepted", event.type, {k: repr(v) for k, v in fields.items()})


def reference(raw: bytes, mapper: FieldMapper | None = None) -> tuple[Any, ...]:
    if mapper is None:
        try:
            return _accepted(CONTRACT.validate_json(raw))
        except ValidationError as exc:
            return _refused(exc)
    try:
        document = from_json(raw)
    except ValueError as exc:
        return ("refused", "deserialize:JSONDecodeError", f"Invalid JSON: {exc}")
    try:
        return _accepted(CONTRACT.validate_python(mapper.apply(document, "events")))
    except ValidationError as exc:
        return _refused(exc)


def decoded(raw: bytes, decoder: EventDecoder) -> tuple[Any, ...]:
    result = decoder.decode(raw, "events")
    if isinstance(result, Refusal):
        return ("refused", result.reason, result.message)
    return _accepted(result)


# -- random events, written as JSON text fragments (so non-standard forms can appear) -----------

def _string(min_size: int = 0, max_size: int = 20) -> st.SearchStrategy[str]:
    return st.text(st.characters(codec="utf-8"), min_size=min_size, max_size=max_size)


json_strings = st.one_of(
    _string(),
    st.sampled_from(["", "x" * 256, "x" * 257, "é" * 256, "日本" * 129, "0.5", "1", "true",
                     "1e3", " 2 ", "NaN", "inf", "-0"]),
).map(lambda s: json.dumps(s, ensure_ascii=False))
json_numbers = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["1.0", "-0.0", "0", "1e400", "-1e400", "NaN", "Infinity", "-Infinity",
                     "1E2", "2.5e-3", "18446744073709551616", "9223372036854775808", "1e308",
                     "12345678901234567890.5", "0.1", "5e-324"]),
)
json_scalars = st.one_of(json_strings, json_numbers, st.sampled_from(["true", "false", "null"]))
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda xs: "[" + ",".join(xs) + "]"),
        st.dictionaries(_string(max_size=5), inner, max_size=3).map(
            lambda d: "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in d.items()) + "}"),
    ),
    max_leaves=4,
)
timestamps = st.one_of(
    st.integers(-(2**50), 2**50).map(str),
    st.sampled_from(["1714564800000", "1714564800000.0", "1714564800123.9", "1e30", "-1",
                     "0", "true", "null", '"2024-05-01T12:00:00Z"', '"2024-05-01T12:00:00"',
                     '"2024-05-01T12:00:00.123456+05:30"', '"2024-05-01"', '"yesterday"',
                     '"2024-05-01T12:00:00+00:00"', '"20240501T120000Z"', '"1714564800000"',
                     "[]", '"2024-13-01T00:00:00Z"']),
)
features = st.dictionaries(
    _string(max_size=6),
    st.one_of(json_scalars, st.sampled_from(["[1]", "{}", '{"a": 1}'])),
    max_size=4,
).map(lambda d: "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{v}"
                               for k, v in d.items()) + "}")

FIELDS = {
    "type": st.sampled_from(['"prediction"', '"label"', '"other"', "1", "null"]),
    "schema_version": st.sampled_from(["1", "2", "1.0", '"1"', "true", "null", "0"]),
    "prediction_id": json_strings,
    "model_id": json_strings,
    "model_version": json_strings,
    "timestamp": timestamps,
    "features": st.one_of(features, st.sampled_from(["null", "[]", "1"])),
    "prediction": json_scalars,
    "score": st.one_of(json_numbers, st.sampled_from(["null", '"0.5"', "true", '"x"'])),
    "segment": st.one_of(json_strings, st.just("null")),
    "label": json_scalars,
    "extra": json_values,
}
VALID = {
    "schema_version": "1",
    "prediction_id": '"p1"',
    "model_id": '"m"',
    "model_version": '"v1"',
    "timestamp": "1714564800000",
    "features": '{"x": 1.5, "n": 3, "c": "FR", "b": true, "z": null}',
    "prediction": "true",
    "score": "0.25",
    "segment": '"eu"',
    "label": "false",
}


@st.composite
def events(draw: st.DrawFn) -> bytes:
    """A JSON object text: a valid prediction or label with some fields replaced, removed,
    duplicated or added; sometimes corrupted."""
    kind = draw(st.sampled_from(["prediction", "label"]))
    names = (["schema_version", "prediction_id", "model_id", "model_version", "timestamp",
              "features", "prediction", "score", "segment"] if kind == "prediction" else
             ["schema_version", "prediction_id", "model_id", "timestamp", "label"])
    items: list[tuple[str, str]] = [("type", f'"{kind}"')]
    items += [(name, VALID[name]) for name in names]
    for _ in range(draw(st.integers(0, 4))):
        action = draw(st.sampled_from(["replace", "replace", "replace", "drop", "dup", "add"]))
        name = draw(st.sampled_from(sorted(FIELDS)))
        value = draw(FIELDS[name])
        if action == "replace":
            items = [(n, value if n == name else v) for n, v in items]
        elif action == "drop":
            items = [(n, v) for n, v in items if n != name]
        else:
            items.append((name, value))
    if draw(st.booleans()):
        items = draw(st.permutations(items))
    text = "{" + ", ".join(f'"{n}": {v}' for n, v in items) + "}"
    raw = text.encode("utf-8", "surrogatepass")
    corruption = draw(st.sampled_from(["none"] * 6 + ["truncate", "byte", "wrap"]))
    if corruption == "truncate":
        raw = raw[: draw(st.integers(0, len(raw)))]
    elif corruption == "byte":
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.binary(min_size=1, max_size=2)) + raw[at:]
    elif corruption == "wrap":
        raw = b"[" + raw + b"]"
    return raw


SETTINGS = settings(max_examples=3000, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
PLAIN = EventDecoder()
MAPPING = FieldMapping(
    type_path="/kind", type_values={"p": "prediction", "l": "label"},
    prediction={"prediction_id": "/id", "features": "/body/features", "score": "/body/score"},
    label={"prediction_id": "/id"},
)
MAPPER = FieldMapper(MAPPING)
MAPPED = EventDecoder(MAPPING)


@SETTINGS
@given(events())
def test_fast_decoder_equals_the_contract(raw: bytes) -> None:
    assert decoded(raw, PLAIN) == reference(raw)


@SETTINGS
@given(events())
def test_fast_decoder_equals_the_contract_through_a_field_mapping(raw: bytes) -> None:
    """The same events in a team's own shape: ``kind`` for the type, ``id`` for the prediction
    id, features and score one level down."""
    try:
        document = json.loads(raw)
    except ValueError:
        document = None
    if isinstance(document, dict):
        shaped: dict[str, Any] = {k: v for k, v in document.items()
                                  if k not in ("type", "prediction_id", "features", "score")}
        kind = document.get("type")
        shaped["kind"] = {"prediction": "p", "label": "l"}.get(kind, kind) if isinstance(
            kind, str) else kind
        if "prediction_id" in document:
            shaped["id"] = document["prediction_id"]
        shaped["body"] = {k: document[k] for k in ("features", "score") if k in document}
        raw = json.dumps(shaped, ensure_ascii=False).encode("utf-8", "surrogatepass")
    assert decoded(raw, MAPPED) == reference(raw, MAPPER)


@SETTINGS
@given(st.binary(max_size=60))
def test_any_bytes(raw: bytes) -> None:
    assert decoded(raw, PLAIN) == reference(raw)
    assert decoded(raw, MAPPED) == reference(raw, MAPPER)


def test_the_fast_path_takes_the_common_events_and_the_contract_the_lax_ones() -> None:
    """Not a speed claim: which path decided. Lax forms must come out as the contract's values."""
    common = (b'{"type":"prediction","prediction_id":"p","model_id":"m","model_version":"v",'
              b'"timestamp":1714564800000,"features":{"a":1.5},"prediction":true,"score":0.5}')
    lax = common.replace(b'"score":0.5', b'"score":"0.5"')
    fast = PLAIN._fast
    assert fast(common).score == 0.5
    try:
        fast(lax)
        raise AssertionError("strict msgspec decoded a numeric string")
    except Exception as exc:
        assert type(exc).__name__ == "ValidationError"
    result = PLAIN.decode(lax, "t")
    assert not isinstance(result, Refusal) and result.score == 0.5
    assert decoded(lax, PLAIN) == reference(lax)
