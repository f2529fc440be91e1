"""What a tracked key holds of its own: settings and watcher plans shared by a model's keys,
trails and suppressed counts made when first used, old snapshots' fields read back."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta

from detectors.config import DetectionConfig
from detectors.contracts import Source
from detectors.events import InputLabel, InputPrediction
from detectors.lifecycle import Watcher
from detectors.monitor import TRAIL_EVERY, KeyMonitor
from detectors.pipeline import Pipeline
from detectors.river_detectors import ADWINSpec, SlottedADWIN

T0 = datetime(2024, 1, 1, tzinfo=UTC)
THREE = {"signals": {"error": [{"type": "ddm"}], "score": [{"type": "adwin"}],
                     "feature": [{"type": "adwin"}]},
         "feature_signals": {"numeric": [], "categorical": [], "boolean": [], "joint": None,
                             "cbpe": None},
         "performance_baseline": {"metrics": []}}


def _feed(pipeline: Pipeline, segments: int, rounds: int) -> None:
    n = 0
    for r in range(rounds):
        for s in range(segments):
            pid = f"{s}-{r}"
            pipeline.process(InputPrediction(
                prediction_id=pid, model_id="m", model_version="v1", segment=f"s{s}",
                timestamp=T0 + timedelta(milliseconds=n), features={"x": (s + r) % 7 / 7},
                score=(s % 10) / 10, prediction=s % 2 == 0), Source(topic="t", partition=0,
                                                                    offset=n))
            n += 1
            pipeline.process(InputLabel(prediction_id=pid, model_id="m",
                                        timestamp=T0 + timedelta(milliseconds=n),
                                        label=(s + r) % 3 == 0),
                             Source(topic="t", partition=0, offset=n))
            n += 1


def test_a_models_keys_share_their_settings_and_watcher_plans() -> None:
    pipeline = Pipeline(DetectionConfig.model_validate(THREE))
    _feed(pipeline, segments=5, rounds=3)
    monitors = [pipeline.monitor("m", "v1", f"s{s}") for s in range(5)]
    assert all(m is not None for m in monitors)
    first = monitors[0]
    assert first is not None
    for other in monitors[1:]:
        assert other is not None and other.settings is first.settings
        for mine, theirs in zip(other.watchers(), first.watchers(), strict=True):
            assert mine.plan is theirs.plan and mine.detector is not theirs.detector
    assert [w.detector.__class__.__name__ for w in first.watchers()] == [
        "SlottedADWIN", "SlottedADWIN", "DDM"]
    restored = Pipeline(DetectionConfig.model_validate(THREE))
    restored.restore_model("m", pipeline.snapshot_model("m"))
    again = [restored.monitor("m", "v1", f"s{s}") for s in range(5)]
    assert again[0] is not None and again[0].settings is not first.settings  # its own config
    assert all(m is not None and m.settings is again[0].settings for m in again)
    assert all(m is not None and m.score[0].plan is again[0].score[0].plan for m in again)


def test_trails_are_made_at_their_first_kept_sample() -> None:
    config = DetectionConfig.model_validate(THREE)
    monitor = KeyMonitor(config, "m", "v1", None)
    for i in range(TRAIL_EVERY):
        assert monitor.prediction_trail is None
        monitor.observe_label(True, i % 2 == 0, T0, ("t", 0, i))
        assert (monitor.label_trail is not None) == (i == TRAIL_EVERY - 1)
    assert monitor.label_trail is not None and monitor.label_trail.kept == [TRAIL_EVERY]
    state = pickle.loads(pickle.dumps(monitor))
    assert state.prediction_trail is None and state.label_trail is not None


def test_suppressed_counts_read_and_restore_by_name() -> None:
    w = Watcher(ADWINSpec(), signal="score", warmup=10, cooldown=100)
    assert w.suppressed is None
    assert (w.suppressed_warmup, w.suppressed_cooldown, w.suppressed_direction) == (0, 0, 0)
    w.n = 5
    w._suppress(5)  # a firing within the warm-up
    w.n = 50
    w._suppress(50)
    w._suppress(50)
    assert (w.suppressed_warmup, w.suppressed_cooldown) == (1, 2)
    state = w.__getstate__()
    assert (state["suppressed_warmup"], state["suppressed_cooldown"],
            state["suppressed_direction"]) == (1, 2, 0)
    again = Watcher.__new__(Watcher)
    again.__setstate__(dict(state))
    assert again.suppressed == [1, 2, 0] and again.detector.__class__ is SlottedADWIN
    del state["suppressed_direction"]  # a snapshot from before ADWIN's direction
    older = Watcher.__new__(Watcher)
    older.__setstate__(state)
    assert (older.suppressed_warmup, older.suppressed_cooldown,
            older.suppressed_direction) == (1, 2, 0)
