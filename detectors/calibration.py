"""Calibration: choose detector thresholds that meet a target mean time between false alarms.

Like Alibi Detect's online detectors (which configure thresholds from an *expected run time*
by simulating on reference data), :func:`calibrate` takes a reference (no-drift) stream and a
target ``ert``: the mean number of a model's samples (its predictions) between false alarms *of
that model*, all its signals together: the time between false alarms a person watching the model
sees. A model with ``k`` calibrated signals splits it evenly (a union bound): each signal's own
target is ``k · ert`` of the model's samples, i.e. ``k · ert · n_signal / n_model`` of its own
samples (a signal fed by labels that cover 80% of the predictions has 80% as many samples per
unit of time). Then for each (model, signal) found in the stream:

1. builds the signal's value sequence exactly as the pipeline would (join included), and splits
   it in two halves: *calibration* and *held-out*;
2. walks a grid of the detector's threshold parameter from most to least sensitive (ADWIN
   ``delta``; for ``error`` an ADWIN publishing rises only, as the default) and keeps the first
   value whose false-alarm runs on bootstraps of the calibration half (``runs`` fresh detectors
   behind the alert lifecycle, the signal's target samples each, drawn as blocks of ``block``
   consecutive values from random starts: the reference's own dependence and slow variation
   kept, no new change made) give a mean time between published false alarms of at least the
   signal's target with 80% confidence (:func:`poisson_upper`: with ``runs`` = 5, at most 2
   alarms in the 5 runs; with 2 runs, none);
3. reports what that costs: the false-alarm rate on a bootstrap of the *held-out* half, and the
   median detection delay on a synthetic shift (numeric signals: mean + ``shift_std`` standard
   deviations; ``error``: error rate + ``shift_rate``).

The result is per-model signal overrides, written as a ``detection:`` YAML section.

>>> import random
>>> rng = random.Random(0)
>>> values = {("m", "feature:x"): [rng.gauss(0, 1) for _ in range(4000)]}
>>> results = calibrate_sequences(values, ert=2000, runs=5, seed=1)
>>> r = results[0]
>>> r.signal, r.detector, r.parameter, r.target
('feature:x', 'adwin', 'delta', 2000.0)
>>> r.value <= 0.1 and r.heldout_mtbfa >= 2000
True

Two signals of one model share its budget: each gets twice the model's target.

>>> values[("m", "score")] = [rng.gauss(0, 1) for _ in range(4000)]
>>> [(r.signal, r.target) for r in calibrate_sequences(values, ert=1000, runs=2, seed=1)]
[('feature:x', 2000.0), ('score', 2000.0)]
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from detectors.config import DetectionConfig
from detectors.contracts import LabelledRecord, Source
from detectors.decoding import EventDecoder, Refusal
from detectors.events import InputPrediction
from detectors.lifecycle import Watcher
from detectors.pipeline import Pipeline
from detectors.river_detectors import ADWINSpec
from detectors.signals import is_regression, residual_value

__all__ = [
    "CalibrationResult",
    "calibrate",
    "calibrate_sequences",
    "reference_sequences",
    "signal_targets",
]

#: Confidence that a chosen threshold's false-alarm rate is at most one per target.
CONFIDENCE = 0.8
#: Block length of the bootstrap (:func:`resample`): samples kept in their reference order.
BLOCK = 1000
ADWIN_GRID = (0.1, 0.03, 0.01, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 1e-6, 1e-7)


@dataclass(frozen=True)
class CalibrationResult:
    model_id: str
    signal: str
    detector: str
    parameter: str
    value: float
    spec: Any
    samples: int
    #: This signal's own target: its samples between false alarms (its share of the model's).
    target: float
    calibration_mtbfa: float
    heldout_mtbfa: float
    heldout_false_alarm_rate: float
    delay_median: float | None
    detected: float

    def render(self) -> str:
        delay = "n/a" if self.delay_median is None else f"{self.delay_median:.0f}"
        return (
            f"{self.model_id:>12} {self.signal:<20} {self.detector:<12} "
            f"{self.parameter}={self.value:<8g} held-out MTBFA {_fmt(self.heldout_mtbfa)} "
            f"(FA rate {self.heldout_false_alarm_rate:.2e}/sample), "
            f"shift delay median {delay} (detected {100 * self.detected:.0f}%), "
            f"signal target {_fmt(self.target)}"
        )


def _fmt(x: float) -> str:
    return "inf" if math.isinf(x) else f"{x:.0f}"


def reference_sequences(
    lines: Iterable[bytes], task: str = "auto"
) -> dict[tuple[str, str], list[float]]:
    """(model_id, signal) → values in pipeline feed order, from a JSONL reference stream."""
    config = DetectionConfig.model_validate(
        {"signals": {}, "metric_thresholds": {}, "performance_baseline": {"metrics": []},
         "task": task})
    pipeline = Pipeline(config)
    decode = EventDecoder().decode
    out: dict[tuple[str, str], list[float]] = {}
    for offset, raw in enumerate(lines):
        raw = raw.strip()
        if not raw:
            continue
        source = Source.model_construct(topic="calibrate", partition=0, offset=offset)
        event = decode(raw, source.topic)
        if isinstance(event, Refusal):
            continue
        outputs = pipeline.process(event, source, raw)
        if isinstance(event, InputPrediction) and not any(getattr(o, "stage", None) for o in outputs):
            if event.score is not None:
                out.setdefault((event.model_id, "score"), []).append(event.score)
            for name, value in event.features.items():
                if value.__class__ in (int, float):
                    out.setdefault((event.model_id, "feature:" + name), []).append(value)
        for o in outputs:
            if isinstance(o, LabelledRecord):
                if is_regression(o.prediction, task):
                    residual = residual_value(o.prediction, o.label)
                    if residual is not None:
                        out.setdefault((o.model_id, "residual"), []).append(residual)
                else:
                    out.setdefault((o.model_id, "error"), []).append(
                        0.0 if o.prediction == o.label else 1.0
                    )
    return out


def _watcher(spec: Any, signal: str) -> Watcher:
    """A fresh detector behind the alert lifecycle (no warm-up or cooldown: every firing the
    lifecycle would publish, e.g. only rises for an ADWIN with ``direction: up``)."""
    return Watcher(spec, signal=signal, warmup=0, cooldown=0)


def _feed(w: Watcher, x: float) -> bool:
    """One sample; True when the watcher publishes a drift on it."""
    detector = w.detector
    detector.update(x)
    w.n += 1
    w.total += x
    return bool(detector.drift_detected) and w.on_drift()


def resample(values: list[float], n: int, rng: random.Random, block: int) -> Iterator[float]:
    """``n`` values of a moving-block bootstrap: runs of ``block`` consecutive values (wrapping
    around the end) from random starts, so the reference's own dependence and slow changes
    (a model still learning, a daily cycle) reach the detectors, which an i.i.d. bootstrap
    would average away.

    >>> list(resample([1.0, 2.0, 3.0, 4.0], 6, random.Random(0), block=3))
    [4.0, 1.0, 2.0, 4.0, 1.0, 2.0]
    """
    size = len(values)
    block = max(1, min(block, size))
    left = n
    while left > 0:
        start = rng.randrange(size)
        take = min(block, left)
        for i in range(start, start + take):
            yield values[i % size]
        left -= take


def _false_alarms(
    spec: Any, signal: str, values: list[float], runs: int, run_length: int, rng: random.Random,
    block: int,
) -> int:
    """Published false alarms over ``runs`` fresh detectors, ``run_length`` block-bootstrap
    samples each."""
    fired = 0
    for _ in range(runs):
        w = _watcher(spec, signal)
        for x in resample(values, run_length, rng, block):
            if _feed(w, x):
                fired += 1
    return fired


def _delay(
    spec: Any,
    signal: str,
    values: list[float],
    shifted: Any,
    rng: random.Random,
    block: int,
    trials: int = 15,
    pre: int = 1000,
    post: int = 3000,
) -> tuple[float | None, float]:
    delays = []
    for _ in range(trials):
        w = _watcher(spec, signal)
        for x in resample(values, pre, rng, block):
            _feed(w, x)
        for i, x in enumerate(resample(values, post, rng, block)):
            if _feed(w, shifted(x, rng)):
                delays.append(i)
                break
    return (statistics.median(delays) if delays else None), len(delays) / trials


def _raise_rate(x: float, r: random.Random, *, rate: float) -> float:
    return 1.0 if x == 1.0 or r.random() < rate else 0.0


def _add(x: float, r: random.Random, *, step: float) -> float:
    return x + step


def poisson_upper(count: int, confidence: float = CONFIDENCE) -> float:
    """The one-sided upper confidence bound of a Poisson mean after observing ``count`` events.

    A candidate passes when the bound on its false alarms in ``runs × target`` samples is at most
    ``runs`` (its rate at most one per target, at this confidence): a few false alarms in a short
    bootstrap do not let a sensitive threshold through by luck.

    >>> [round(poisson_upper(k), 2) for k in range(4)]
    [1.61, 2.99, 4.28, 5.52]
    """
    lo, hi = 0.0, 10.0 + 10.0 * count
    for _ in range(100):  # bisection on P(N <= count | mean) = 1 - confidence
        mean = (lo + hi) / 2
        term = cdf = math.exp(-mean)
        for k in range(1, count + 1):
            term *= mean / k
            cdf += term
        if cdf > 1 - confidence:
            lo = mean
        else:
            hi = mean
    return (lo + hi) / 2


def _candidates(signal: str) -> tuple[str, str, list[Any]]:
    up = signal == "error"  # as the default detectors: the error rate's rises only
    return "adwin", "delta", [ADWINSpec(delta=d, direction="up" if up else "both")
                              for d in ADWIN_GRID]


def signal_targets(
    sequences: dict[tuple[str, str], list[float]], ert: float, min_samples: int
) -> dict[tuple[str, str], float]:
    """Each calibrated (model, signal)'s own target: ``k · ert`` of the model's samples (``k``
    signals share the model's budget), in the signal's samples (``· n_signal / n_model``, where
    ``n_model`` is the longest of the model's sequences: its predictions).

    >>> signal_targets({("m", "score"): [0.0] * 1000, ("m", "error"): [0.0] * 500}, 100, 10)
    {('m', 'error'): 100.0, ('m', 'score'): 200.0}
    """
    kept = {key: len(v) for key, v in sorted(sequences.items()) if len(v) >= min_samples}
    out: dict[tuple[str, str], float] = {}
    for model in {m for m, _ in kept}:
        mine = {key: n for key, n in kept.items() if key[0] == model}
        longest = max(mine.values())
        for key, n in mine.items():
            out[key] = ert * len(mine) * n / longest
    return dict(sorted(out.items()))


def calibrate_sequences(
    sequences: dict[tuple[str, str], list[float]],
    *,
    ert: float,
    runs: int = 5,
    seed: int = 0,
    shift_std: float = 1.0,
    shift_rate: float = 0.3,
    min_samples: int = 200,
    block: int = BLOCK,
    progress: Any = None,
) -> list[CalibrationResult]:
    """Calibrate every (model, signal) sequence; see the module docstring. ``ert`` is the
    model's target (its samples between false alarms, all its signals together); ``block`` the
    bootstrap's block length (:func:`resample`)."""
    results = []
    targets = signal_targets(sequences, ert, min_samples)
    for (model_id, signal), target in targets.items():
        values = sequences[(model_id, signal)]
        if progress is not None:
            progress(f"{model_id} {signal}")
        run_length = max(1, int(target))
        length = runs * run_length
        half = len(values) // 2
        calibration, heldout = values[:half], values[half:]
        rng = random.Random(f"{seed}:{model_id}:{signal}")
        detector, parameter, grid = _candidates(signal)
        chosen, cal_mtbfa = grid[-1], 0.0
        for spec in grid:
            alarms = _false_alarms(spec, signal, calibration, runs, run_length, rng, block)
            if poisson_upper(alarms) <= runs:  # the rate's upper bound <= 1 / target
                chosen, cal_mtbfa = spec, length / alarms if alarms else math.inf
                break
        alarms = _false_alarms(chosen, signal, heldout, runs, run_length, rng, block)
        shifted: Callable[[float, random.Random], float]
        if signal == "error":
            shifted = partial(_raise_rate, rate=shift_rate)
        else:
            shifted = partial(_add, step=shift_std * (statistics.pstdev(heldout) or 1.0))
        delay, detected = _delay(chosen, signal, heldout, shifted, rng, block)
        results.append(
            CalibrationResult(
                model_id=model_id,
                signal=signal,
                detector=detector,
                parameter=parameter,
                value=getattr(chosen, parameter),
                spec=chosen,
                samples=len(values),
                target=target,
                calibration_mtbfa=cal_mtbfa,
                heldout_mtbfa=length / alarms if alarms else math.inf,
                heldout_false_alarm_rate=alarms / length,
                delay_median=delay,
                detected=detected,
            )
        )
    return results


def calibrate(
    lines: Iterable[bytes],
    *,
    ert: float,
    base: DetectionConfig | None = None,
    runs: int = 5,
    seed: int = 0,
    shift_std: float = 1.0,
    shift_rate: float = 0.3,
    progress: Any = None,
) -> tuple[DetectionConfig, list[CalibrationResult]]:
    """Calibrated config (``base`` plus per-model signal overrides) and the per-signal report."""
    base = base or DetectionConfig()
    sequences = reference_sequences(lines, task=base.task)
    results = calibrate_sequences(
        sequences,
        ert=ert,
        runs=runs,
        seed=seed,
        shift_std=shift_std,
        shift_rate=shift_rate,
        progress=progress,
    )
    overrides: dict[str, dict[str, list[Any]]] = {}
    for r in results:
        overrides.setdefault(r.model_id, {})[r.signal] = [r.spec]
    return base.with_signal_overrides(overrides), results
