"""ADWIN drift events carry the window width and the means before and after the cut (SPEC §3).

River drops the cut-off buckets at the detection; Driftline recovers the dropped part's mean from
a running sum. Checked here against the stream itself: ``mean_before`` is the mean of the values
ADWIN dropped and ``mean_after`` the mean of the ones it kept, and on a known jump
``mean_before`` is the true pre-change mean. River cuts at bucket granularity, so the kept window
still holds some pre-change samples: ``mean_after`` lies between the two true means.
"""

from __future__ import annotations

import pickle
import random
import statistics
from typing import Any

import pytest

from detectors import DetectionConfig, Prediction, Source
from detectors.feature_signals import FeatureSignalsConfig
from detectors.lifecycle import Watcher
from detectors.monitor import KeyMonitor
from detectors.river_detectors import ADWINSpec

BASE_MS = 1_700_000_000_000


def feed(values: list[float], spec: dict[str, Any] | None = None) -> list[Any]:
    """Feed ``values`` as feature ``x`` of one key; the published ADWIN drift events."""
    config = DetectionConfig.model_validate(
        {
            "signals": {"feature": [{"type": "adwin", **(spec or {})}], "score": []},
            "warmup_samples": 0,
            "cooldown_samples": 0,
            "metric_thresholds": {},
            "feature_signals": FeatureSignalsConfig.off(),  # the ADWIN events only
        }
    )
    monitor = KeyMonitor(config, "m", "v1", None)
    events = []
    for i, x in enumerate(values):
        p = Prediction(
            prediction_id=f"p{i}",
            model_id="m",
            model_version="v1",
            timestamp=BASE_MS + i,
            prediction=True,
            features={"x": x},
        )
        events.extend(monitor.observe_prediction(p, Source(topic="t", partition=0, offset=i)))
    return events


def check_against_stream(values: list[float], events: list[Any]) -> None:
    """Each event's means are those of the dropped and kept parts of its detector's window."""
    start = 0  # River resets the detector on the update after a drift
    for e in events:
        end = e.source.offset + 1
        s = e.stats
        assert s["width_before"] == e.samples_seen == end - start
        kept = values[end - s["width"] : end]
        dropped = values[start : end - s["width"]]
        assert s["mean_after"] == pytest.approx(statistics.fmean(kept), abs=1e-9)
        assert s["mean_before"] == pytest.approx(statistics.fmean(dropped), abs=1e-9)
        start = end


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_gaussian_jump(seed: int) -> None:
    rng = random.Random(seed)
    values = [rng.gauss(0.1, 0.1) for _ in range(3000)] + [rng.gauss(0.9, 0.1) for _ in range(3000)]
    events = feed(values)
    assert events, "ADWIN must catch a jump of 8 standard deviations"
    check_against_stream(values, events)
    first = events[0].stats
    assert 3000 <= events[0].source.offset < 3100
    assert first["mean_before"] == pytest.approx(0.1, abs=0.01)
    assert first["mean_before"] < first["mean_after"] < 0.9


@pytest.mark.parametrize("seed", [4, 5])
def test_bernoulli_jump_and_back(seed: int) -> None:
    """0.1 → 0.9 → 0.1: each episode's mean_before is the mean it left (the sum resets)."""
    rng = random.Random(seed)
    values: list[float] = [
        float(rng.random() < p) for p in [0.1] * 4000 + [0.9] * 4000 + [0.1] * 4000
    ]
    events = feed(values, {"delta": 0.0002})
    check_against_stream(values, events)
    offsets = [e.source.offset for e in events]
    up = next(e for e in events if 4000 <= e.source.offset < 4200)
    down = next(e for e in events if 8000 <= e.source.offset < 8200)
    assert offsets.index(up.source.offset) < offsets.index(down.source.offset)
    assert up.stats["mean_before"] == pytest.approx(0.1, abs=0.03)
    assert up.stats["mean_before"] < up.stats["mean_after"]
    assert down.stats["mean_before"] == pytest.approx(0.9, abs=0.03)
    assert down.stats["mean_after"] < down.stats["mean_before"]


def test_restored_old_snapshot_recovers_the_running_sum() -> None:
    """A watcher pickled before ``total`` existed gets it back from ADWIN's own window total."""
    rng = random.Random(9)
    values = [rng.gauss(0.0, 1.0) for _ in range(500)] + [rng.gauss(5.0, 1.0) for _ in range(500)]
    w = Watcher(ADWINSpec(), signal="feature:x", warmup=0, cooldown=0)
    for x in values[:400]:
        w.detector.update(x)
        w.n += 1
        w.total += x
    state = w.__getstate__()
    assert state["total"] == pytest.approx(sum(values[:400]))
    del state["total"], state["fired_total"]
    restored = pickle.loads(pickle.dumps(w))
    restored.__setstate__(state)
    assert restored.total == pytest.approx(sum(values[:400]), rel=1e-9)
    for x in values[400:]:
        restored.detector.update(x)
        restored.n += 1
        restored.total += x
        if restored.detector.drift_detected and restored.on_drift():
            stats = restored.evidence()
            assert stats["mean_before"] == pytest.approx(0.0, abs=0.15)
            break
    else:
        pytest.fail("no drift")
