"""Driftline's default detection config on a stationary fleet and on planted shifts.

Stationary fleet (:mod:`driftline.dev.fleet`): binary classifiers whose world never changes, at
positive rates 1%, 5%, 20% and 50% (``--models-per-rate`` each), 10% of the labels flipped,
labels late (mean 30 s at 10 predictions/s: shuffled over ~300 predictions), 5% twice, 2% never.
Every drift event published by :class:`detectors.Pipeline` is a false alarm, performance signals
included; they are counted by signal, per 100k samples of the signal (predictions for
prediction-fed signals, labels for label-fed ones), for the default config, the previous default
(DDM on ``error``, an absolute F1 threshold 0.7, no baseline) and River's raw defaults.

Planted shifts at prediction ``--shift-at`` in ``--shift-models`` models: the error rate 10% →
40% (1% positives, whose error is ~10.7% label noise), a feature mean +3 σ, a score +0.3, and a
real F1 drop of about 0.1 (50% positives, 18% of predictions inverted); the delay is the number of
samples of the new regime (shifted predictions, or labels of shifted predictions) the first drift
event of the shift's signal (and of any signal) had read.

    .venv/bin/python bench/default_false_alarms.py [--models-per-rate 6] [--samples 6000]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import river

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detectors import DetectionConfig, DriftEvent
from detectors.performance import ClassificationWindow
from driftline.dev.fleet import (
    FLEET_POSITIVE_RATES,
    detection_delay,
    fleet_events,
    run_pipeline,
)

#: Shift → (positive rate of the shifted models, the signal that should catch it).
SHIFTS: dict[str, tuple[float, str]] = {
    "error": (0.01, "error"),
    "feature": (0.5, "feature:amount"),
    "score": (0.5, "score"),
    "f1": (0.5, "metric:f1"),
}


def configs() -> dict[str, DetectionConfig]:
    return {
        "Driftline defaults": DetectionConfig(),
        "previous defaults (DDM error, F1 < 0.7 threshold, no baseline)": (
            DetectionConfig.model_validate({
                "signals": {"error": [{"type": "ddm", "warm_start": 300,
                                       "warning_threshold": 3.0, "drift_threshold": 4.0}],
                            "residual": [{"type": "adwin", "delta": 0.0002}],
                            "score": [{"type": "adwin", "delta": 0.0002}],
                            "feature": [{"type": "adwin", "delta": 0.0002}]},
                "metric_thresholds": {"f1": 0.7},
                "performance_baseline": {"metrics": []}})),
        "River raw defaults (DDM, PageHinkley)": DetectionConfig.model_validate({
            "signals": {"error": [{"type": "ddm"}], "score": [{"type": "page_hinkley"}],
                        "feature": [{"type": "page_hinkley"}]},
            "warmup_samples": 0, "cooldown_samples": 0, "performance_baseline": {"metrics": []},
            "metric_thresholds": {"f1": 0.7}}),
    }


def _by_signal(events: list[DriftEvent]) -> dict[str, int]:
    out: dict[str, int] = {}
    for e in events:
        out[e.signal] = out.get(e.signal, 0) + 1
    return dict(sorted(out.items()))


def _f1(pairs: list[tuple[bool, bool]]) -> float:
    window = ClassificationWindow(len(pairs))
    for predicted, actual in pairs:
        window.update(predicted, actual)
    return window.metric("f1")


def f1_drop(events: list[tuple[float, Any]], shift_at: int) -> float:
    """F1 before the shift minus F1 after it, over the model's labelled predictions."""
    predictions = {e.prediction_id: e for _, e in events if e.type == "prediction"}
    before, after = [], []
    for _, e in events:
        if e.type != "label":
            continue
        p = predictions[e.prediction_id]
        k = int(e.prediction_id.rsplit("-", 1)[1])
        (before if k < shift_at else after).append((bool(p.prediction), bool(e.label)))
    return _f1(before) - _f1(after)


def fleet_figures(config: DetectionConfig, fleet: list[list[tuple[float, Any]]],
                  samples: int) -> dict[str, Any]:
    started = time.process_time()
    published = run_pipeline(config, fleet)[0]
    cpu = time.process_time() - started
    events = [e for e in published if e.severity == "drift"]
    models = len(fleet)
    by_signal = _by_signal(events)
    return {
        "false_drift_events": len(events),
        "models_affected": len({e.model_id for e in events}),
        "by_signal": by_signal,
        "per_100k": {k: round(1e5 * v / (models * samples), 2) for k, v in by_signal.items()},
        "warnings_by_signal": _by_signal([e for e in published if e.severity == "warning"]),
        "cpu_s": round(cpu, 1),
    }


def planted_figures(config: DetectionConfig, shift: str, models: int, samples: int,
                    shift_at: int) -> dict[str, Any]:
    rate, signal = SHIFTS[shift]
    streams = [fleet_events(f"s{k}", rate, samples, seed=9000 + k, shift=shift,
                            shift_at=shift_at) for k in range(models)]
    events, fed = run_pipeline(config, streams)
    out: dict[str, Any] = {"signal": signal}
    for wanted, key in ((signal, "by_signal"), (None, "any_signal")):
        delays = [detection_delay(events, fed, f"s{k}", shift_at, wanted) for k in range(models)]
        found = [d for d in delays if d is not None]
        out[key] = {"detected": len(found), "median": statistics.median(found) if found else None,
                    "max": max(found) if found else None}
        if key == "any_signal":
            firsts = []
            for k in range(models):
                hits = sorted((e.source.offset, e.signal) for e in events
                              if e.model_id == f"s{k}" and e.severity == "drift")
                firsts.extend(s for _, s in hits[:1])
            out[key]["first_signals"] = sorted(set(firsts))
    if shift == "f1":
        out["f1_drop_mean"] = round(statistics.mean(f1_drop(s, shift_at) for s in streams), 3)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-per-rate", type=int, default=6)
    parser.add_argument("--samples", type=int, default=6_000)
    parser.add_argument("--shift-at", type=int, default=3_000)
    parser.add_argument("--shift-models", type=int, default=10)
    parser.add_argument("--only-defaults", action="store_true")
    args = parser.parse_args()
    print(f"Python {sys.version.split()[0]}, River {river.__version__}, {platform.machine()}, "
          f"cores {os.cpu_count()}, {platform.platform()}")
    fleet = [
        fleet_events(f"r{int(rate * 100):02d}-{k}", rate, args.samples,
                     seed=int(rate * 1000) * 100 + k)
        for rate in FLEET_POSITIVE_RATES for k in range(args.models_per_rate)
    ]
    for name, config in configs().items():
        if args.only_defaults and name != "Driftline defaults":
            continue
        print(f"\n== {name}")
        f = fleet_figures(config, fleet, args.samples)
        print(f"stationary fleet: {len(fleet)} models x {args.samples} predictions: "
              f"{f['false_drift_events']} false drift events ({f['models_affected']}/{len(fleet)} "
              f"models; by signal {f['by_signal']}; per 100k samples of the signal "
              f"{f['per_100k']}); warnings (not drifts) {f['warnings_by_signal']}; CPU {f['cpu_s']} s")
        for shift in SHIFTS:
            p = planted_figures(config, shift, args.shift_models, args.samples, args.shift_at)
            extra = f" (F1 drop {p['f1_drop_mean']})" if "f1_drop_mean" in p else ""
            for key, what in (("by_signal", p["signal"]), ("any_signal", "any")):
                d = p[key]
                firsts = f", first events from {d['first_signals']}" if key == "any_signal" else ""
                print(f"shift {shift}{extra}, signal {what}: detected in {d['detected']}/"
                      f"{args.shift_models}; delay (samples of the new regime) median "
                      f"{d['median']}, max {d['max']}{firsts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
