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
2. walks a grid of the detector's threshold parameter *step-down*, from the least to the most
   sensitive (ADWIN ``delta``; for ``error`` an ADWIN publishing rises only, as the default),
   and keeps the last value before the first one that fails (:func:`step_down`). A value passes
   when its false-alarm runs on bootstraps of the calibration half (``runs`` fresh detectors
   behind the alert lifecycle, the signal's target samples each, drawn as blocks of
   consecutive values from random starts, :func:`resample`: one draw of blocks of 30 and one of
   1,000, :data:`BLOCKS`, and it must pass on both; every candidate reads the same draws) give a mean time between published false alarms of at least the signal's target with
   80% confidence (:func:`poisson_upper`: with ``runs`` = 5, at most 2 alarms in the 5 runs;
   with 2 runs, none). The false-alarm rate grows with ``delta``, so stopping at the first
   failure errs on the quiet side; keeping the *most* sensitive value that passes (as before)
   let a too-sensitive value through whenever its short bootstrap happened to be quiet: of 11
   noisy tests one passes by luck, and the fleet then saw 14 false alarms where one per 1M
   allowed 6. When even the least sensitive value fails, it is kept and the result says the
   target is not met (:attr:`CalibrationResult.met`);
3. reports what that costs: the false-alarm rate on a bootstrap of the *held-out* half, and the
   median detection delay on a synthetic shift (numeric signals: mean + ``shift_std`` standard
   deviations; ``error``: error rate + ``shift_rate``).

A reference can vouch only for so rare a false alarm: the bootstrap recombines the calibration
half's blocks, and a local excursion that happens once per 10M samples is not in 25,000 of them.
Measured on the river-streams bench's fleet (error streams of stationary models erring 13% and
23% of the time, 4 references each, runs of 1M samples: 40 times the half), blocks of 30 from a
25,000-sample half reproduced ADWIN's real false-alarm rates (about one per 100k and one per
400k samples at ``delta`` 0.1 and 0.03), where blocks of 1,000 found as few as a quarter of
them on the model erring 13% of the time. A target beyond
:data:`REPRESENTABLE` times the calibration half is still calibrated, but the result says how
many reference samples it needs (:attr:`CalibrationResult.reference_needed`, a warning in
``driftline calibrate``).

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
    "allowed_alarms",
    "calibrate",
    "calibrate_sequences",
    "reference_needed",
    "reference_sequences",
    "select_threshold",
    "signal_targets",
    "step_down",
]

#: Confidence that a chosen threshold's false-alarm rate is at most one per target.
CONFIDENCE = 0.8
#: Block lengths of the bootstrap (:func:`resample`: samples kept in their reference order); a
#: candidate must pass on a draw of each. Short blocks recombine into the rare local excursions
#: a long stream has and a short reference lacks (blocks of 1,000 alone found as few as a
#: quarter of the fleet's false alarms); long ones keep the reference's slow variation, a model
#: still learning (blocks of 30 alone chose deltas that raised 4-5 times the false positives of
#: the default on the river-streams bench's drift streams).
BLOCKS = (30, 1000)
#: A target up to this many times the calibration half's length was checked against real
#: streams (module docstring); beyond it the result names the reference length it needs.
REPRESENTABLE = 40
#: Candidate ADWIN deltas, most sensitive first; :func:`step_down` walks them from the end.
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
    #: The chosen value passed on the calibration bootstrap (False: even the least sensitive
    #: value of the grid raised too many false alarms there; it is kept, quieter is not on offer).
    met: bool = True
    #: Reference samples (both halves) this target needs to be represented (``REPRESENTABLE``
    #: times the calibration half at least); 0 when the reference has them.
    reference_needed: int = 0

    def render(self) -> str:
        delay = "n/a" if self.delay_median is None else f"{self.delay_median:.0f}"
        return (
            f"{self.model_id:>12} {self.signal:<20} {self.detector:<12} "
            f"{self.parameter}={self.value:<8g} held-out MTBFA {_fmt(self.heldout_mtbfa)} "
            f"(FA rate {self.heldout_false_alarm_rate:.2e}/sample), "
            f"shift delay median {delay} (detected {100 * self.detected:.0f}%), "
            f"signal target {_fmt(self.target)}"
        )

    def warnings(self) -> list[str]:
        """What the user must know before trusting this threshold (empty: nothing)."""
        out = []
        key = f"{self.model_id} {self.signal}"
        if not self.met:
            out.append(
                f"{key}: target NOT met: even {self.parameter}={self.value:g}, the least "
                f"sensitive value tried, raised more than one false alarm per "
                f"{_fmt(self.target)} samples on the reference's bootstrap"
            )
        if self.reference_needed:
            out.append(
                f"{key}: one false alarm per {_fmt(self.target)} samples is beyond what "
                f"{self.samples} reference samples represent (at most {REPRESENTABLE} times "
                f"the calibration half); this target needs a reference of at least "
                f"{self.reference_needed} samples of this signal"
            )
        return out


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
    """One sample; True when the watcher publishes a drift on it. A feature's ADWIN reads it
    clipped, as the pipeline feeds it (:mod:`detectors.running_clip`)."""
    if w.clip is not None:
        x = w.clip.clip(x)
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
    for chunk in _resample_chunks(values, n, rng, block):
        yield from chunk


def _resample_chunks(
    values: list[float], n: int, rng: random.Random, block: int, chunk: int = 65_536
) -> Iterator[list[float]]:
    """:func:`resample`'s values (the same draws), as lists of about ``chunk`` values."""
    size = len(values)
    block = max(1, min(block, size))
    wrapped = values + values[:block]  # a block starting near the end wraps around
    left = n
    out: list[float] = []
    while left > 0:
        start = rng.randrange(size)
        take = min(block, left)
        out += wrapped[start:start + take]
        left -= take
        if len(out) >= chunk:
            yield out
            out = []
    if out:
        yield out


def _false_alarms(
    spec: Any, signal: str, values: list[float], runs: int, run_length: int, rng: random.Random,
    block: int, limit: int | None = None, any_cut: bool = False,
) -> int:
    """Published false alarms over ``runs`` fresh detectors, ``run_length`` block-bootstrap
    samples each; counting stops once they exceed ``limit`` (the candidate has failed).
    ``any_cut``: count every drift the detector reports, published or not (a cut the
    lifecycle withholds, e.g. a fall for ``direction: up``), and stop at the first one."""
    fired = 0
    for _ in range(runs):
        w = _watcher(spec, signal)
        detector = w.detector
        update = detector.update
        n, total = w.n, w.total
        clip = w.clip  # restarted in place when the detector fires
        for chunk in _resample_chunks(values, run_length, rng, block):
            for x in chunk:  # _feed, inlined: this loop is calibration's whole cost
                if clip is not None:
                    x = clip.clip(x)
                update(x)
                n += 1
                total += x
                if detector.drift_detected:
                    if any_cut:
                        return 1
                    w.n, w.total = n, total
                    if w.on_drift():
                        fired += 1
                        if limit is not None and fired > limit:
                            return fired
                    total = w.total
    return fired


def allowed_alarms(runs: int, confidence: float = CONFIDENCE) -> int:
    """The most false alarms in ``runs`` targets' worth of samples that still bound the rate at
    one per target with ``confidence`` (:func:`poisson_upper`); -1: none would (too few runs).

    >>> [allowed_alarms(r) for r in (1, 2, 5, 10)]
    [-1, 0, 2, 6]
    """
    k = -1
    while poisson_upper(k + 1, confidence) <= runs:
        k += 1
    return k


def step_down(
    grid: list[Any],
    alarms: Callable[[Any], int],
    allowed: int,
    quiet: Callable[[Any], bool] | None = None,
) -> tuple[int, bool]:
    """(index of the chosen candidate, whether it passed): walk ``grid`` (most sensitive first)
    from its least sensitive end toward the most sensitive while ``alarms(candidate) <=
    allowed``, and keep the last candidate that passed. False-alarm rates grow with
    sensitivity, so the first failure ends the walk: a more sensitive candidate that a lucky
    bootstrap would pass is never tried. None passing: the least sensitive one, not met.

    >>> counts = [0, 0, 9, 1, 0, 0]  # a lucky 0 at index 1; index 2 fails
    >>> step_down(list(range(6)), counts.__getitem__, allowed=0)
    (4, True)
    >>> step_down(list(range(3)), [5, 5, 5].__getitem__, allowed=0)
    (2, False)

    ``quiet(candidate)``, when given, says the candidate's detector does not fire at all on the
    draw, which must prove the same of every less sensitive candidate (true of ADWIN: see
    :func:`select_threshold`). Those all pass, so the walk starts below the most sensitive quiet
    candidate, found by bisection: the same choice from fewer runs.

    >>> calls = []
    >>> def quiet(i):
    ...     calls.append(i)
    ...     return i >= 4
    >>> step_down(list(range(11)), [0, 0, 9, 1, 0, 0, 0, 0, 0, 0, 0].__getitem__, 0, quiet), calls
    ((4, True), [5, 2, 4, 3])
    """
    start = len(grid) - 1
    if quiet is not None:
        lo, hi = 0, len(grid)  # the most sensitive quiet index is in [lo, hi]; len: none is
        while lo < hi:
            mid = (lo + hi) // 2
            if quiet(grid[mid]):
                hi = mid
            else:
                lo = mid + 1
        if lo < len(grid):
            start = lo - 1
            chosen, passed = lo, True
        else:
            chosen, passed = start, False
    else:
        chosen, passed = start, False
    for i in range(start, -1, -1):
        if alarms(grid[i]) > allowed:
            break
        chosen, passed = i, True
    return chosen, passed


def select_threshold(
    signal: str, values: list[float], target: float, *, runs: int, rng_seed: str,
    blocks: tuple[int, ...] = BLOCKS, shortcut: bool = True,
) -> tuple[Any, int, bool]:
    """(chosen detector spec, its false alarms in ``runs × target`` bootstrap samples of
    ``values`` (the most of its draws), whether it met the target): :func:`step_down` over the
    signal's grid; a candidate passes when it passes on a draw of each block length in
    ``blocks``, every candidate on the same draws (seeded by ``rng_seed``).

    ADWIN's window evolves the same way for every ``delta`` until it cuts, and a smaller
    ``delta`` only widens the bound a cut must cross (a feature's clip, too, sees the same values
    until a cut): an ADWIN that never cuts on the draw proves that every less sensitive one
    never cuts either. So the walk skips past them
    (``quiet`` of :func:`step_down`; ``shortcut=False`` runs every candidate the walk reaches
    instead: the same choice, slower)."""
    _, _, grid = _candidates(signal)
    allowed = allowed_alarms(runs)
    if allowed < 0:
        raise ValueError(f"runs={runs}: at least 2 runs are needed to bound a false-alarm rate "
                         f"at {CONFIDENCE:.0%} confidence")
    run_length = max(1, int(target))
    counts: dict[int, int] = {}

    def alarms(spec: Any) -> int:
        most = 0
        for block in blocks:
            most = max(most, _false_alarms(spec, signal, values, runs, run_length,
                                           random.Random(f"{rng_seed}:{block}"), block,
                                           limit=allowed))
            if most > allowed:
                break
        counts[id(spec)] = most
        return most

    def quiet(spec: Any) -> bool:
        for block in blocks:
            if _false_alarms(spec, signal, values, runs, run_length,
                             random.Random(f"{rng_seed}:{block}"), block, any_cut=True):
                return False
        counts[id(spec)] = 0
        return True

    index, met = step_down(grid, alarms, allowed, quiet if shortcut else None)
    return grid[index], counts[id(grid[index])], met


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


def reference_needed(target: float, samples: int) -> int:
    """Reference samples (both halves) a signal target needs: 0 when ``samples`` has them.

    >>> reference_needed(1_000_000, 50_000), reference_needed(10_000_000, 50_000)
    (0, 500000)
    """
    need = 2 * math.ceil(target / REPRESENTABLE)
    return need if samples < need else 0


def calibrate_sequences(
    sequences: dict[tuple[str, str], list[float]],
    *,
    ert: float,
    runs: int = 5,
    seed: int = 0,
    shift_std: float = 1.0,
    shift_rate: float = 0.3,
    min_samples: int = 200,
    blocks: tuple[int, ...] = BLOCKS,
    progress: Any = None,
) -> list[CalibrationResult]:
    """Calibrate every (model, signal) sequence; see the module docstring. ``ert`` is the
    model's target (its samples between false alarms, all its signals together); ``blocks``
    the bootstrap's block lengths (:func:`resample`): a candidate must pass on each."""
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
        detector, parameter, _ = _candidates(signal)
        chosen, cal_alarms, met = select_threshold(
            signal, calibration, target, runs=runs, rng_seed=f"{seed}:{model_id}:{signal}",
            blocks=blocks)
        rng = random.Random(f"{seed}:{model_id}:{signal}:held-out")
        alarms = max(_false_alarms(chosen, signal, heldout, runs, run_length, rng, block)
                     for block in blocks)
        shifted: Callable[[float, random.Random], float]
        if signal == "error":
            shifted = partial(_raise_rate, rate=shift_rate)
        else:
            shifted = partial(_add, step=shift_std * (statistics.pstdev(heldout) or 1.0))
        delay, detected = _delay(chosen, signal, heldout, shifted, rng, max(blocks))
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
                calibration_mtbfa=length / cal_alarms if cal_alarms else math.inf,
                heldout_mtbfa=length / alarms if alarms else math.inf,
                heldout_false_alarm_rate=alarms / length,
                delay_median=delay,
                detected=detected,
                met=met,
                reference_needed=reference_needed(target, len(values)),
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
