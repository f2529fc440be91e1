"""Pending joins in a snapshot: each entry serialized once, restored to equal predictions."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.contracts import Source
from detectors.events import InputLabel, InputPrediction
from detectors.join import LabelJoin

_value = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.text(max_size=5),
                   st.floats(allow_nan=False, allow_infinity=False))
_prediction = st.builds(
    InputPrediction, prediction_id=st.text(min_size=1, max_size=5), model_id=st.just("m"),
    model_version=st.text(min_size=1, max_size=3),
    timestamp=st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1),
                           timezones=st.just(UTC)).map(lambda d: d.replace(fold=0)),
    features=st.dictionaries(st.text(max_size=4), _value, max_size=4),
    prediction=st.one_of(st.booleans(), st.integers(-(2**70), 2**70), st.text(max_size=4),
                         st.floats(allow_nan=False, allow_infinity=False)),
    score=st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)),
    segment=st.one_of(st.none(), st.text(min_size=1, max_size=3)),
)


def _join() -> LabelJoin:
    return LabelJoin(join_ttl=100, label_wait_ttl=10, max_pending=10_000, max_waiting=10_000)


def _state(join: LabelJoin) -> list[tuple[str, object, object, float, int]]:
    return [(pid, repr(e.prediction), e.source, e.deadline, e.seq)
            for pid, e in join.pending_of("m").items()]


@settings(max_examples=300, deadline=None)
@given(st.lists(_prediction, max_size=12, unique_by=lambda p: p.prediction_id),
       st.data())
def test_pending_entries_survive_a_snapshot(predictions: list[InputPrediction],
                                            data: st.DataObject) -> None:
    join = _join()
    for i, p in enumerate(predictions):
        join.add_prediction(p, Source(topic="t", partition=1, offset=i), watermark=float(i))
    for p in predictions:
        if data.draw(st.booleans()):  # joined: the entry becomes a tombstone
            join.add_label(InputLabel(prediction_id=p.prediction_id, model_id="m",
                                      timestamp=p.timestamp, label=True),
                           Source(topic="t", partition=1, offset=99), None, watermark=50.0)
    first = join.export_model("m")
    assert all(isinstance(item, bytes) for item in first["pending"])
    again = join.export_model("m")  # cached: the very same bytes objects
    assert all(a is b for a, b in zip(first["pending"], again["pending"], strict=True))
    restored = _join()
    restored.replace_model("m", pickle.loads(pickle.dumps(first)))
    assert _state(restored) == _state(join)
    assert restored.live_pending == join.live_pending


def test_a_snapshot_of_pending_pairs_from_before_still_restores() -> None:
    join = _join()
    p = InputPrediction(prediction_id="p", model_id="m", model_version="v",
                        timestamp=datetime(2024, 5, 1, tzinfo=UTC), prediction=1)
    join.add_prediction(p, Source(topic="t", partition=0, offset=3), watermark=0.0)
    old = {"pending": list(join.pending_of("m").items()), "waiting": []}
    restored = _join()
    restored.replace_model("m", pickle.loads(pickle.dumps(old)))
    assert _state(restored) == _state(join)
