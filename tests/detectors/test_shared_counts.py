"""Prediction watchers count through the key (``seen - base``) and read ADWIN's window total only
where it can cut; published events must equal per-watcher counting and summing, including with
missing scores, missing or non-numeric features, several detectors per signal and tiny clocks."""

from __future__ import annotations

import pickle
import random
from typing import Any

from detectors import DetectionConfig, Prediction, Source
from detectors.feature_signals import FeatureSignalsConfig
from detectors.lifecycle import Watcher
from detectors.monitor import KeyMonitor

SIGNALS: dict[str, list[dict[str, Any]]] = {
    "score": [
        {"type": "adwin", "clock": 1, "delta": 0.05},
        {"type": "adwin", "name": "adwin7", "clock": 7, "delta": 0.05},
    ],
    "feature": [{"type": "adwin", "delta": 0.05}],
    "feature:b": [
        {"type": "adwin", "clock": 3, "delta": 0.05},
        {"type": "page_hinkley", "threshold": 5},
    ],
}


def stream(n: int, seed: int) -> list[Prediction]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        shift = 2.0 if (i // 400) % 2 else 0.0
        features: dict[str, Any] = {}
        if rng.random() < 0.8:
            features["a"] = rng.gauss(shift, 1)
        if rng.random() < 0.9:
            features["b"] = rng.choice([rng.randint(0, 3) + int(shift), "n/a", True])
        if i > 300 and rng.random() < 0.7:
            features["late"] = rng.gauss(-shift, 1)
        out.append(
            Prediction(
                prediction_id=f"p{i}",
                model_id="m",
                model_version="v1",
                timestamp=1_700_000_000_000 + i,
                prediction=True,
                score=None if rng.random() < 0.15 else rng.random() * 0.3 + shift / 4,
                features=features,
            )
        )
    return out


def reference(config: DetectionConfig, preds: list[Prediction]) -> list[tuple[Any, ...]]:
    """Per-watcher counting and running sums (the lifecycle module's documented protocol)."""

    def group(signal: str) -> list[Watcher]:
        return [
            Watcher(spec, signal=signal, warmup=0, cooldown=0)
            for spec in config.detectors_for("m", signal)
        ]

    groups: dict[str, list[Watcher]] = {"score": group("score")}
    found = []
    for i, p in enumerate(preds):
        values: list[tuple[str, Any]] = [] if p.score is None else [("score", p.score)]
        values += [
            ("feature:" + k, v) for k, v in p.features.items() if v.__class__ in (int, float)
        ]
        for signal, x in values:
            if signal not in groups:
                groups[signal] = group(signal)
            for w in groups[signal]:
                w.detector.update(x)
                w.n += 1
                w.total += x
                if w.detector.drift_detected and w.on_drift():
                    found.append((i, signal, w.label, w.fired_samples, w.evidence()))
    return found


def events(monitor: KeyMonitor, preds: list[Prediction], start: int = 0) -> list[tuple[Any, ...]]:
    found = []
    for i, p in enumerate(preds, start):
        for e in monitor.observe_prediction(p, Source(topic="t", partition=0, offset=i)):
            found.append((i, e.signal, e.detector, e.samples_seen, e.stats))
    return found


def config() -> DetectionConfig:
    return DetectionConfig(
        warmup_samples=0, cooldown_samples=0, metric_thresholds={}, signals=SIGNALS,
        feature_signals=FeatureSignalsConfig.off(),  # River's watchers only
    )


def test_shared_counts_equal_per_watcher_counting() -> None:
    cfg = config()
    for seed in range(3):
        preds = stream(3000, seed)
        expected = reference(cfg, preds)
        assert len(expected) > 10
        assert events(KeyMonitor(cfg, "m", "v1", None), preds) == expected


def strip_to_old_layout(monitor: KeyMonitor) -> KeyMonitor:
    """A pickle of ``monitor`` as written before the shared counts (no seen/next_due/base/due)."""
    clone = pickle.loads(pickle.dumps(monitor))
    state = clone.__getstate__()
    del state["seen"], state["next_due"]
    for w in clone.watchers():
        ws = w.__getstate__()
        del ws["base"], ws["due"], ws["step"]
        w.__setstate__(ws)
    old = KeyMonitor.__new__(KeyMonitor)
    old.__setstate__(state)
    old.attach(monitor.config, monitor.clock)
    return old


def test_snapshot_and_old_layout_restore_continue_identically() -> None:
    cfg = config()
    preds = stream(3000, 7)
    expected = events(KeyMonitor(cfg, "m", "v1", None), preds)
    for cut in (1, 137, 1000, 1601):
        monitor = KeyMonitor(cfg, "m", "v1", None)
        head = events(monitor, preds[:cut])
        clone = pickle.loads(pickle.dumps(monitor))
        clone.attach(cfg, monitor.clock)
        assert head + events(clone, preds[cut:], cut) == expected
        old = strip_to_old_layout(monitor)
        assert head + events(old, preds[cut:], cut) == expected
