"""Benchmark: Driftline's detection stage against a plain River loop on the same events.

Both sides get the same parsed predictions (several models, versions and segments, numeric and
non-numeric features, a score) and run the same River detectors (Driftline's default config).
The plain loop is the minimum any caller must write: find the key's detectors, update each with
the value, check ``drift_detected``. Driftline's stage is :meth:`KeyMonitor.observe_prediction`
(lookup of the key's monitor included), so the ratio is the cost of Driftline's bookkeeping
(warm-up, cooldown, warning edges, lazily built detectors). The full pipeline (join, metrics,
labelled records) is timed too, for information. Runs alternate in one process; best of N.

Also reports memory per tracked key (tracemalloc), for Driftline and for the bare detectors.

    .venv/bin/python bench/detection_stage.py [--predictions 60000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import river
from river import drift

from detectors import DetectionConfig, Label, Pipeline, Prediction, Source
from detectors.monitor import KeyMonitor

BASE_MS = 1_700_000_000_000


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def make_events(n: int, seed: int = 0) -> tuple[list[Prediction], list[Label]]:
    rng = random.Random(seed)
    predictions, labels = [], []
    for i in range(n):
        model = f"m{rng.randrange(8)}"
        predictions.append(
            Prediction(
                prediction_id=f"p{i}",
                model_id=model,
                model_version="v1" if i < n * 0.7 else "v2",
                segment=rng.choice(["eu", "us"]),
                timestamp=BASE_MS + i,
                prediction=rng.random() < 0.5,
                score=rng.random(),
                features={
                    "amount": rng.gauss(0, 1) + (3 if i > n // 2 else 0),
                    "age": rng.randint(18, 90),
                    "balance": rng.gauss(100, 20),
                    "country": rng.choice(["FR", "DE"]),
                    "is_new": rng.random() < 0.2,
                },
            )
        )
        labels.append(
            Label(
                prediction_id=f"p{i}",
                model_id=model,
                timestamp=BASE_MS + i + 5,
                label=rng.random() < 0.5,
            )
        )
    return predictions, labels


def plain_river(predictions: list[Prediction], config: DetectionConfig) -> int:
    """The plain loop: per key, per signal, River detectors; count firings."""
    spec = config.signals["feature"][0]
    delta = spec.delta
    table: dict[tuple[str, str, str | None], dict[str, Any]] = {}
    fired = 0
    for p in predictions:
        key = (p.model_id, p.model_version, p.segment)
        dets = table.get(key)
        if dets is None:
            dets = table[key] = {}
        if p.score is not None:
            d = dets.get("score")
            if d is None:
                d = dets["score"] = drift.ADWIN(delta=delta)
            d.update(p.score)
            if d.drift_detected:
                fired += 1
        for name, value in p.features.items():
            cls = value.__class__
            if cls is float or cls is int:
                d = dets.get(name)
                if d is None:
                    d = dets[name] = drift.ADWIN(delta=delta)
                d.update(value)
                if d.drift_detected:
                    fired += 1
    return fired


def driftline_stage(predictions: list[Prediction], config: DetectionConfig) -> int:
    monitors: dict[tuple[str, str, str | None], KeyMonitor] = {}
    source = Source(topic="bench", partition=0, offset=0)
    fired = 0
    for p in predictions:
        key = (p.model_id, p.model_version, p.segment)
        monitor = monitors.get(key)
        if monitor is None:
            monitor = monitors[key] = KeyMonitor(config, *key)
        events = monitor.observe_prediction(p, source)
        if events:
            fired += len(events)
    return fired


def full_pipeline(
    predictions: list[Prediction], labels: list[Label], config: DetectionConfig
) -> int:
    pipeline = Pipeline(config)
    source = Source(topic="bench", partition=0, offset=0)
    n = 0
    for p, label in zip(predictions, labels, strict=True):
        n += len(pipeline.process(p, source))
        n += len(pipeline.process(label, source))
    return n


def timed(fn: Any, *args: Any) -> float:
    gc.collect()
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def memory_per_key(
    config: DetectionConfig, keys: int = 400, per_key: int = 300
) -> tuple[float, float]:
    rng = random.Random(1)
    preds = [
        Prediction(
            prediction_id=f"p{k}-{i}",
            model_id=f"m{k}",
            model_version="v1",
            timestamp=BASE_MS + i,
            prediction=True,
            score=rng.random(),
            features={
                "amount": rng.gauss(0, 1),
                "age": rng.randint(18, 90),
                "balance": rng.gauss(100, 20),
            },
        )
        for k in range(keys)
        for i in range(per_key)
    ]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    monitors: dict[str, KeyMonitor] = {}
    source = Source(topic="bench", partition=0, offset=0)
    for p in preds:
        m = monitors.get(p.model_id)
        if m is None:
            m = monitors[p.model_id] = KeyMonitor(config, p.model_id, "v1", None)
        m.observe_prediction(p, source)
    gc.collect()
    driftline_bytes = (tracemalloc.get_traced_memory()[0] - before) / keys
    del monitors
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    table: dict[str, dict[str, Any]] = {}
    for p in preds:
        dets = table.setdefault(p.model_id, {})
        for name, value in [("score", p.score), *p.features.items()]:
            d = dets.get(name)
            if d is None:
                d = dets[name] = drift.ADWIN(delta=0.0002)
            d.update(value)
    gc.collect()
    river_bytes = (tracemalloc.get_traced_memory()[0] - before) / keys
    tracemalloc.stop()
    return driftline_bytes, river_bytes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--predictions", type=int, default=60_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"CPU: {cpu_model()}, cores: {os.cpu_count()}")
    print(f"Python {sys.version.split()[0]}, River {river.__version__}, {platform.platform()}")
    config = DetectionConfig()
    predictions, labels = make_events(args.predictions)
    updates = sum(
        1 + sum(1 for v in p.features.values() if v.__class__ in (int, float)) for p in predictions
    )
    print(
        f"{len(predictions)} predictions, {updates} detector updates per run, "
        f"detectors: {config.signals['feature'][0]!r}"
    )
    assert plain_river(predictions, config) > 0
    river_t, stage_t, full_t = [], [], []
    for _ in range(args.repeats):
        river_t.append(timed(plain_river, predictions, config))
        stage_t.append(timed(driftline_stage, predictions, config))
        full_t.append(timed(full_pipeline, predictions, labels, config))
    r, s, f = min(river_t), min(stage_t), min(full_t)
    print(f"plain River loop:          {r:.3f} s  ({r / updates * 1e9:.0f} ns/update)")
    print(f"Driftline detection stage: {s:.3f} s  ({s / updates * 1e9:.0f} ns/update)")
    print(
        f"  ratio stage / River:     {s / r:.3f}  (bookkeeping overhead {100 * (s / r - 1):+.1f}%)"
    )
    print(
        f"full Pipeline.process (predictions + labels, join, error DDM, F1 window, records): "
        f"{f:.3f} s, {f / (2 * len(predictions)) * 1e6:.2f} us/event, ratio to River loop {f / r:.2f}"
    )
    d_bytes, r_bytes = memory_per_key(config)
    print(
        f"memory per tracked key (score + 3 numeric features, 300 samples): "
        f"Driftline {d_bytes / 1024:.1f} KiB, bare River detectors {r_bytes / 1024:.1f} KiB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
