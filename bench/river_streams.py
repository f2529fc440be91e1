"""The ``error`` detector on River's synthetic drift streams, and on a stationary fleet.

Part 1, drifting streams. River's generators (Sine, SEA, Agrawal, Mixed) switch concept every
20,000 samples (4 drifts in 100,000), abruptly (width 1) or gradually (River's sigmoid mix,
``ConceptDriftStream``'s formula, width 1,000), with 10% of the labels flipped. A River Hoeffding
tree learns prequentially (predict, then learn; never reset) and its 0/1 error stream is what every
detector reads, through Driftline's alert lifecycle (:class:`detectors.lifecycle.Watcher`:
warm-up 100, cooldown 1,000, River's detector never reset by Driftline), so every detector is
counted as a user would see its published events.

Per drift ``j`` the onset ``s_j`` is the first sample of the transition (abrupt: the drift
position; gradual: position − width/2, where the new concept already draws 12% of the samples).
The first published alarm in ``[s_j, s_{j+1})`` detects drift ``j`` with delay ``alarm − s_j``;
every other published alarm (before the first drift, or after the first one of a segment) is a
false positive. Reported: drifts caught within 250 and 1,000 samples, mean delay of the detected
ones, false positives, and CPU time per update.

Part 2, stationary fleet: the error streams of stationary binary classifiers (positive rates 1%,
5%, 20%, 50%; 10% label noise; labels delayed, shuffled and duplicated: see
``bench/default_false_alarms.py``, whose generator this reuses); false alarms within the first
6,000, 50,000 and 500,000 labels of each model.

    .venv/bin/python bench/river_streams.py [--seeds 3] [--fleet-labels 500000] [--quick]

``driftline calibrated`` is the detector :func:`detectors.calibration.calibrate_sequences`
chooses per stream (per model) for a target of one false alarm per 100,000 (1M, 10M) of its
samples, on a no-drift reference: the stream's first concept (samples 2,000-20,000), or another
stationary stretch of the same fleet model (``runs`` 5 for 100,000, 2 above: ``calibrate
--runs``).

Writes ``bench/results/river_streams.json`` and ``.md``. Error streams are cached under
``--cache`` (they depend only on generator, drift type and seed).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import random
import resource
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from river import tree
from river.datasets import synth
from river.drift import ADWIN, KSWIN, PageHinkley
from river.drift.binary import DDM, EDDM, FHDDM, HDDMA, HDDMW

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_env import machine

from detectors.calibration import BLOCKS, REPRESENTABLE, select_threshold
from detectors.config import default_signals
from detectors.lifecycle import Watcher
from detectors.river_detectors import ADWINSpec, DDMSpec, HDDMASpec, PageHinkleySpec
from driftline.dev.fleet import FLEET_POSITIVE_RATES, stationary_error_stream

RESULTS = Path(__file__).resolve().parent / "results"
SEGMENT = 20_000
DRIFTS = 4
GRADUAL_WIDTH = 1_000
LABEL_NOISE = 0.10
#: Alarms within this many samples after a drift's onset, other than the first, are repeats.
EPISODE = 3_000
WARMUP = 100
COOLDOWN = 1_000

#: Concepts per generator, in order (one per 20,000-sample segment).
CONCEPTS: dict[str, tuple[Callable[[int, int], Any], tuple[int, ...]]] = {
    "sine": (lambda f, s: synth.Sine(classification_function=f, seed=s), (0, 1, 2, 3, 0)),
    "sea": (lambda f, s: synth.SEA(variant=f, seed=s), (0, 1, 2, 3, 0)),
    "agrawal": (lambda f, s: synth.Agrawal(classification_function=f, seed=s), (0, 2, 4, 6, 8)),
    "mixed": (lambda f, s: synth.Mixed(classification_function=f, seed=s), (0, 1, 0, 1, 0)),
}


@dataclass(frozen=True)
class Stream:
    generator: str
    drift: str  # "abrupt" | "gradual"
    seed: int
    errors: np.ndarray  # uint8, 1 = the tree erred on the (noisy) label
    onsets: tuple[int, ...]  # 0-based index of each drift's first transition sample


def _new_concept_share(i: int, position: int, width: int) -> float:
    """River ``ConceptDriftStream``'s probability of drawing from the new concept at sample i."""
    v = -4.0 * (i - position) / width
    return 0.0 if v > 700 else 1.0 / (1.0 + math.exp(v))


def _samples(generator: str, drift: str, seed: int, n: int) -> Iterator[tuple[dict[str, Any], Any]]:
    make, functions = CONCEPTS[generator]
    concepts = [iter(make(f, seed * 100 + k)) for k, f in enumerate(functions)]
    width = 1 if drift == "abrupt" else GRADUAL_WIDTH
    positions = [SEGMENT * (j + 1) for j in range(DRIFTS)]
    rng = random.Random(seed * 7919 + 1)
    for i in range(1, n + 1):  # River counts samples from 1
        k = 0
        for j, position in enumerate(positions):
            if rng.random() < _new_concept_share(i, position, width):
                k = j + 1
            else:
                break
        x, y = next(concepts[k])
        if rng.random() < LABEL_NOISE:
            y = 1 - y
        yield x, y


def error_stream(generator: str, drift: str, seed: int, cache: Path) -> Stream:
    n = SEGMENT * (DRIFTS + 1)
    width = 1 if drift == "abrupt" else GRADUAL_WIDTH
    onsets = tuple(SEGMENT * (j + 1) - 1 - width // 2 for j in range(DRIFTS))
    path = cache / f"{generator}-{drift}-{seed}-{n}.npy"
    if path.exists():
        return Stream(generator, drift, seed, np.load(path), onsets)
    model = tree.HoeffdingTreeClassifier()
    errors = np.zeros(n, dtype=np.uint8)
    for i, (x, y) in enumerate(_samples(generator, drift, seed, n)):
        errors[i] = model.predict_one(x) != y
        model.learn_one(x, y)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, errors)
    return Stream(generator, drift, seed, errors, onsets)


# -- detectors --------------------------------------------------------------------------------

def _watcher(spec: Any, river_detector: Any = None) -> Watcher:
    """Driftline's lifecycle around ``spec``'s River detector (or around ``river_detector``, for
    River detectors Driftline has no spec for: the lifecycle only reads River's flags)."""
    w = Watcher(spec, signal="error", warmup=WARMUP, cooldown=COOLDOWN)
    if river_detector is not None:
        w.detector = river_detector
    return w


_ANY = DDMSpec()  # the spec a foreign River detector rides on (only its lifecycle is used)
#: (delta, threshold, alpha) of the one-sided Page-Hinkley candidates (alpha < 1 fades the
#: cumulative sum, whose noise then grows with the stream: false alarms on long streams).
PAGE_HINKLEY_UP = ((0.05, 20.0, 1 - 1e-4), (0.02, 30.0, 1.0))


def _page_hinkley_up(delta: float, threshold: float, alpha: float) -> Callable[[], Watcher]:
    return lambda: _watcher(PageHinkleySpec(mode="up", delta=delta, threshold=threshold,
                                            alpha=alpha))


_DEFAULT_ERROR = default_signals()["error"]
PREVIOUS = "driftline previous default (DDM 4 sigma)"
#: ``driftline calibrate``'s choice for a target of one false alarm per this many samples of a
#: model (here the error stream is the model's only signal), by label.
CALIBRATED = {"driftline calibrated, 1 per 100k": 100_000,
              "driftline calibrated, 1 per 1M": 1_000_000,
              "driftline calibrated, 1 per 10M": 10_000_000}
#: The calibration reference of a drift stream: its first concept, after the tree learned it.
REFERENCE = (2_000, 20_000)
#: Labels of a fleet model's calibration reference (another stationary stretch of the model).
FLEET_REFERENCE = 50_000


def calibration_runs(ert: int) -> int:
    """Bootstrap runs per candidate (``driftline calibrate --runs``) for a target: 2, the least
    that can bound a rate, when 5 would cost too long."""
    return 5 if ert <= 100_000 else 2


def calibrated_spec(reference: Any, seed: int, ert: int) -> tuple[Any, bool]:
    """(the ``error`` detector ``driftline calibrate`` chooses on a no-drift reference (the
    error values the pipeline would feed it), whether it met its target there): the choice of
    :func:`detectors.calibration.calibrate_sequences` (calibration half, same seed), without
    its held-out report."""
    values = [float(x) for x in (reference.tolist() if isinstance(reference, np.ndarray)
                                 else reference)]
    spec, _, met = select_threshold("error", values[: len(values) // 2], ert,
                                    runs=calibration_runs(ert), rng_seed=f"{seed}:m:error")
    return spec, met

#: label → (group, factory of a fresh Watcher)
DETECTORS: dict[str, tuple[str, Callable[[], Watcher]]] = {
    PREVIOUS: (
        "driftline", lambda: _watcher(DDMSpec(warm_start=300, warning_threshold=3.0,
                                              drift_threshold=4.0))),
    "driftline default": ("driftline", lambda: _watcher(_DEFAULT_ERROR[0])),
    **{label: ("driftline", lambda: _watcher(_DEFAULT_ERROR[0]))  # replaced per stream
       for label in CALIBRATED},
    "DDM": ("river", lambda: _watcher(_ANY, DDM())),
    "EDDM": ("river", lambda: _watcher(_ANY, EDDM())),
    "HDDM_A": ("river", lambda: _watcher(_ANY, HDDMA())),
    "HDDM_W": ("river", lambda: _watcher(_ANY, HDDMW())),
    "FHDDM": ("river", lambda: _watcher(_ANY, FHDDM())),
    "ADWIN": ("river", lambda: _watcher(_ANY, ADWIN())),
    "PageHinkley": ("river", lambda: _watcher(_ANY, PageHinkley())),
    "KSWIN": ("river", lambda: _watcher(_ANY, KSWIN(seed=42))),
    "HDDM_A drift 1e-4": ("candidate", lambda: _watcher(HDDMASpec(drift_confidence=1e-4,
                                                                  warning_confidence=1e-3))),
    "HDDM_W drift 1e-6 lambda .02": ("candidate (no spec)", lambda: _watcher(
        _ANY, HDDMW(1e-6, 1e-5, lambda_val=0.02))),
    "ADWIN delta 2e-4": ("candidate", lambda: _watcher(ADWINSpec(delta=2e-4))),
    "ADWIN up, delta 2e-3": ("candidate", lambda: _watcher(ADWINSpec(delta=2e-3,
                                                                      direction="up"))),
    **{f"PageHinkley up, delta {d:g}, threshold {t:g}, alpha {a:g}": (
        "candidate", _page_hinkley_up(d, t, a)) for d, t, a in PAGE_HINKLEY_UP},
}


def published_alarms(make: Callable[[], Watcher], errors: Any) -> tuple[list[int], float]:
    """0-based indices of the published drift alarms, and CPU seconds spent in the loop."""
    w = make()
    detector = w.detector
    out: list[int] = []
    values = errors.tolist() if isinstance(errors, np.ndarray) else list(errors)
    started = time.process_time()
    for i, x in enumerate(values):
        detector.update(x)
        w.n += 1
        w.total += x
        if detector.drift_detected and w.on_drift():  # the lifecycle applies ADWIN's direction
            out.append(i)
    return out, time.process_time() - started


def score_stream(alarms: list[int], onsets: tuple[int, ...], n: int) -> dict[str, Any]:
    """Per drift the delay of its first alarm (None: missed); the other alarms split into
    ``repeats`` (within EPISODE samples of a drift's onset: the same drift again, e.g. while a
    gradual drift is still mixing in or the model adapts) and ``false_positives`` (the rest:
    alarms on a stationary stretch)."""
    bounds = [*onsets, n]
    delays: list[int | None] = []
    first: set[int] = set()
    for j, start in enumerate(onsets):
        found = [a for a in alarms if start <= a < bounds[j + 1]]
        delays.append(found[0] - start if found else None)
        if found:
            first.add(found[0])
    others = [a for a in alarms if a not in first]
    repeats = sum(1 for a in others if any(s <= a < s + EPISODE for s in onsets))
    return {"delays": delays, "false_positives": len(others) - repeats, "repeats": repeats}


def planted(make: Callable[[], Watcher], after: float, seeds: int = 20) -> dict[str, Any]:
    """Delay (samples) of the first published alarm after the error rate goes 10% → ``after``
    at sample 3,000 of 6,000 (None: missed), over ``seeds`` seeds."""
    delays = []
    for seed in range(seeds):
        rng = random.Random(seed)
        errors = [int(rng.random() < (0.1 if i < 3000 else after)) for i in range(6000)]
        alarms = [a - 3000 for a in published_alarms(make, errors)[0] if a >= 3000]
        delays.append(alarms[0] if alarms else None)
    found = sorted(d for d in delays if d is not None)
    return {"after": after, "missed": delays.count(None),
            "median": found[len(found) // 2] if found else None,
            "max": found[-1] if found else None}


# -- report -----------------------------------------------------------------------------------

def machine_details() -> dict[str, Any]:
    return {**machine(), "numpy": np.__version__, "platform": platform.platform()}


def summarize(scores: list[dict[str, Any]], updates: int, cpu_s: float) -> dict[str, Any]:
    delays = [d for s in scores for d in s["delays"]]
    found = [d for d in delays if d is not None]
    return {
        "drifts": len(delays),
        "caught_250": sum(1 for d in found if d < 250),
        "caught_1000": sum(1 for d in found if d < 1000),
        "detected": len(found),
        "mean_delay": round(sum(found) / len(found), 1) if found else None,
        "mean_delay_1000": round(
            sum(d for d in found if d < 1000) / max(1, sum(1 for d in found if d < 1000)), 1),
        "false_positives": sum(s["false_positives"] for s in scores),
        "repeats": sum(s["repeats"] for s in scores),
        "updates": updates,
        "cpu_us_per_update": round(1e6 * cpu_s / updates, 3) if updates else None,
    }


def run_drift_streams(seeds: int, cache: Path, labels: list[str]) -> dict[str, Any]:
    streams = []
    started = time.process_time()
    for generator in CONCEPTS:
        for drift in ("abrupt", "gradual"):
            for seed in range(1, seeds + 1):
                streams.append(error_stream(generator, drift, seed, cache))
    build_cpu = time.process_time() - started
    out: dict[str, Any] = {"streams": len(streams), "stream_build_cpu_s": round(build_cpu, 1),
                           "detectors": {}}
    for label in labels:
        group, make = DETECTORS[label]
        scores, cpu, updates = [], 0.0, 0
        per_stream = {}
        chosen: list[float] = []
        unmet = 0
        for s in streams:
            if label in CALIBRATED:
                spec, met = calibrated_spec(s.errors[REFERENCE[0]:REFERENCE[1]], s.seed,
                                            CALIBRATED[label])
                chosen.append(spec.delta)
                unmet += not met
                make = partial(_watcher, spec)
            alarms, spent = published_alarms(make, s.errors)
            cpu += spent
            updates += len(s.errors)
            scored = score_stream(alarms, s.onsets, len(s.errors))
            scores.append(scored)
            per_stream[f"{s.generator}/{s.drift}/{s.seed}"] = scored
        summary = summarize(scores, updates, cpu)
        summary["group"] = group
        if label in CALIBRATED:  # planted shifts: the most common calibrated delta
            delta = max(set(chosen), key=chosen.count)
            summary["calibrated_deltas"] = {str(d): chosen.count(d) for d in sorted(set(chosen))}
            summary["calibration_unmet"] = unmet
            make = partial(_watcher, ADWINSpec(delta=delta, direction="up"))
        summary["planted"] = [planted(make, 0.4), planted(make, 0.3)]
        summary["per_stream"] = per_stream
        out["detectors"][label] = summary
        print(f"{label:<28} {summary['caught_250']:>3} {summary['caught_1000']:>3}/"
              f"{summary['drifts']} delay {summary['mean_delay_1000']} ({summary['mean_delay']}) "
              f"fp {summary['false_positives']} rep {summary['repeats']} "
              f"planted {summary['planted']} {summary['cpu_us_per_update']} us", flush=True)
    return out


def run_fleet(models_per_rate: int, labels_per_model: int, labels: list[str]) -> dict[str, Any]:
    horizons = [h for h in (6_000, 50_000, 500_000) if h <= labels_per_model]
    streams = []
    for rate in FLEET_POSITIVE_RATES:
        for k in range(models_per_rate):
            streams.append((rate, stationary_error_stream(rate, labels_per_model,
                                                          seed=int(rate * 1000) * 100 + k)))
    out: dict[str, Any] = {"models": len(streams), "labels_per_model": labels_per_model,
                           "horizons": horizons,
                           "error_rates": {str(r): round(float(np.mean(
                               [e.mean() for rr, e in streams if rr == r])), 4)
                               for r in FLEET_POSITIVE_RATES},
                           "detectors": {}}
    for label in labels:
        _, make = DETECTORS[label]
        counts = {h: 0 for h in horizons}
        by_rate = {str(r): 0 for r in FLEET_POSITIVE_RATES}
        cpu = 0.0
        chosen: list[float] = []
        unmet = 0
        for j, (rate, errors) in enumerate(streams):
            if label in CALIBRATED:  # a reference of the same model: another stationary stretch
                reference = stationary_error_stream(rate, FLEET_REFERENCE, seed=777_000 + j)
                spec, met = calibrated_spec(reference, j, CALIBRATED[label])
                chosen.append(spec.delta)
                unmet += not met
                make = partial(_watcher, spec)
            alarms, spent = published_alarms(make, errors)
            cpu += spent
            for h in horizons:
                counts[h] += sum(1 for a in alarms if a < h)
            by_rate[str(rate)] += len(alarms)
        total = len(streams) * labels_per_model
        out["detectors"][label] = {
            "false_alarms_by_horizon": {str(h): c for h, c in counts.items()},
            "false_alarms_by_positive_rate": by_rate,
            "per_100k_labels": round(1e5 * counts[horizons[-1]] / total, 3),
            "cpu_us_per_update": round(1e6 * cpu / total, 3),
        }
        if label in CALIBRATED:
            out["detectors"][label]["calibrated_deltas"] = {
                str(d): chosen.count(d) for d in sorted(set(chosen))}
            out["detectors"][label]["calibration_unmet"] = unmet
        print(f"fleet {label:<28} {counts}", flush=True)
    return out


def _planted(p: dict[str, Any]) -> str:
    return f"{p['median']}/{p['max']} ({p['missed']})"


def _goal(result: dict[str, Any]) -> list[str]:
    """Which candidates meet the goal for the default ``error`` detector: at least as many drifts
    caught within 1,000 samples as the best River detector, mean delay (of those) within 1.5×
    of it, no more false positives than today's default, no false alarm on the fleet."""
    found = result["drift_streams"]["detectors"]
    river_ = {k: v for k, v in found.items() if v["group"] == "river"}
    today = found.get(PREVIOUS)
    if not river_ or today is None:
        return []
    best_label, best = max(river_.items(),
                           key=lambda kv: (kv[1]["caught_1000"], -kv[1]["mean_delay_1000"]))
    fleet = (result.get("fleet") or {}).get("detectors", {})
    lines = ["", f"Goal for the default: caught < 1,000 ≥ {best['caught_1000']} (best River "
             f"detector: {best_label}), mean delay ≤ {1.5 * best['mean_delay_1000']:.0f} "
             f"(1.5 × {best['mean_delay_1000']}), false positives ≤ {today['false_positives']} "
             "(the previous default), no false alarm on the stationary fleet.", "",
             "| candidate | caught | delay | false positives | fleet | meets the goal |",
             "| --- | --- | --- | --- | --- | --- |"]
    for label, s in found.items():
        if not s["group"].startswith("candidate") and not label.startswith("driftline"):
            continue
        quiet = fleet.get(label)
        quiet_ok = quiet is not None and not any(quiet["false_alarms_by_horizon"].values())
        checks = [s["caught_1000"] >= best["caught_1000"],
                  s["mean_delay_1000"] <= 1.5 * best["mean_delay_1000"],
                  s["false_positives"] <= today["false_positives"], quiet_ok]
        marks = ["yes" if c else "no" for c in checks]
        lines.append(f"| {label} | {marks[0]} | {marks[1]} | {marks[2]} | {marks[3]} | "
                     f"{'**yes**' if all(checks) else 'no'} |")
    return lines


def _calibrated(result: dict[str, Any]) -> list[str]:
    found = result["drift_streams"]["detectors"]
    if "driftline default" not in found:
        return []
    fleet_result = result.get("fleet") or {}
    fleet = fleet_result.get("detectors", {})

    def events(label: str) -> int:
        quiet = fleet.get(label, {}).get("false_alarms_by_horizon", {})
        return int(found[label]["false_positives"]) + (max(quiet.values()) if quiet else 0)

    default = events("driftline default")
    halves = {"drift streams": (REFERENCE[1] - REFERENCE[0]) // 2, "fleet": FLEET_REFERENCE // 2}
    lines = ["", "Calibrated: `driftline calibrate`'s choice for a target of one false alarm per "
             "N samples of a model (all its signals; here `error` is the only one), calibrated "
             f"on each drift stream's first concept (samples {REFERENCE[0]:,}–{REFERENCE[1]:,}) "
             f"and on another stationary stretch ({FLEET_REFERENCE:,} labels) of each fleet "
             "model: the grid walked step-down from the least sensitive delta, bootstrap blocks "
             f"of {' and of '.join(map(str, BLOCKS))} (a delta must pass on both), {calibration_runs(100_000)} runs of the target per candidate at 1 per "
             f"100k and {calibration_runs(10**6)} above, the calibration half only ({', '.join(f'{n:,} samples on the {k}' for k, n in halves.items())}). "
             "False events = false positives on the drift streams + false alarms on the fleet; "
             f"default: {default}.", "",
             "| target | false events | fewer than the default | fleet false alarms (allowed by "
             "the target) | caught < 1,000 | mean delay of those | detected at all | deltas chosen "
             "(drift streams; fleet) | target not met on the reference | beyond the reference "
             "(× calibration half) |",
             "| --- | ---: | --- | ---: | ---: | ---: | ---: | --- | ---: | --- |"]
    labels = fleet_result.get("models", 0) * fleet_result.get("labels_per_model", 0)
    for label, ert in CALIBRATED.items():
        if label not in found:
            continue
        s = found[label]
        f = fleet.get(label, {})
        quiet = f.get("false_alarms_by_horizon", {})
        on_fleet = max(quiet.values()) if quiet else 0
        unmet = s.get("calibration_unmet", 0) + f.get("calibration_unmet", 0)
        beyond = [f"{k} {ert / n:.0f}×" for k, n in halves.items()
                  if ert > REPRESENTABLE * n]
        lines.append(
            f"| {label} | {events(label)} | {'**yes**' if events(label) < default else 'no'} | "
            f"{on_fleet} ({labels / ert:.1f}) | {s['caught_1000']}/{s['drifts']} | "
            f"{s['mean_delay_1000']} | {s['detected']}/{s['drifts']} | "
            f"{s.get('calibrated_deltas')}; {f.get('calibrated_deltas')} | {unmet} | "
            f"{', '.join(beyond) or 'no'} |")
    lines += ["", "A calibrated detector trades false alarms for delay up to the target it is "
              f"given; `driftline calibrate` warns when a target is beyond {REPRESENTABLE} times "
              "its calibration half (see `detectors/calibration.py`)."]
    return lines


def markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        "# The `error` detector on River's synthetic drift streams and a stationary fleet",
        "",
        f"`{result['command']}` — Python {m['python']}, River {m['river']}, {m['cpu']}, "
        f"{m['cores']} cores, {m['platform']}. Wall {result['wall_s']} s, CPU "
        f"{result['cpu_s']} s (max RSS {result['max_rss_mb']} MB).",
        "",
        "Every detector runs behind Driftline's alert lifecycle (warm-up 100, cooldown 1,000): "
        "the counts are published events. Per drift, its first alarm in its segment detects it; "
        f"other alarms within {EPISODE:,} samples after a drift's onset are *repeats* (the same "
        "drift again: a gradual drift still mixing in, the tree adapting); all the rest are "
        "*false positives* (alarms on a stationary stretch, before the first drift included). "
        "Planted: the error rate goes from 10% to 40% (or 30%) at sample 3,000 of 6,000, 20 "
        "seeds: median and max delay of the first alarm, and how many seeds it missed.",
        "",
    ]
    drift = result["drift_streams"]
    lines += [
        f"## Drift streams: {drift['streams']} streams (Sine, SEA, Agrawal, Mixed × abrupt, "
        f"gradual width {GRADUAL_WIDTH} × seeds), drifts every {SEGMENT:,}, "
        f"{int(LABEL_NOISE * 100)}% label noise, Hoeffding tree",
        "",
        "| detector | group | caught < 250 | caught < 1,000 | mean delay of those | detected "
        "at all | mean delay of those | false positives | repeats | planted 10→40% median/max "
        "(missed) | planted 10→30% | CPU µs/update |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, s in drift["detectors"].items():
        n = s["drifts"]
        lines.append(
            f"| {label} | {s['group']} | {s['caught_250']}/{n} | {s['caught_1000']}/{n} | "
            f"{s['mean_delay_1000']} | {s['detected']}/{n} | {s['mean_delay']} | "
            f"{s['false_positives']} | {s['repeats']} | {_planted(s['planted'][0])} | "
            f"{_planted(s['planted'][1])} | {s['cpu_us_per_update']} |")
    lines += _goal(result)
    lines += _calibrated(result)
    fleet = result.get("fleet")
    if fleet:
        horizons = fleet["horizons"]
        lines += [
            "",
            f"## Stationary fleet: {fleet['models']} models (positive rates "
            f"{', '.join(f'{r:.0%}' for r in FLEET_POSITIVE_RATES)}, 10% label noise, labels "
            "delayed, shuffled and duplicated), false alarms within each model's first N labels",
            "",
            f"Mean error rate by positive rate: {fleet['error_rates']}",
            "",
            "| detector | " + " | ".join(f"first {h:,}" for h in horizons)
            + " | per 100k labels | CPU µs/update |",
            "| --- | " + " | ".join("---:" for _ in horizons) + " | ---: | ---: |",
        ]
        for label, s in fleet["detectors"].items():
            counts = " | ".join(str(s["false_alarms_by_horizon"][str(h)]) for h in horizons)
            lines.append(f"| {label} | {counts} | {s['per_100k_labels']} | "
                         f"{s['cpu_us_per_update']} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--fleet-models", type=int, default=6, help="models per positive rate")
    parser.add_argument("--fleet-labels", type=int, default=500_000)
    parser.add_argument("--detectors", default="", help="labels separated by ;, default all")
    parser.add_argument("--no-kswin", action="store_true", help="skip KSWIN (slow)")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/driftline-river-streams"))
    parser.add_argument("--output", type=Path, default=RESULTS / "river_streams")
    parser.add_argument("--render", action="store_true",
                        help="only rewrite the markdown from the output's JSON")
    args = parser.parse_args()
    if args.render:
        result = json.loads(args.output.with_suffix(".json").read_text())
        args.output.with_suffix(".md").write_text(markdown(result))
        return 0
    labels = [x.strip() for x in args.detectors.split(";") if x.strip()] or list(DETECTORS)
    if args.no_kswin and "KSWIN" in labels:
        labels.remove("KSWIN")
    wall, cpu = time.monotonic(), time.process_time()
    result: dict[str, Any] = {"command": "python bench/river_streams.py " + " ".join(sys.argv[1:]),
                              "machine": machine_details()}
    result["drift_streams"] = run_drift_streams(args.seeds, args.cache, labels)
    if args.fleet_labels:
        result["fleet"] = run_fleet(args.fleet_models, args.fleet_labels,
                                    [x for x in labels if x != "KSWIN"])
    result["wall_s"] = round(time.monotonic() - wall, 1)
    result["cpu_s"] = round(time.process_time() - cpu, 1)
    result["max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    args.output.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
