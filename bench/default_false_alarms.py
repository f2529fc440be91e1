"""Measure Driftline's default detection config: false alarms on stationary traffic across many
models, and detection delay on real shifts (error rate 10% → 40%; a feature mean + 3 std).

Everything goes through :class:`detectors.Pipeline` with ``DetectionConfig()`` (warm-up and
cooldown included), next to River's raw defaults (DDM(), PageHinkley()) for comparison.
Delays are counted in the shifted model's own samples (labels for ``error``, predictions for
``feature:amount``). The F1 threshold (0.7) is excluded from false-alarm counts only if the
model's baseline F1 is below it; here baseline F1 ≈ 0.9, so it is included.

    .venv/bin/python bench/default_false_alarms.py [--models 40] [--samples 10000]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
from datetime import UTC, datetime
from typing import Any

import river

from detectors import DetectionConfig, DriftEvent, Label, Pipeline, Prediction, Source

BASE_MS = 1_700_000_000_000
FIXED = datetime(2030, 1, 1, tzinfo=UTC)


def stream(model: str, n: int, seed: int, shift_at: int | None) -> list[tuple[Any, ...]]:
    """(kind, index, event) for one model: prediction i, then its label 3 predictions later."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        shifted = shift_at is not None and i >= shift_at
        label = rng.random() < 0.5
        wrong = rng.random() < (0.4 if shifted else 0.1)
        out.append(
            Prediction(
                prediction_id=f"{model}-{i}",
                model_id=model,
                model_version="v1",
                timestamp=BASE_MS + i * 100,
                prediction=(not label) if wrong else label,
                score=rng.random(),
                features={
                    "amount": rng.gauss(3.0 if shifted else 0.0, 1.0),
                    "age": rng.randint(18, 90),
                },
            )
        )
        out.append(
            Label(
                prediction_id=f"{model}-{i}",
                model_id=model,
                timestamp=BASE_MS + i * 100 + 300,
                label=label,
            )
        )
    return out


def run(config: DetectionConfig, models: int, n: int, shift_at: int | None) -> dict[str, Any]:
    pipeline = Pipeline(config, clock=lambda: FIXED)
    streams = [stream(f"m{k}", n, 1000 + k, shift_at) for k in range(models)]
    events: list[DriftEvent] = []
    offset = 0
    # interleave models round-robin, as a partition carrying many models would
    for group in zip(*streams, strict=True):
        for event in group:
            src = Source.model_construct(topic="bench", partition=0, offset=offset)
            offset += 1
            events.extend(o for o in pipeline.process(event, src) if isinstance(o, DriftEvent))
    return {"events": events, "pipeline": pipeline}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=40)
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--shift-at", type=int, default=3_000)
    args = parser.parse_args()
    print(
        f"Python {sys.version.split()[0]}, River {river.__version__}, {platform.machine()}, "
        f"cores {os.cpu_count()}"
    )
    raw_river = DetectionConfig.model_validate(
        {
            "signals": {
                "error": [{"type": "ddm"}],
                "score": [{"type": "page_hinkley"}],
                "feature": [{"type": "page_hinkley"}],
            },
            "warmup_samples": 0,
            "cooldown_samples": 0,
            "metric_thresholds": {},
        }
    )
    for name, config in (
        ("Driftline defaults", DetectionConfig()),
        ("River raw defaults (DDM, PageHinkley)", raw_river),
    ):
        print(f"\n== {name}")
        result = run(config, args.models, args.samples, None)
        samples = args.models * args.samples
        false = [e for e in result["events"] if e.severity == "drift"]
        warnings = [e for e in result["events"] if e.severity == "warning"]
        by_signal: dict[str, int] = {}
        for e in false:
            by_signal[e.signal.split(":")[0]] = by_signal.get(e.signal.split(":")[0], 0) + 1
        affected = len({e.model_id for e in false})
        print(
            f"stationary: {args.models} models x {args.samples} predictions (+ labels): "
            f"{len(false)} false drift events ({1e4 * len(false) / samples:.3f} per 10k "
            f"samples per model; {affected}/{args.models} models affected; by signal "
            f"{by_signal}); {len(warnings)} warnings"
        )
        shifted = run(config, args.models, args.samples, args.shift_at)
        for signal in ("error", "feature:amount"):
            delays = []
            for k in range(args.models):
                hits = [
                    e
                    for e in shifted["events"]
                    if e.model_id == f"m{k}" and e.signal == signal and e.severity == "drift"
                ]
                # the triggering source offset → the model's sample index
                idx = [(e.source.offset // 2) // args.models for e in hits]
                after = [i - args.shift_at for i in idx if i >= args.shift_at]
                delays.append(after[0] if after else None)
            found = [d for d in delays if d is not None]
            if found:
                print(
                    f"shift on {signal}: detected in {len(found)}/{args.models} models; delay "
                    f"(samples) median {statistics.median(found):.0f}, p90 "
                    f"{sorted(found)[int(0.9 * (len(found) - 1))]}, max {max(found)}"
                )
            else:
                print(f"shift on {signal}: not detected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
