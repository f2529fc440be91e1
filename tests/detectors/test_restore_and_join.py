"""Snapshot/restore gives the same later detections; the join's accounting is exact."""

from __future__ import annotations

import json
import pickle
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import detectors
from detectors import DetectionConfig, DriftEvent, Pipeline, Rejection, SnapshotError, Source
from detectors import snapshot as snapshot_format
from tests.detectors.detection_streams import BASE_MS, random_stream

FIXED = datetime(2030, 1, 1, tzinfo=UTC)


def run(pipeline: Pipeline, events: list[dict[str, Any]], start: int = 0) -> list[Any]:
    out = []
    for offset, e in enumerate(events, start=start):
        src = Source(topic="t", partition=0, offset=offset)
        out.extend(pipeline.process_raw(json.dumps(e).encode(), src))
    return out


def drift_only(outputs: list[Any]) -> list[str]:
    return [o.model_dump_json() for o in outputs if isinstance(o, DriftEvent)]


@pytest.mark.parametrize("cut", [700, 2500, 4100])
def test_restore_mid_stream_gives_same_later_detections(cut: int) -> None:
    events = random_stream(21, n_predictions=3000)
    config = DetectionConfig(cooldown_samples=100, warmup_samples=20)
    whole = Pipeline(config, clock=lambda: FIXED)
    expected = run(whole, events)

    first = Pipeline(config, clock=lambda: FIXED)
    head = run(first, events[:cut])
    snapshots = {m: first.snapshot_model(m) for m in first.model_ids()}
    second = Pipeline(config, clock=lambda: FIXED)
    for model_id, data in snapshots.items():
        second.restore_model(model_id, data)
    tail = run(second, events[cut:], start=cut)
    assert drift_only(head) + drift_only(tail) == drift_only(expected)
    # joins and rejections too: the whole output stream is the same
    assert [repr(o) for o in head + tail] == [repr(o) for o in expected]
    assert second.counters.balanced()


def test_incompatible_snapshot_is_refused_without_changing_state() -> None:
    events = random_stream(3, n_predictions=500)
    pipeline = Pipeline(DetectionConfig())
    run(pipeline, events)
    good = pipeline.snapshot_model("fraud")
    before = pipeline.snapshot_model("fraud")
    header, body = snapshot_format.read_header(good)
    for bad_header in ({**header, "river": "0.0.1"}, {**header, "format": 99}):
        encoded = json.dumps(bad_header).encode()
        bad = snapshot_format.MAGIC + len(encoded).to_bytes(4, "big") + encoded + body
        with pytest.raises(SnapshotError, match=r"River 0\.0\.1|format 99"):
            pipeline.restore_model("fraud", bad)
    with pytest.raises(SnapshotError, match="expected a snapshot of model 'churn'"):
        pipeline.restore_model("churn", good)
    with pytest.raises(SnapshotError, match="checksum"):
        pipeline.restore_model("fraud", good[:-3] + b"xyz")
    with pytest.raises(SnapshotError, match="magic"):
        pipeline.restore_model("fraud", b"garbage")
    wrong_payload = snapshot_format.encode("fraud", {"model_id": "fraud", "keys": [1]})
    with pytest.raises(SnapshotError):
        pipeline.restore_model("fraud", wrong_payload)
    assert pipeline.snapshot_model("fraud") == before


def test_dirty_models_and_snapshot_records_river_version() -> None:
    import river

    pipeline = Pipeline(DetectionConfig())
    run(pipeline, random_stream(4, n_predictions=50))
    assert pipeline.dirty_models() == {"fraud", "churn", "price"}
    pipeline.mark_clean()
    assert pipeline.dirty_models() == set()
    header, _ = snapshot_format.read_header(pipeline.snapshot_model("price"))
    assert header["river"] == river.__version__ and header["format"] == 1


# -- join accounting (hypothesis) ----------------------------------------------------------------

PIDS = [f"p{i}" for i in range(8)]
event_strategy = st.lists(
    st.tuples(
        st.sampled_from(["prediction", "label"]),
        st.sampled_from(PIDS),
        st.sampled_from(["a", "b"]),
        st.integers(min_value=0, max_value=400),  # timestamp, seconds
    ),
    max_size=60,
)


def to_event(kind: str, pid: str, model: str, ts: int) -> dict[str, Any]:
    base = {"type": kind, "prediction_id": pid, "model_id": model, "timestamp": BASE_MS + ts * 1000}
    if kind == "prediction":
        return {**base, "model_version": "v1", "prediction": True, "features": {"x": ts}}
    return {**base, "label": ts % 2 == 0}


@settings(max_examples=150, deadline=None)
@given(event_strategy, st.sampled_from([2, 5, 1000]))
def test_join_accounting_is_exact(raw_events: list[tuple[str, str, str, int]], cap: int) -> None:
    config = DetectionConfig(
        join_ttl_s=100,
        label_wait_ttl_s=50,
        max_pending_joins=cap,
        max_waiting_labels=cap,
        known_models=["a", "b"] if cap == 5 else None,
    )
    pipeline = Pipeline(config)
    outputs = run(pipeline, [to_event(*e) for e in raw_events])
    c = pipeline.counters
    assert c.consumed == len(raw_events)
    assert c.balanced()
    rejections = [o for o in outputs if isinstance(o, Rejection)]
    assert len(rejections) == c.rejected_total
    assert sum(1 for r in rejections if r.error_class == "OrphanLabel") == c.orphaned
    labels = sum(1 for e in raw_events if e[0] == "label")
    dup_labels = sum(1 for r in rejections if r.error_class == "DuplicateLabel")
    assert labels == c.joined + c.orphaned + dup_labels + c.waiting
    # each orphan carries the original label's source
    for r in rejections:
        assert raw_events[r.source.offset][0] == (
            "label" if "Label" in r.error_class else "prediction"
        )
    drained = pipeline.drain()
    assert pipeline.counters.waiting == 0 and pipeline.counters.balanced()
    assert all(r.error_class == "OrphanLabel" for r in drained)


@settings(max_examples=60, deadline=None)
@given(event_strategy, st.randoms(use_true_random=False))
def test_join_is_order_independent_for_joins(raw_events: list[Any], rnd: Any) -> None:
    """With generous TTLs, the set of joined prediction ids does not depend on arrival order."""
    config = DetectionConfig(join_ttl_s=10_000, label_wait_ttl_s=10_000)

    def joined(events: list[Any]) -> set[tuple[str, str]]:
        pipeline = Pipeline(config)
        return {
            (o.model_id, o.prediction_id)
            for o in run(pipeline, [to_event(*e) for e in events])
            if type(o).__name__ == "LabelledRecord"
        }

    shuffled = list(raw_events)
    rnd.shuffle(shuffled)
    assert joined(raw_events) == joined(shuffled)


def test_unknown_model_and_key_cap_are_rejections() -> None:
    pipeline = Pipeline(DetectionConfig(known_models=["fraud"], max_tracked_keys=1))
    out = run(pipeline, random_stream(8, n_predictions=60))
    reasons = {o.reason for o in out if isinstance(o, Rejection)}
    assert "validate:UnknownModel" in reasons
    assert "process:KeyCapacityExceeded" in reasons  # fraud has two segments, cap is one key
    assert pipeline.counters.keys_refused > 0 and pipeline.counters.balanced()


def test_public_api_all_is_exact() -> None:
    public = {name for name in dir(detectors) if not name.startswith("_")}
    modules = {n for n in public if type(getattr(detectors, n)).__name__ == "module"}
    assert set(detectors.__all__) == public - modules
    assert detectors.__all__ == sorted(detectors.__all__)


def test_watchers_pickle_roundtrip() -> None:
    pipeline = Pipeline(DetectionConfig())
    run(pipeline, random_stream(9, n_predictions=200))
    monitor = pipeline.monitor("price", "v1", None)
    assert monitor is not None
    clone = pickle.loads(pickle.dumps(monitor))
    assert [w.n for w in clone.watchers()] == [w.n for w in monitor.watchers()]
