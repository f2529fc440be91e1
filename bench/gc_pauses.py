"""Garbage-collection stalls of a long run at scale: Python's collector as it is, and with the
service's heap policy (:mod:`consumer.gc_policy`), side by side.

In memory, no Kafka: ``--keys`` tracked keys (the scale bench's stream,
:func:`consumer_throughput.scale_records`: every round a prediction for every key, then its
label), fed in batches of 1 000 through :meth:`Pipeline.process_batch`, round after round, for
``--rounds`` rounds. Each arm runs in a fresh process:

* ``python``: :func:`~consumer.gc_policy.tune_gc` only (the young-generation threshold the
  service sets), then CPython's own heuristics;
* ``frozen``: the same, plus :meth:`HeapPolicy.after_commit` after every batch, as the service
  calls it after every commit (the heap frozen at most every 0.5 s; no full sweep during the
  run); ``frozen_<seconds>`` freezes at most every that many seconds.

Every collection's pause is timed (``gc.callbacks``), by generation. After the run: how many
tracked objects the heap holds, how long one full collection of all of it takes, and how many
unreachable objects that collection finds (the reference cycles the run made: what freezing
could leak until a sweep).

    .venv/bin/python bench/gc_pauses.py --keys 100000 --rounds 12 \\
        --detection three_detectors --json bench/results/gc_pauses.json
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_env import machine
from consumer_throughput import SCALE_CONFIGS, scale_records

from consumer.gc_policy import FREEZE_INTERVAL_S, HeapPolicy, tune_gc

BATCH = 1000


def run_arm(arm: str, keys: int, rounds: int, detection: str) -> dict[str, Any]:
    """One arm in this process (a fresh one: the heap is this run's)."""
    from detectors.config import DetectionConfig
    from detectors.pipeline import Pipeline

    tune_gc()
    config = DetectionConfig.model_validate({**SCALE_CONFIGS[detection],
                                             "max_tracked_keys": keys + 1})
    pipeline = Pipeline(config)
    policy = None
    if arm.startswith("frozen"):  # frozen (the service's interval), frozen_<seconds>
        every = float(arm.split("_", 1)[1]) if "_" in arm else FREEZE_INTERVAL_S
        policy = HeapPolicy(full_sweep_interval_s=0, freeze_interval_s=every)
    pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
    began = [0.0]

    def timed(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            began[0] = time.perf_counter()
        else:
            pauses[info["generation"]].append(time.perf_counter() - began[0])

    gc.callbacks.append(timed)
    events = 0
    wall = cpu = 0.0
    for r in range(rounds):
        records = scale_records(keys, 1, first_round=r)  # made outside the timed part
        t0, c0 = time.perf_counter(), time.process_time()
        for start in range(0, len(records), BATCH):
            pipeline.process_batch(records[start:start + BATCH])
            if policy is not None:
                policy.after_commit()
        wall += time.perf_counter() - t0
        cpu += time.process_time() - c0
        events += len(records)
        del records
        print(f"  {arm}: round {r + 1}/{rounds}, {events:,} events", file=sys.stderr,
              flush=True)
    gc.callbacks.remove(timed)
    tracked = len(gc.get_objects()) + gc.get_freeze_count()
    gc.unfreeze()
    t0 = time.perf_counter()
    found = gc.collect()
    full_s = time.perf_counter() - t0

    def ms(values: list[float]) -> dict[str, Any]:
        return {"n": len(values),
                "p50_ms": round(1000 * statistics.median(values), 2) if values else 0.0,
                "max_ms": round(1000 * max(values), 1) if values else 0.0,
                "total_s": round(sum(values), 2)}

    return {"arm": arm, "keys": keys, "rounds": rounds, "detection": detection,
            "events": events, "events_per_s": round(events / wall),
            "cpu_us_per_event": round(cpu / events * 1e6, 2),
            "collections": {f"gen{g}": ms(v) for g, v in pauses.items()},
            "longest_pause_ms": round(1000 * max((max(v) for v in pauses.values() if v),
                                                 default=0.0), 1),
            "tracked_objects_at_end": tracked, "full_collection_at_end_s": round(full_s, 2),
            "unreachable_found_at_end": found}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--detection", default="three_detectors", choices=SCALE_CONFIGS)
    parser.add_argument("--arms", default="python,frozen")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--arm", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.arm:
        print(json.dumps(run_arm(args.arm, args.keys, args.rounds, args.detection)))
        return 0
    results: dict[str, Any] = {"machine": machine(), "arms": {}}
    print(json.dumps(results["machine"]), flush=True)
    for arm in args.arms.split(","):
        done = subprocess.run(
            [sys.executable, __file__, "--arm", arm, "--keys", str(args.keys), "--rounds",
             str(args.rounds), "--detection", args.detection],
            stdout=subprocess.PIPE, text=True, check=True)
        point = json.loads(done.stdout.strip().splitlines()[-1])
        results["arms"][arm] = point
        full = point["collections"]["gen2"]
        print(f"{arm:>7}: {point['events']:,} events over {args.keys:,} keys "
              f"({args.detection}): {point['events_per_s']:,} events/s, "
              f"{point['cpu_us_per_event']} CPU us/event; full collections {full['n']} "
              f"(max {full['max_ms']} ms, {full['total_s']} s in all), longest pause "
              f"{point['longest_pause_ms']} ms; at the end {point['tracked_objects_at_end']:,} "
              f"tracked objects, one full collection {point['full_collection_at_end_s']} s, "
              f"{point['unreachable_found_at_end']} unreachable found", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
