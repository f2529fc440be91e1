"""Calibration: choose detector thresholds that meet a target mean time between false alarms.

Like Alibi Detect's online detectors (which configure thresholds from an *expected run time*
by simulating on reference data), :func:`calibrate` takes a reference (no-drift) stream and a
target ``ert`` (samples between false alarms), and for each (model, signal) found in it:

1. builds the signal's value sequence exactly as the pipeline would (join included), and splits
   it in two halves: *calibration* and *held-out*;
2. walks a grid of the detector's threshold parameter from most to least sensitive (ADWIN
   ``delta`` for numeric signals; DDM ``drift_threshold``, with ``warning_threshold`` one
   below, for ``error``) and keeps the first value whose
   false-alarm runs on bootstraps of the calibration half (``runs`` fresh detectors, ``ert``
   samples each, drawn with replacement, so stationary by construction) gives a mean time between false alarms of at
   least ``ert``;
3. reports what that costs: the false-alarm rate on a bootstrap of the *held-out* half, and the
   median detection delay on a synthetic shift (numeric signals: mean + ``shift_std`` standard
   deviations; ``error``: error rate + ``shift_rate``).

The result is per-model signal overrides, written as a ``detection:`` YAML section.

>>> import random
>>> rng = random.Random(0)
>>> values = {("m", "feature:x"): [rng.gauss(0, 1) for _ in range(4000)]}
>>> results = calibrate_sequences(values, ert=2000, runs=5, seed=1)
>>> r = results[0]
>>> r.signal, r.detector, r.parameter
('feature:x', 'adwin', 'delta')
>>> r.value <= 0.1 and r.heldout_mtbfa >= 2000
True
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

from detectors.config import DetectionConfig
from detectors.contracts import LabelledRecord, Source
from detectors.decoding import EventDecoder, Refusal
from detectors.events import InputPrediction
from detectors.pipeline import Pipeline
from detectors.river_detectors import ADWINSpec, DDMSpec, build
from detectors.signals import is_regression, residual_value

__all__ = ["CalibrationResult", "calibrate", "calibrate_sequences", "reference_sequences"]

ADWIN_GRID = (0.1, 0.03, 0.01, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 1e-6, 1e-7)
DDM_GRID = (2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0)


@dataclass(frozen=True)
class CalibrationResult:
    model_id: str
    signal: str
    detector: str
    parameter: str
    value: float
    spec: Any
    samples: int
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
            f"shift delay median {delay} (detected {100 * self.detected:.0f}%)"
        )


def _fmt(x: float) -> str:
    return "inf" if math.isinf(x) else f"{x:.0f}"


def reference_sequences(
    lines: Iterable[bytes], task: str = "auto"
) -> dict[tuple[str, str], list[float]]:
    """(model_id, signal) → values in pipeline feed order, from a JSONL reference stream."""
    config = DetectionConfig(signals={}, metric_thresholds={}, task=task)  # type: ignore[arg-type]
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


def _false_alarms(
    spec: Any, values: list[float], runs: int, run_length: int, rng: random.Random
) -> int:
    """False alarms over ``runs`` fresh detectors, each fed ``run_length`` bootstrap samples."""
    choice = rng.choice
    fired = 0
    for _ in range(runs):
        detector = build(spec)
        for _ in range(run_length):
            detector.update(choice(values))
            if detector.drift_detected:
                fired += 1
    return fired


def _delay(
    spec: Any,
    values: list[float],
    shifted: Any,
    rng: random.Random,
    trials: int = 15,
    pre: int = 1000,
    post: int = 3000,
) -> tuple[float | None, float]:
    delays = []
    for _ in range(trials):
        detector = build(spec)
        for _ in range(pre):
            detector.update(rng.choice(values))
        for i in range(post):
            detector.update(shifted(rng.choice(values), rng))
            if detector.drift_detected:
                delays.append(i)
                break
    return (statistics.median(delays) if delays else None), len(delays) / trials


def _raise_rate(x: float, r: random.Random, *, rate: float) -> float:
    return 1.0 if x == 1.0 or r.random() < rate else 0.0


def _add(x: float, r: random.Random, *, step: float) -> float:
    return x + step


def _candidates(signal: str, values: list[float]) -> tuple[str, str, list[Any]]:
    if signal == "error":
        return (
            "ddm",
            "drift_threshold",
            [
                DDMSpec(warm_start=300, warning_threshold=t - 1.0, drift_threshold=t)
                for t in DDM_GRID
            ],
        )
    return "adwin", "delta", [ADWINSpec(delta=d) for d in ADWIN_GRID]


def calibrate_sequences(
    sequences: dict[tuple[str, str], list[float]],
    *,
    ert: float,
    runs: int = 5,
    seed: int = 0,
    shift_std: float = 1.0,
    shift_rate: float = 0.3,
    min_samples: int = 200,
    progress: Any = None,
) -> list[CalibrationResult]:
    """Calibrate every (model, signal) sequence; see the module docstring."""
    results = []
    length = int(runs * ert)
    for (model_id, signal), values in sorted(sequences.items()):
        if progress is not None:
            progress(f"{model_id} {signal}")
        if len(values) < min_samples:
            continue
        half = len(values) // 2
        calibration, heldout = values[:half], values[half:]
        rng = random.Random(f"{seed}:{model_id}:{signal}")
        detector, parameter, grid = _candidates(signal, calibration)
        chosen, cal_mtbfa = grid[-1], 0.0
        for spec in grid:
            alarms = _false_alarms(spec, calibration, runs, int(ert), rng)
            mtbfa = length / alarms if alarms else math.inf
            if mtbfa >= ert:
                chosen, cal_mtbfa = spec, mtbfa
                break
        alarms = _false_alarms(chosen, heldout, runs, int(ert), rng)
        shifted: Callable[[float, random.Random], float]
        if signal == "error":
            shifted = partial(_raise_rate, rate=shift_rate)
        else:
            shifted = partial(_add, step=shift_std * (statistics.pstdev(heldout) or 1.0))
        delay, detected = _delay(chosen, heldout, shifted, rng)
        results.append(
            CalibrationResult(
                model_id=model_id,
                signal=signal,
                detector=detector,
                parameter=parameter,
                value=getattr(chosen, parameter),
                spec=chosen,
                samples=len(values),
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
