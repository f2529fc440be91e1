"""The baseline watcher's margin: estimated from the version's labels as they come, or from the
baseline's own counts alone (the behaviour before 2026-12-02), side by side.

A healthy model (50% positives, a fixed error rate) labels ``--samples`` pairs per life; a life
"fired" when :class:`detectors.performance.BaselineWatcher` (F1, the default 1,000-label
baseline, 500-label window, z = 4) published a drift. Planted drops: the error rate rises at
``--shift-at`` (F1 0.9 -> 0.8, and 0.78 -> 0.68 as in ``bench/default_false_alarms.py``); the
delay is counted in labels after the shift. "Baseline counts alone" is the same watcher with its
running counts switched off once the baseline is measured (``seen = None``), which is exactly
the old estimate. Also the CPU time per label of the rolling window plus the alerts.

    .venv/bin/python bench/baseline_margin.py [--lives 1000] [--samples 6000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_env import machine
from detectors.performance import BaselineWatcher, ClassificationWindow, PerformanceAlerts

MODES = ("version's labels", "baseline counts alone")


def _life(seed: int, samples: int, error: float, shifted: float, shift_at: int,
          mode: str) -> int | None:
    """The first label index at which the watcher fired after ``shift_at`` (None: never)."""
    rng = random.Random(seed)
    window = ClassificationWindow(500)
    watcher = BaselineWatcher("f1", baseline_samples=1000, window=500, cooldown=1000)
    for i in range(samples):
        actual = rng.random() < 0.5
        wrong = rng.random() < (shifted if i >= shift_at else error)
        predicted = (not actual) if wrong else actual
        window.update(predicted, actual)
        watcher.update(predicted, actual)
        if mode == MODES[1] and watcher.baseline is not None:
            watcher.seen = None
        if window.full and watcher.check(window.metric("f1"), window) and i >= shift_at:
            return i - shift_at
    return None


def _cpu_per_label(mode: str, n: int = 200_000) -> float:
    rng = random.Random(0)
    window = ClassificationWindow(500)
    alerts = PerformanceAlerts(baseline_metrics=("f1",), baseline_samples=1000, z=4.0,
                               min_positives=20, thresholds={}, cooldown=1000)
    pairs = []
    for _ in range(n):
        actual = rng.random() < 0.5
        pairs.append(((not actual) if rng.random() < 0.1 else actual, actual))
    watcher = alerts.baselines["f1"]
    start = time.process_time()
    for predicted, actual in pairs:
        window.update(predicted, actual)
        alerts.observe(predicted, actual, window)
        if mode == MODES[1] and watcher.baseline is not None:
            watcher.seen = None
    return (time.process_time() - start) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lives", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=6000)
    parser.add_argument("--shift-at", type=int, default=3000)
    args = parser.parse_args()
    print(f"$ .venv/bin/python bench/baseline_margin.py --lives {args.lives} "
          f"--samples {args.samples} --shift-at {args.shift_at}")
    print(machine())
    for error in (0.05, 0.1, 0.22):
        row = []
        for mode in MODES:
            fired = sum(_life(seed, args.samples, error, error, 0, mode) is not None
                        for seed in range(args.lives))
            row.append(f"{mode}: {fired}")
        print(f"healthy, {error:.0%} errors: lives that fired, of {args.lives}: " + "; ".join(row))
    for error, shifted in ((0.1, 0.2), (0.22, 0.32)):
        row = []
        for mode in MODES:
            delays = [_life(10_000 + seed, args.samples, error, shifted, args.shift_at, mode)
                      for seed in range(args.lives // 2)]
            caught = sorted(d for d in delays if d is not None)
            within = sum(d <= 500 for d in caught)
            median = statistics.median(caught) if caught else None
            row.append(f"{mode}: caught {len(caught)}, within 500 {within}, median {median}")
        print(f"errors {error:.0%} -> {shifted:.0%} at {args.shift_at}, of {args.lives // 2}: "
              + "; ".join(row))
    cpu = {mode: _cpu_per_label(mode) for mode in MODES}
    print("CPU per label (window + alerts): " + "; ".join(
        f"{mode}: {value:.2f} us" for mode, value in cpu.items())
        + f"; ratio {cpu[MODES[0]] / cpu[MODES[1]]:.2f}")


if __name__ == "__main__":
    main()
