"""Lazy restore (:meth:`Pipeline.restore_model` with ``lazy=True``): the keys are decoded when
first needed, and nothing observable differs from an eager restore — outputs, counters, keys,
idle-key retirement, and the snapshot a never-touched model writes back."""

from __future__ import annotations

import logging
import random
from datetime import UTC, datetime

import pytest

from detectors import DetectionConfig, Pipeline, SnapshotError
from detectors import snapshot as snapshot_format
from tests.detectors.detection_streams import BASE_MS, random_stream
from tests.detectors.test_restore_and_join import run

FIXED = datetime(2030, 1, 1, tzinfo=UTC)
CONFIG = DetectionConfig(cooldown_samples=100, warmup_samples=20)


def _restored(snapshots: dict[str, bytes], lazy: bool, config: DetectionConfig = CONFIG
              ) -> Pipeline:
    pipeline = Pipeline(config, clock=lambda: FIXED)
    for model_id, data in snapshots.items():
        pipeline.restore_model(model_id, data, lazy=lazy)
    return pipeline


def _cut(cut: int, config: DetectionConfig = CONFIG) -> tuple[list, list, dict[str, bytes]]:
    events = random_stream(21, n_predictions=3000)
    first = Pipeline(config, clock=lambda: FIXED)
    run(first, events[:cut])
    return events, run(Pipeline(config, clock=lambda: FIXED), events), {
        m: first.snapshot_model(m) for m in first.model_ids()}


@pytest.mark.parametrize("cut", [700, 4100])
def test_lazy_restore_gives_the_same_outputs_counts_and_keys(cut: int) -> None:
    events, expected, snapshots = _cut(cut)
    eager, lazy = _restored(snapshots, lazy=False), _restored(snapshots, lazy=True)
    assert lazy._lazy and not lazy._models  # nothing decoded yet
    assert sorted(lazy.keys(), key=repr) == sorted(eager.keys(), key=repr)
    assert lazy.counter_view() == eager.counter_view()
    assert lazy.model_ids() == eager.model_ids()
    tail_eager = run(eager, events[cut:], start=cut)
    tail_lazy = run(lazy, events[cut:], start=cut)
    assert [repr(o) for o in tail_lazy] == [repr(o) for o in tail_eager]
    assert [repr(o) for o in tail_lazy] == [repr(o) for o in expected[-len(tail_lazy):]]
    assert lazy.counter_view() == eager.counter_view() and lazy.counters.balanced()
    assert not lazy._lazy  # every model had an event


def test_a_never_touched_model_is_written_back_unchanged() -> None:
    events, expected, snapshots = _cut(2500)
    lazy = _restored(snapshots, lazy=True)
    rewritten = {m: lazy.snapshot_model(m) for m in lazy.model_ids()}  # none decoded
    assert lazy._lazy.keys() == snapshots.keys()
    for model_id, data in rewritten.items():  # the keys' bytes are the restored ones
        assert snapshot_format.split(data)[1] == snapshot_format.split(snapshots[model_id])[1]
    again = _restored(rewritten, lazy=False)
    tail = run(again, events[2500:], start=2500)
    assert [repr(o) for o in tail] == [repr(o) for o in expected[-len(tail):]]


def test_idle_keys_of_a_lazy_model_are_retired_as_after_an_eager_restore() -> None:
    config = DetectionConfig(cooldown_samples=100, warmup_samples=20, idle_key_ttl_s=3600)
    _, _, snapshots = _cut(700, config)
    later = {"type": "prediction", "prediction_id": "late", "model_id": "other",
             "model_version": "v1", "prediction": True, "features": {"x": 1.0},
             "timestamp": BASE_MS + 10 * 86_400_000}
    pipelines = [_restored(snapshots, lazy=False, config=config),
                 _restored(snapshots, lazy=True, config=config)]
    for pipeline in pipelines:
        run(pipeline, [later])
    eager, lazy = pipelines
    assert lazy.keys() == eager.keys() == [("other", "v1", None)]
    assert lazy.counters.keys_retired == eager.counters.keys_retired > 0
    assert lazy.dirty_models() == eager.dirty_models()


def test_corrupt_keys_found_at_first_use_start_fresh(caplog: pytest.LogCaptureFixture) -> None:
    events, _, snapshots = _cut(700)
    snapshots["fraud"] = snapshots["fraud"][:-3] + b"xyz"  # inside the keys' bytes
    with pytest.raises(SnapshotError, match="checksum"):
        _restored(snapshots, lazy=False)
    lazy = _restored(snapshots, lazy=True)  # the head is intact: ready
    with caplog.at_level(logging.ERROR, logger="detectors.pipeline"):
        run(lazy, events[700:], start=700)
    assert "model fraud: its restored keys cannot be decoded" in caplog.text
    assert lazy.counters.balanced()
    assert {m for m, _, _ in lazy.keys()} == {"fraud", "churn", "price"}  # noqa: SIM118


def test_a_snapshot_written_before_the_split_still_restores() -> None:
    events, expected, _ = _cut(700)
    first = Pipeline(CONFIG, clock=lambda: FIXED)
    run(first, events[:700])
    old = {m: snapshot_format.encode(m, {"model_id": m, "watermark": first.watermark,
                                         "keys": first._models.get(m, {}),
                                         "join": first.join.export_model(m)})
           for m in first.model_ids()}
    for lazy in (False, True):
        tail = run(_restored(old, lazy=lazy), events[700:], start=700)
        assert [repr(o) for o in tail] == [repr(o) for o in expected[-len(tail):]]


def _sorted_views(pipeline: Pipeline, detector_statistics: bool = True) -> list:
    return sorted(pipeline.key_views(detector_statistics=detector_statistics),
                  key=lambda v: (v.model_id, v.model_version, v.segment or ""))


@pytest.mark.parametrize("detector_statistics", [True, False])
def test_a_lazy_models_key_views_are_an_eager_restores_before_any_decode(
        detector_statistics: bool) -> None:
    _, _, snapshots = _cut(4100)
    eager, lazy = _restored(snapshots, lazy=False), _restored(snapshots, lazy=True)
    views = _sorted_views(lazy, detector_statistics)
    assert lazy._lazy and not lazy._models  # read from the heads: nothing decoded
    assert views == _sorted_views(eager, detector_statistics)
    assert len(views) == len(eager.keys())
    assert any(v.rolling_metrics for v in views) and any(v.estimated_metrics for v in views)
    assert all(bool(v.detectors) == detector_statistics for v in views)
    # Written back undecoded, the views survive a second restore.
    again = _restored({m: lazy.snapshot_model(m) for m in lazy.model_ids()}, lazy=True)
    assert _sorted_views(again) == _sorted_views(eager)


def _without_views(data: bytes, model_id: str) -> bytes:
    """``data`` as a build from before heads kept views wrote it (two frames, no views)."""
    head, frame = snapshot_format.split(data)
    payload = snapshot_format.decode(head, model_id)
    del payload["views"], payload["suppressed_features"]
    return snapshot_format.encode(model_id, payload) + bytes(frame)


def test_a_two_frame_snapshot_without_views_restores_and_gets_its_views_at_decode() -> None:
    events, expected, snapshots = _cut(700)
    old = {m: _without_views(data, m) for m, data in snapshots.items()}
    lazy, eager = _restored(old, lazy=True), _restored(old, lazy=False)
    assert list(lazy.key_views()) == []  # the gap stays for such snapshots until decoded
    assert lazy.counter_view() == eager.counter_view()
    assert _sorted_views(eager) == _sorted_views(_restored(snapshots, lazy=False))
    tail = run(lazy, events[700:], start=700)
    assert [repr(o) for o in tail] == [repr(o) for o in expected[-len(tail):]]
    assert _sorted_views(lazy)  # decoded by their events


def test_suppressed_counts_of_a_lazy_model_follow_the_readers_feature_signals() -> None:
    """A key decoded under ``feature_signals`` off drops its feature watch, and the firings
    that watch suppressed with it: a lazy model's counts agree before it is decoded."""
    from detectors.feature_signals import FeatureSignalsConfig

    rng = random.Random(3)
    shifted = [{"type": "prediction", "prediction_id": f"p{i}", "model_id": "m",
                "model_version": "v1", "prediction": True, "score": 0.5,
                "timestamp": BASE_MS + i * 1000,
                "features": {"x": rng.gauss(0 if i < 1500 else 3, 1),
                             "c": "a" if i < 1500 else rng.choice("bcd")}}
               for i in range(3000)]
    writer = DetectionConfig(cooldown_samples=100, warmup_samples=5000)  # firings suppressed
    first = Pipeline(writer, clock=lambda: FIXED)
    run(first, shifted)
    snapshots = {"m": first.snapshot_model("m")}
    assert _restored(snapshots, lazy=True, config=writer).suppressed() == first.suppressed()
    reader = writer.model_copy(update={"feature_signals": FeatureSignalsConfig.off()})
    lazy, eager = (_restored(snapshots, lazy=flag, config=reader) for flag in (True, False))
    assert lazy._lazy and lazy.counter_view() == eager.counter_view()
    assert 0 < lazy.suppressed()["warmup"] < first.suppressed()["warmup"]
    assert _sorted_views(lazy) == _sorted_views(eager)  # no CBPE estimates either
    assert any(v.estimated_metrics for v in _sorted_views(first))
    assert not any(v.estimated_metrics for v in _sorted_views(lazy))


def test_a_model_restored_as_persisted_is_clean_until_it_changes() -> None:
    events, _, snapshots = _cut(2500)
    for lazy in (True, False):
        pipeline = Pipeline(CONFIG, clock=lambda: FIXED)
        for model_id, data in snapshots.items():
            pipeline.restore_model(model_id, data, lazy=lazy, persisted=True)
        assert pipeline.dirty_models() == set()
        fraud = next(e for e in events[2500:] if e["model_id"] == "fraud")
        run(pipeline, [fraud], start=2500)
        assert pipeline.dirty_models() == {"fraud"}
    restored = _restored(snapshots, lazy=True)  # not persisted (a tool's restore): all dirty
    assert restored.dirty_models() == set(snapshots)
