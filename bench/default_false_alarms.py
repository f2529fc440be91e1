"""Driftline's default detection config on a stationary fleet and on planted shifts.

Stationary fleet: binary classifiers whose world never changes, at positive rates 1%, 5%, 20% and
50% (six models each), with 10% of the labels flipped (noise the model cannot learn). Each model's
score is the calibrated probability of its (noise-free) world, its prediction ``score >= 0.5``.
Labels arrive late (exponential delay, mean 30 s of event time, at 10 predictions/s: arrival order
is shuffled over ~300 predictions), 5% of them twice, 2% never. Every drift event published by
:class:`detectors.Pipeline` with ``DetectionConfig()`` is a false alarm, performance signals
included; they are reported by signal, next to River's raw defaults.

Planted shifts (same fleet generator, 50% positives): the error rate 10% → 40%, a feature mean
+3 σ, a score shift; delays in the shifted model's own samples.

    .venv/bin/python bench/default_false_alarms.py [--models-per-rate 6] [--samples 6000]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from typing import Any

import numpy as np
import river

from detectors import DetectionConfig, DriftEvent, Label, Pipeline, Prediction, Source
from detectors.performance import BaselineWatcher, ClassificationWindow

BASE_MS = 1_700_000_000_000
FIXED = datetime(2030, 1, 1, tzinfo=UTC)
FLEET_POSITIVE_RATES = (0.01, 0.05, 0.20, 0.50)
LABEL_NOISE = 0.10
RATE_PER_S = 10.0
MEAN_LABEL_DELAY_S = 30.0
DUPLICATE_SHARE = 0.05
MISSING_SHARE = 0.02
#: The logit's slope on the model's one informative feature (a fairly good model).
SLOPE = 3.0
#: Share of predictions inverted by the ``f1`` shift (F1 0.78 → about 0.68 at 50% positives).
F1_FLIP = 0.18
BASELINE_SAMPLES = 1000


def _intercept(rate: float) -> float:
    """The logit intercept b with E[sigmoid(b + SLOPE·x)] = rate, x ~ N(0, 1) (bisection)."""
    x = np.random.default_rng(0).standard_normal(200_000)
    lo, hi = -20.0, 20.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if float(np.mean(1 / (1 + np.exp(-(mid + SLOPE * x))))) < rate:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


_INTERCEPTS: dict[float, float] = {}


def _world(rate: float, n: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """(x, score, prediction, observed label) of n stationary samples."""
    b = _INTERCEPTS.setdefault(rate, _intercept(rate))
    x = rng.standard_normal(n)
    score = 1 / (1 + np.exp(-(b + SLOPE * x)))
    truth = rng.random(n) < score
    observed = truth ^ (rng.random(n) < LABEL_NOISE)
    return x, score, score >= 0.5, observed


def _arrivals(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(label arrival times in s, prediction index of each label), in arrival order: delayed,
    shuffled, some duplicated, some missing."""
    predicted_at = np.arange(n) / RATE_PER_S
    keep = rng.random(n) >= MISSING_SHARE
    index = np.flatnonzero(keep)
    twice = index[rng.random(index.size) < DUPLICATE_SHARE]
    index = np.concatenate([index, twice])
    arrival = predicted_at[index] + rng.exponential(MEAN_LABEL_DELAY_S, index.size)
    order = np.argsort(arrival, kind="stable")
    return arrival[order], index[order]


def stationary_error_stream(rate: float, n_labels: int, seed: int) -> np.ndarray:
    """The ``error`` signal (uint8, label-arrival order, duplicates dropped as the join drops
    them) of one stationary model with about ``n_labels`` joined labels."""
    rng = np.random.default_rng(seed)
    n = int(n_labels / (1 - MISSING_SHARE)) + 1
    _, _, predicted, observed = _world(rate, n, rng)
    _, index = _arrivals(n, rng)
    seen = np.zeros(n, dtype=bool)
    first = np.zeros(index.size, dtype=bool)
    for i, k in enumerate(index.tolist()):  # a second label of a prediction is a duplicate
        if not seen[k]:
            seen[k] = first[i] = True
    errors = (predicted[index] != observed[index])[first].astype(np.uint8)
    return errors[:n_labels]


def fleet_events(
    model: str, rate: float, n: int, seed: int, shift: str | None = None, shift_at: int = 0
) -> list[tuple[float, Prediction | Label]]:
    """(event time in s, event) of one model; predictions in order, labels late and shuffled.

    ``shift`` from prediction ``shift_at``: ``error`` (the prediction is wrong with probability
    0.4 instead of following the model), ``feature`` (``amount`` +3 σ), ``score`` (+0.3) or
    ``f1`` (the model's prediction is inverted with probability ``F1_FLIP``: its F1 falls by
    about 0.1).
    """
    rng = np.random.default_rng(seed)
    x, score, predicted, observed = _world(rate, n, rng)
    other = rng.standard_normal(n)
    flip = rng.random(n) < 0.4
    rng_f1 = rng.random(n)
    events: list[tuple[float, Prediction | Label]] = []
    for i in range(n):
        shifted = shift is not None and i >= shift_at
        p = bool(predicted[i])
        s = float(score[i])
        amount = float(other[i])
        if shifted and shift == "error":
            p = (not bool(observed[i])) if flip[i] else bool(observed[i])
        elif shifted and shift == "feature":
            amount += 3.0
        elif shifted and shift == "score":
            s = min(1.0, s + 0.3)
        elif shifted and shift == "f1" and flip[i] and rng_f1[i] < F1_FLIP / 0.4:
            p = not p
        t = i / RATE_PER_S
        events.append((t, Prediction(
            prediction_id=f"{model}-{i}", model_id=model, model_version="v1",
            timestamp=BASE_MS + int(t * 1000), prediction=p, score=round(s, 6),
            features={"x": round(float(x[i]), 6), "amount": round(amount, 6)})))
    arrival, index = _arrivals(n, rng)
    for t, k in zip(arrival.tolist(), index.tolist(), strict=True):
        events.append((t, Label(prediction_id=f"{model}-{k}", model_id=model,
                                timestamp=BASE_MS + int(t * 1000), label=bool(observed[k]))))
    return events


def run_pipeline(
    config: DetectionConfig, streams: list[list[tuple[float, Any]]]
) -> tuple[list[DriftEvent], list[Any]]:
    """All models' events merged in event-time order through one Pipeline: (drift events, the
    events in feed order, so ``source.offset`` indexes it)."""
    order = sorted((t, j, i) for j, s in enumerate(streams) for i, (t, _) in enumerate(s))
    fed = [streams[j][i][1] for _, j, i in order]
    pipeline = Pipeline(config, clock=lambda: FIXED)
    out: list[DriftEvent] = []
    for offset, event in enumerate(fed):
        src = Source.model_construct(topic="bench", partition=0, offset=offset)
        out.extend(o for o in pipeline.process(event, src) if isinstance(o, DriftEvent))
    return out, fed


def joined_pairs(events: list[tuple[float, Any]]) -> list[tuple[bool, bool, int]]:
    """(prediction, label, prediction index) in label-arrival order, second labels dropped: what
    the monitor feeds a model's ``metric:*`` windows."""
    predictions = {e.prediction_id: e for _, e in events if isinstance(e, Prediction)}
    seen: set[str] = set()
    out = []
    for _, e in sorted((x for x in events if isinstance(x[1], Label)), key=lambda x: x[0]):
        if e.prediction_id in seen:
            continue
        seen.add(e.prediction_id)
        p = predictions[e.prediction_id]
        out.append((bool(p.prediction), bool(e.label), int(e.prediction_id.rsplit("-", 1)[1])))
    return out


def baseline_alarms(pairs: list[tuple[bool, bool, int]], window: int = 500) -> list[int]:
    """Positions (in ``pairs``) where ``metric:f1`` against the model's own baseline fires:
    :class:`~detectors.performance.BaselineWatcher` as the monitor is to call it (not wired into
    the monitor yet, see its docstring)."""
    rolling = ClassificationWindow(window)
    watcher = BaselineWatcher("f1", baseline_samples=BASELINE_SAMPLES, window=window,
                              cooldown=1000)
    fired = []
    for k, (predicted, actual, _) in enumerate(pairs):
        rolling.update(predicted, actual)
        watcher.update(predicted, actual)
        if rolling.full and watcher.check(rolling.metric("f1")):
            fired.append(k)
    return fired


def _by_signal(events: list[DriftEvent]) -> dict[str, int]:
    out: dict[str, int] = {}
    for e in events:
        out[e.signal] = out.get(e.signal, 0) + 1
    return dict(sorted(out.items()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-per-rate", type=int, default=6)
    parser.add_argument("--samples", type=int, default=6_000)
    parser.add_argument("--shift-at", type=int, default=3_000)
    parser.add_argument("--shift-models", type=int, default=10)
    args = parser.parse_args()
    print(f"Python {sys.version.split()[0]}, River {river.__version__}, {platform.machine()}, "
          f"cores {os.cpu_count()}")
    raw_river = DetectionConfig.model_validate({
        "signals": {"error": [{"type": "ddm"}], "score": [{"type": "page_hinkley"}],
                    "feature": [{"type": "page_hinkley"}]},
        "warmup_samples": 0, "cooldown_samples": 0})
    fleet = [
        fleet_events(f"r{int(rate * 100):02d}-{k}", rate, args.samples,
                     seed=int(rate * 1000) * 100 + k)
        for rate in FLEET_POSITIVE_RATES for k in range(args.models_per_rate)
    ]
    models = len(fleet)
    # The error detector the River-streams benchmark chose (ADWIN, delta 0.0002, publishing
    # rises only) needs a direction on ADWINSpec; two-sided ADWIN fires at the same samples on a
    # rise, and its extra firings (falls) only add to the false alarms counted here.
    adwin_error = DetectionConfig.model_validate({
        "signals": {"error": [{"type": "adwin", "delta": 0.0002}],
                    "residual": [{"type": "adwin", "delta": 0.0002}],
                    "score": [{"type": "adwin", "delta": 0.0002}],
                    "feature": [{"type": "adwin", "delta": 0.0002}]}})
    for name, config in (("Driftline defaults", DetectionConfig()),
                         ("error: ADWIN delta 0.0002 (the chosen detector, both directions)",
                          adwin_error),
                         ("River raw defaults (DDM, PageHinkley)", raw_river)):
        print(f"\n== {name}")
        started = time.process_time()
        events = [e for e in run_pipeline(config, fleet)[0] if e.severity == "drift"]
        cpu = time.process_time() - started
        affected = len({e.model_id for e in events})
        per_100k = {k: round(1e5 * v / (models * args.samples), 2)
                    for k, v in _by_signal(events).items()}
        print(f"stationary fleet: {models} models x {args.samples} predictions: {len(events)} "
              f"false drift events ({affected}/{models} models; by signal {_by_signal(events)}; "
              f"per 100k predictions or labels of a signal {per_100k}); CPU {cpu:.1f} s")
        if name == "Driftline defaults":
            _report_baseline_watcher(fleet, args)
        for shift in ("error", "feature", "score", "f1"):
            signal = {"error": "error", "feature": "feature:amount", "score": "score",
                      "f1": "error"}[shift]
            streams = [fleet_events(f"s{k}", 0.5, args.samples, seed=9000 + k, shift=shift,
                                    shift_at=args.shift_at) for k in range(args.shift_models)]
            events, fed = run_pipeline(config, streams)
            for wanted in (signal, None):
                delays = _delays(events, fed, wanted, args)
                what = f"shift {shift}, signal {wanted or 'any'}"
                if delays:
                    print(f"{what}: detected in {len(delays)}/{args.shift_models} models; delay "
                          f"(samples of the new regime) median {statistics.median(delays):.0f}, "
                          f"max {max(delays)}")
                else:
                    print(f"{what}: not detected")
    return 0


def _delays(events: list[DriftEvent], fed: list[Any], signal: str | None, args: Any) -> list[int]:
    """Per shifted model, the new-regime samples its first drift event (of ``signal``, or of
    any signal) had read."""
    delays = []
    for k in range(args.shift_models):
        model = f"s{k}"
        hits = sorted(e.source.offset for e in events if e.model_id == model
                      and (signal is None or e.signal == signal) and e.severity == "drift")
        after = [d for d in (_new_regime_samples(fed, o, model, args.shift_at) for o in hits)
                 if d > 0]
        if after:
            delays.append(after[0])
    return delays


def _report_baseline_watcher(fleet: list[list[tuple[float, Any]]], args: Any) -> None:
    """``metric:f1`` against each model's own baseline on the fleet, and on a real F1 drop."""
    false = sum(len(baseline_alarms(joined_pairs(stream))) for stream in fleet)
    print(f"metric:f1 vs own baseline (BaselineWatcher, z=4, baseline {BASELINE_SAMPLES}, "
          f"window 500; not wired into the monitor yet): {false} false alarms on the fleet")
    delays, drops = [], []
    for k in range(args.shift_models):
        pairs = joined_pairs(fleet_events(f"f{k}", 0.5, args.samples, seed=7000 + k,
                                          shift="f1", shift_at=args.shift_at))
        before = [p for p in pairs if p[2] < args.shift_at]
        after = [p for p in pairs if p[2] >= args.shift_at]
        drops.append(_f1(before) - _f1(after))
        shifted_seen = [sum(1 for p in pairs[: i + 1] if p[2] >= args.shift_at)
                        for i in baseline_alarms(pairs)]
        found = [d for d in shifted_seen if d > 0]
        if found:
            delays.append(found[0])
    print(f"real F1 drop of {statistics.mean(drops):.3f} (mean over {args.shift_models} models): "
          f"metric:f1 vs own baseline fired in {len(delays)}/{args.shift_models}; delay (labels "
          f"of the new regime) median {statistics.median(delays) if delays else None}, "
          f"max {max(delays) if delays else None}")


def _f1(pairs: list[tuple[bool, bool, int]]) -> float:
    window = ClassificationWindow(len(pairs))
    for predicted, actual, _ in pairs:
        window.update(predicted, actual)
    return window.metric("f1")


def _index(event: Prediction | Label) -> int:
    return int(event.prediction_id.rsplit("-", 1)[1])


def _new_regime_samples(fed: list[Any], offset: int, model: str, shift_at: int) -> int:
    """Samples of the shifted regime the detector had read when it fired at ``offset``: shifted
    predictions (prediction-fed signals) or labels of shifted predictions (label-fed ones)."""
    trigger = fed[offset]
    kind = type(trigger)
    return sum(1 for e in fed[: offset + 1]
               if type(e) is kind and e.model_id == model and _index(e) >= shift_at)


if __name__ == "__main__":
    sys.exit(main())
