"""Drift events encoded without the model's serializer are the model's bytes (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.contracts import DriftEvent
from detectors.encoding import drift_event_json

_name = st.text(min_size=1, max_size=12)
_stat = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.text(max_size=8),
                  st.floats(allow_nan=False, allow_infinity=False),
                  st.sampled_from([1e16, 1.5e300, 1e-7, -0.0, 5e-324, 123456789.125]))
_time = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1),
                     timezones=st.sampled_from([UTC, timezone(timedelta(hours=-3))]))


@settings(max_examples=2000, deadline=None)
@given(event_id=_name, kind=st.sampled_from(["concept", "data", "prediction", "performance", "quality"]),
       severity=st.sampled_from(["warning", "drift"]), model_id=_name, model_version=_name,
       segment=st.one_of(st.none(), st.text(max_size=6)), signal=_name, detector=_name,
       detected_at=_time, published_at=_time, samples_seen=st.integers(0, 2**40),
       stats=st.dictionaries(st.text(max_size=8), _stat, max_size=6),
       topic=st.text(max_size=10), partition=st.integers(0, 2**31), offset=st.integers(0, 2**62),
       change_point=st.one_of(st.none(), st.fixed_dictionaries({
           "at": _time, "samples": st.integers(1, 2**40), "estimator": _name,
           "source": st.one_of(st.none(), st.fixed_dictionaries({
               "topic": st.text(max_size=10), "partition": st.integers(0, 2**31),
               "offset": st.integers(0, 2**62)}))})))
def test_drift_event_json_is_the_models(**fields: object) -> None:
    source = {k: fields.pop(k) for k in ("topic", "partition", "offset")}
    event = DriftEvent.model_validate({**fields, "source": source})
    assert drift_event_json(event) == event.model_dump_json().encode()
