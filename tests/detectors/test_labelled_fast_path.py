"""The labelled record's hot path (:mod:`detectors.labelled`) equals the pydantic model's own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.contracts import Label, LabelledRecord, Prediction, Source, format_timestamp
from detectors.labelled import labelled_json, labelled_record
from detectors.pipeline import Pipeline
from driftline.dev.simulator import Drift, Scenario, simulate


def _check(record: LabelledRecord) -> None:
    fast = labelled_json(record)
    assert fast == record.model_dump_json().encode()
    parsed = LabelledRecord.model_validate_json(fast)  # a valid LabelledRecord (ms precision)
    assert parsed.model_dump(mode="json") == record.model_dump(mode="json")
    assert parsed.model_dump_json().encode() == fast


def test_pipeline_records_serialize_like_the_model() -> None:
    scenario = Scenario(models=("a", "b"), samples=600, rate=50.0, label_delay_ms=500,
                        drifts=(Drift(kind="sudden", start=300, feature_shift=3.0),))
    pipeline = Pipeline()
    records = []
    for offset, event in enumerate(simulate(scenario, seed=4)):
        out = pipeline.process(event, Source(topic="t", partition=0, offset=offset))
        records.extend(o for o in out if isinstance(o, LabelledRecord))
    assert len(records) > 1000
    for record in records:
        _check(record)
    # The fast constructor builds what model_construct would.
    assert records[0].model_fields_set == set(LabelledRecord.model_fields)


_feature = st.one_of(st.booleans(), st.integers(-(2**70), 2**70), st.none(), st.text(max_size=8),
                     st.floats(allow_nan=False, allow_infinity=False))
_target = st.one_of(st.booleans(), st.integers(-(2**40), 2**40), st.text(max_size=8),
                    st.floats(allow_nan=False, allow_infinity=False))
_time = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1),
                     timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))]))


@settings(max_examples=3000, deadline=None)
@given(
    features=st.dictionaries(st.text(min_size=1, max_size=6), _feature, max_size=5),
    prediction=_target,
    label=_target,
    score=st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)),
    segment=st.one_of(st.none(), st.text(min_size=1, max_size=5)),
    predicted_at=_time,
    labelled_at=_time,
)
def test_any_valid_record_serializes_like_the_model(
    features: dict, prediction: object, label: object, score: float | None,
    segment: str | None, predicted_at: datetime, labelled_at: datetime,
) -> None:
    p = Prediction(prediction_id="p-é", model_id="m\"1", model_version="v1",
                   timestamp=predicted_at, features=features, prediction=prediction,
                   score=score, segment=segment)
    lab = Label(prediction_id="p-é", model_id="m\"1", timestamp=labelled_at, label=label)
    record = labelled_record(p, lab)
    _check(record)
    for when in (predicted_at, labelled_at):  # the reference format
        reference = when.astimezone(UTC).isoformat(timespec="milliseconds")
        assert format_timestamp(when) == reference.replace("+00:00", "Z")
    assert record == LabelledRecord.model_construct(
        prediction_id=p.prediction_id, model_id=p.model_id, model_version=p.model_version,
        segment=p.segment, predicted_at=p.timestamp, labelled_at=lab.timestamp,
        features=p.features, prediction=p.prediction, score=p.score, label=lab.label)
