"""Garbage-collection stalls of a long run at scale: Python's collector as it is, and with the
service's heap policy (:mod:`consumer.gc_policy`), side by side.

In memory, no Kafka: ``--keys`` tracked keys (the scale bench's stream,
:func:`consumer_throughput.scale_records`: every round a prediction for every key, then its
label), as JSON, decoded by the service's decoder and fed through :meth:`Pipeline.process_batch`
in batches of 1 000, round after round, for ``--rounds`` rounds. Each arm runs in a fresh process:

* ``python``: :func:`~consumer.gc_policy.tune_gc` only (the young-generation threshold the
  service sets), then CPython's own heuristics;
* ``frozen``: the same, plus :meth:`HeapPolicy.after_commit` after every batch, as the service
  calls it after every commit (the heap frozen at most every 0.5 s; no full sweep during the
  run); ``frozen_<seconds>`` freezes at most every that many seconds.

Every collection's pause is timed (``gc.callbacks``), by generation. After the run: how many
tracked objects the heap holds, how long one full collection of all of it takes, and how many
unreachable objects that collection finds (the reference cycles the run made: what freezing
could leak until a sweep).

With ``--service-events``, the service too: on a real broker, the events of the throughput
bench's stream with bad records among them, the collector off, then one full collection counts
the reference cycles the service made (what the frozen heap would keep).

    .venv/bin/python bench/gc_pauses.py --keys 100000 --rounds 12 \\
        --detection three_detectors --service-events 20000,100000 \\
        --json bench/results/gc_pauses.json
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
    import msgspec

    from consumer.batch import Decoder
    from detectors.config import DetectionConfig
    from detectors.pipeline import Pipeline

    encode = msgspec.json.Encoder().encode
    tune_gc()
    config = DetectionConfig.model_validate({**SCALE_CONFIGS[detection],
                                             "max_tracked_keys": keys + 1})
    pipeline = Pipeline(config)
    policy = None
    if arm.startswith("frozen"):  # frozen (the service's interval), frozen_<seconds>
        every = float(arm.split("_", 1)[1]) if "_" in arm else FREEZE_INTERVAL_S
        policy = HeapPolicy(full_sweep_interval_s=0, freeze_interval_s=every)
    pauses: dict[int, list[tuple[int, float]]] = {0: [], 1: [], 2: []}  # (round, seconds)
    began = [0.0]
    current = [0]

    def timed(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            began[0] = time.perf_counter()
        else:
            pauses[info["generation"]].append((current[0], time.perf_counter() - began[0]))

    gc.callbacks.append(timed)
    events = 0
    wall = cpu = 0.0
    decode = Decoder().decode
    for r in range(rounds):
        current[0] = r
        # The round as JSON, made outside the timed part; decoded a batch at a time, as the
        # service does (bytes are not tracked by the collector: only a batch's events are).
        encoded = [encode(event) for event, _, _ in scale_records(keys, 1, first_round=r)]
        t0, c0 = time.perf_counter(), time.process_time()
        for start in range(0, len(encoded), BATCH):
            batch = [(decode(value, b"k", "bench", 0, offset), ("bench", 0, offset), value)
                     for offset, value in enumerate(encoded[start:start + BATCH], start)]
            pipeline.process_batch(batch)  # type: ignore[arg-type]
            if policy is not None:
                policy.after_commit()
        wall += time.perf_counter() - t0
        cpu += time.process_time() - c0
        events += len(encoded)
        del encoded
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

    def by_generation(rounds_in: range) -> dict[str, Any]:
        return {f"gen{g}": ms([t for r, t in v if r in rounds_in]) for g, v in pauses.items()}

    return {"arm": arm, "keys": keys, "rounds": rounds, "detection": detection,
            "events": events, "events_per_s": round(events / wall),
            "cpu_us_per_event": round(cpu / events * 1e6, 2),
            "collections": by_generation(range(rounds)),
            # the first round creates every key; the later ones are the steady state
            "collections_first_round": by_generation(range(1)),
            "collections_later_rounds": by_generation(range(1, rounds)),
            "longest_pause_ms": round(1000 * max(
                (t for v in pauses.values() for _, t in v), default=0.0), 1),
            "longest_pause_later_rounds_ms": round(1000 * max(
                (t for v in pauses.values() for r, t in v if r >= 1), default=0.0), 1),
            "tracked_objects_at_end": tracked, "full_collection_at_end_s": round(full_s, 2),
            "unreachable_found_at_end": found}


def service_cycles(bootstrap: str, n: int) -> dict[str, Any]:
    """The service itself (in this process, on a real broker): ``n`` events of the throughput
    bench's stream with a bad record (bad JSON, a missing field, a wrong label type, in turn)
    after every 20th, the collector off from before it starts until after it stops; then how
    many unreachable objects one full collection finds: the reference cycles the service made."""
    import threading

    from consumer_throughput import _committed, _service, events, make_topics, produce_all

    bad = [b"{not json", b'{"type":"prediction"}',
           b'{"type":"label","schema_version":1,"prediction_id":"x","model_id":"model-3",'
           b'"timestamp":"2024-01-01T00:00:00Z","label":[1]}']
    records: list[tuple[bytes, bytes]] = []
    for i, item in enumerate(events(n)):
        records.append(item)
        if i % 20 == 0:
            records.append((b"model-1", bad[i // 20 % 3]))
    topics = make_topics(bootstrap, "gc-cycles")
    produce_all(bootstrap, topics.predictions, records)
    gc.collect()
    gc.disable()
    try:
        service = _service(bootstrap, topics)
        thread = threading.Thread(target=service.run, daemon=True)
        thread.start()
        group = service.settings.group_id
        while _committed(bootstrap, group, topics.predictions) < len(records):
            time.sleep(0.2)
        service.stop()
        thread.join(60)
        gc.unfreeze()
        found = gc.collect()
    finally:
        gc.enable()
    return {"records": len(records), "bad_records": len(records) - n,
            "unreachable_found": found}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--detection", default="three_detectors", choices=SCALE_CONFIGS)
    parser.add_argument("--arms", default="python,frozen")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--service-events", default="",
                        help="comma-separated event counts: also run the service on a broker "
                             "(--bootstrap, or one started here) and count the reference "
                             "cycles it made (e.g. 20000,100000)")
    parser.add_argument("--bootstrap", help="existing broker for --service-events")
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
              f"{point['longest_pause_ms']} ms (after the first round "
              f"{point['longest_pause_later_rounds_ms']} ms); at the end {point['tracked_objects_at_end']:,} "
              f"tracked objects, one full collection {point['full_collection_at_end_s']} s, "
              f"{point['unreachable_found_at_end']} unreachable found", flush=True)
    if args.service_events:
        results["service"] = _service_runs(args)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


def _service_runs(args: argparse.Namespace) -> list[dict[str, Any]]:
    broker = None
    bootstrap = args.bootstrap
    if bootstrap is None:
        import tempfile

        from driftline.dev.local_broker import LocalKafka

        broker = LocalKafka(directory=Path(tempfile.mkdtemp(prefix="bench-kafka-")))
        bootstrap = broker.start()
    runs = []
    try:
        for n in (int(k) for k in args.service_events.split(",") if k):
            run = service_cycles(bootstrap, n)
            runs.append(run)
            print(f"service: {run['records']:,} records ({run['bad_records']:,} bad): "
                  f"{run['unreachable_found']} unreachable objects found after it stopped",
                  flush=True)
    finally:
        if broker is not None:
            broker.stop()
    return runs


if __name__ == "__main__":
    raise SystemExit(main())
