"""The label path alone, two source trees side by side: CPU per joined pair, before and after.

Each round times :meth:`KeyMonitor.observe_label <detectors.monitor.KeyMonitor.observe_label>`
(default configuration: ADWIN on the error, the F1 baseline alert, CBPE's calibration; plus an
``f1``/``accuracy`` threshold with ``--thresholds``) over the same 200,000 binary pairs with
scores (error rate 10 %, 25 % from the middle on: the baseline alert re-estimates its margin
there) in a fresh process per tree, alternating the order; reports CPU µs per pair
(``time.process_time``), medians and minima, and checks both trees published the same events.

    .venv/bin/python bench/label_path_ab.py --before /tmp/main-tree --after . --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = """
import json, random, sys, time
sys.path[:0] = ["."]
from datetime import UTC, datetime
from detectors.config import DetectionConfig
from detectors.monitor import KeyMonitor
config = DetectionConfig(metric_thresholds={thresholds})
monitor = KeyMonitor(config, "m", "v1", None, clock=lambda: datetime(2026, 1, 1, tzinfo=UTC))
rng = random.Random(7)
pairs = []
for i in range({n}):
    actual = rng.random() < 0.4
    wrong = rng.random() < (0.1 if i < {n} // 2 else 0.25)
    pairs.append(((not actual) if wrong else actual, actual, rng.random()))
when = datetime(2024, 1, 1, tzinfo=UTC)
began = time.process_time()
events = []
for i, (predicted, actual, score) in enumerate(pairs):
    out = monitor.observe_label(predicted, actual, when, ("t", 0, i), score=score)
    if out:
        events.extend((e.signal, e.detector, e.severity, e.source.offset) for e in out)
cpu = time.process_time() - began
print(json.dumps([cpu, events]))
"""


def run(tree: str, n: int, thresholds: str) -> tuple[float, list[object]]:
    done = subprocess.run([sys.executable, "-c", CHILD.format(n=n, thresholds=thresholds)],
                          cwd=tree, capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": tree})
    cpu, events = json.loads(done.stdout)
    return cpu, events


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True)
    parser.add_argument("--after", required=True)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pairs", type=int, default=200_000)
    parser.add_argument("--thresholds", action="store_true",
                        help="also f1 >= 0.8 and accuracy >= 0.85 thresholds")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    thresholds = '{"f1": 0.8, "accuracy": 0.85}' if args.thresholds else "{}"
    trees = {"before": args.before, "after": args.after}
    cpu: dict[str, list[float]] = {name: [] for name in trees}
    seen: dict[str, list[object]] = {}
    print(f"load average {os.getloadavg()}", flush=True)
    for r in range(args.rounds):
        for name in (trees if r % 2 == 0 else reversed(list(trees))):
            seconds, events = run(trees[name], args.pairs, thresholds)
            cpu[name].append(seconds / args.pairs * 1e6)
            seen.setdefault(name, events)
            print(f"round {r} {name:6}: {cpu[name][-1]:.3f} us CPU/pair, "
                  f"{len(events)} events", flush=True)
    if seen["before"] != seen["after"]:
        raise SystemExit("the trees published different events")
    figures = {name: {"median_us": round(statistics.median(v), 3), "min_us": round(min(v), 3),
                      "runs_us": [round(x, 3) for x in v]} for name, v in cpu.items()}
    figures["ratio_of_medians"] = round(
        figures["after"]["median_us"] / figures["before"]["median_us"], 3)
    figures["events"] = len(seen["after"])
    figures["load_average_at_end"] = list(os.getloadavg())
    print(json.dumps(figures), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=2)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
