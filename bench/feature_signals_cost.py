"""What watching every feature costs the hot path: pipeline-only CPU per event, off vs on.

The consumer throughput bench's stream (:func:`consumer_throughput.events`: 10 scored binary
classifiers, three numeric features each, a label per prediction) through
:func:`consumer_throughput.run_pipeline_only` (decode + ``process_batch`` + output encoding, no
Kafka), once per configuration in alternating rounds (so a busy neighbour slows both alike):

* **off** — ``feature_signals`` off: River's ADWIN per numeric feature and on the score, DDM on
  the error, the rolling metrics (the detection core before this change);
* **defaults** — ``DetectionConfig()``: the above plus every feature's windowed detectors, the
  joint signal and CBPE (:mod:`detectors.feature_watch`);
* one row per signal group: the defaults with only that group on (the cost of each).

CPU time is ``time.process_time`` of this process; the median over rounds is reported, with
the ratio to **off**. No Kafka, no broker.

Usage::

    .venv/bin/python bench/feature_signals_cost.py [--events 100000] [--rounds 5]
        [--json bench/results/feature_signals_cost.json] [--md bench/results/feature_signals_cost.md]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_env import machine
from consumer_throughput import events, run_pipeline_only

from detectors.config import DetectionConfig
from detectors.feature_signals import FeatureSignalsConfig


def configurations() -> dict[str, DetectionConfig]:
    full = FeatureSignalsConfig()
    none: dict[str, Any] = {"numeric": [], "categorical": [], "boolean": [], "joint": None,
                            "cbpe": None}
    only = {
        "shape_drift only": {**none, "numeric": [full.numeric[0]]},
        "missing_rate only": {**none, "numeric": [full.numeric[1]]},
        "type_change only": {**none, "numeric": [full.numeric[2]]},
        "joint only": {**none, "joint": full.joint},
        "cbpe only": {**none, "cbpe": full.cbpe},
    }
    out = {"off": DetectionConfig(feature_signals=FeatureSignalsConfig.off()),
           "defaults": DetectionConfig()}
    for name, signals in only.items():
        out[name] = DetectionConfig(feature_signals=FeatureSignalsConfig(**signals))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument("--md", help="write the table to this file")
    args = parser.parse_args()
    items = events(args.events)
    configs = configurations()
    cpu: dict[str, list[float]] = {name: [] for name in configs}
    wall: dict[str, list[float]] = {name: [] for name in configs}
    for _ in range(args.rounds):
        for name, config in configs.items():
            elapsed, used = run_pipeline_only(items, config=config)
            cpu[name].append(used / len(items) * 1e6)
            wall[name].append(len(items) / elapsed)
    off = statistics.median(cpu["off"])
    rows = []
    for name in configs:
        median = statistics.median(cpu[name])
        rows.append({"config": name, "cpu_us_per_event": round(median, 2),
                     "cpu_us_per_event_all": [round(x, 2) for x in cpu[name]],
                     "events_per_s": round(statistics.median(wall[name])),
                     "ratio_to_off": round(median / off, 2),
                     "added_us_per_prediction": round(2 * (median - off), 2)})
    info = {**machine(), "platform": platform.platform(), "events": len(items),
            "predictions": len(items) // 2, "rounds": args.rounds}
    lines = [
        "# Cost of watching every feature (pipeline only, no Kafka)",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores; Python {info['python']}, "
        f"River {info['river']}. Stream: `consumer_throughput.events({args.events})` "
        f"({info['predictions']:,} predictions, 3 numeric features each, scored binary, a label "
        f"each). Command: `python bench/feature_signals_cost.py --events {args.events} "
        f"--rounds {args.rounds}`. Median of {args.rounds} alternating rounds.",
        "",
        "| config | CPU µs/event | × off | added µs per prediction | events/s | rounds (µs/event) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['config']} | {r['cpu_us_per_event']} | {r['ratio_to_off']} | "
            f"{r['added_us_per_prediction']} | {r['events_per_s']:,} | "
            f"{', '.join(map(str, r['cpu_us_per_event_all']))} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.md:
        Path(args.md).write_text(text)
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": info, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
