"""Memory per tracked key, two source trees side by side (the scale bench's own measurement).

For each configuration of :data:`consumer_throughput.SCALE_CONFIGS` (``three_detectors``: ADWIN
on the score, ADWIN on the feature ``x``, DDM on the error; ``default``: ``DetectionConfig()``)
and each key count, :func:`consumer_throughput.scale_child` runs once per tree, each in a fresh
process whose ``detectors`` (and ``consumer``) come from that tree and whose measuring code is
this tree's ``bench/``, the order alternating per point. Each key is fed
:data:`~consumer_throughput.MEMORY_ROUNDS` predictions and their labels; reported per key: the
resident-set growth, the join's part of it (``join_bytes_per_key``: the deep size of its
entries, a tombstone per joined prediction kept until ``join_ttl_s``: it scales with the
predictions within that time, not with the keys) and the figure without it, snapshot bytes,
the in-memory eager decode of every snapshot (CPU), and the scale bench's throughput pass
(events/s, CPU per event: one pass each, so a noisy figure on a shared machine; instructions
per event come from ``bench/pipeline_ab.py --instructions``).

    .venv/bin/python bench/key_memory.py --before /tmp/main-tree --after . \\
        --keys 1000,100000 --json bench/results/key_memory.json

(``/tmp/main-tree``: e.g. ``git archive main | tar -x -C /tmp/main-tree``.)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench_env import machine

BENCH = Path(__file__).resolve().parent


def point(tree: str, keys: int, detection: str, rounds: int) -> dict[str, Any]:
    """One ``scale_child`` run of ``tree``'s detectors in a fresh process."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(BENCH), str(Path(tree).resolve())])}
    done = subprocess.run(
        [sys.executable, str(BENCH / "consumer_throughput.py"), "--scale-child", str(keys),
         "--scale-detection", detection, "--scale-rounds", str(rounds)],
        cwd=tree, env=env, capture_output=True, text=True, timeout=3600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{tree} {keys} {detection}: {done.stderr[-3000:]}")
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if Path(found["code"]).resolve() != Path(tree).resolve():
        raise RuntimeError(f"measured {found['code']}, not {tree}")
    return found


ROWS = [("rss_bytes_per_key", "RSS B/key"), ("join_bytes_per_key", "join B/key"),
        ("rss_bytes_per_key_without_join", "RSS w/o join"),
        ("snapshot_bytes_per_key", "snapshot B/key"), ("decode_cpu_s", "decode CPU s"),
        ("events_per_s", "events/s"), ("cpu_us_per_event", "CPU us/event")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True, help="source tree of the baseline")
    parser.add_argument("--after", required=True, help="source tree of the change")
    parser.add_argument("--keys", default="1000,100000")
    parser.add_argument("--configs", default="three_detectors,default")
    parser.add_argument("--rounds", type=int, default=3,
                        help="predictions (each labelled) per key before memory is measured")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    trees = {"before": args.before, "after": args.after}
    out: dict[str, Any] = {"machine": machine(), "trees": trees,
                           "load_before": os.getloadavg(), "points": []}
    print(json.dumps(out["machine"]), flush=True)
    flip = False
    for detection in args.configs.split(","):
        for keys in [int(k) for k in args.keys.split(",") if k]:
            order = ["after", "before"] if flip else ["before", "after"]
            flip = not flip
            began = time.strftime("%H:%M:%S", time.gmtime())
            runs = {name: point(trees[name], keys, detection, args.rounds) for name in order}
            out["points"].append({"detection": detection, "keys": keys, "began_utc": began,
                                  "load": os.getloadavg(), **runs})
            print(f"\n{detection}, {keys:,} keys, {args.rounds} rounds (began {began} UTC, load "
                  f"{os.getloadavg()[0]:.1f}):", flush=True)
            for field, title in ROWS:
                b, a = runs["before"][field], runs["after"][field]
                ratio = f"{a / b:.3f}" if b else "-"
                print(f"  {title:<15} before {b:>10,}  after {a:>10,}  after/before {ratio}",
                      flush=True)
    out["load_after"] = os.getloadavg()
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
