"""What a checkpoint costs as the join's tombstones pile up (the latency bench's stream).

A joined prediction stays in the label join as a tombstone until ``join_ttl_s`` (a day by
default; bounded by ``max_pending_joins``, 1,000,000) so that a second label or a repeated
prediction is refused as a duplicate. Every checkpoint exports each model's join state, the
tombstones included (:meth:`detectors.join.LabelJoin.export_model`), so a snapshot grows with
the predictions joined within the TTL, not with the model's detectors. This prints, at points
along the latency bench's stream (10 models, labels 500 ms after their predictions, default
detection but warm-up 50 and cooldown 100 as there), the join's entries, the bytes of every
model's snapshot and the CPU milliseconds to take them (``snapshot_model`` of every model, as
a checkpoint does).

    .venv/bin/python bench/join_tombstones_cost.py [--events 150000] [--every 25000]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent.parent)]

from bench_env import machine  # noqa: E402

from consumer.batch import Decoder  # noqa: E402
from detectors.config import DetectionConfig  # noqa: E402
from detectors.pipeline import Pipeline  # noqa: E402
from driftline.dev.simulator import Drift, Scenario, simulate  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=150_000)
    parser.add_argument("--every", type=int, default=25_000)
    args = parser.parse_args()
    models = 10
    scenario = Scenario(
        models=tuple(f"model-{i}" for i in range(models)), samples=args.events // (2 * models),
        rate=100.0, label_delay_ms=500,
        drifts=(Drift(kind="seasonal", start=100, width=400, feature_shift=4.0),))
    items = [(e.model_id.encode(), e.model_dump_json().encode())
             for e in simulate(scenario, seed=3)]
    pipeline = Pipeline(DetectionConfig.model_validate(
        {"cooldown_samples": 100, "warmup_samples": 50}))
    decode = Decoder().decode
    print(json.dumps(machine()), flush=True)
    rows = []
    for start in range(0, len(items), 1000):
        records = []
        for offset in range(start, min(start + 1000, len(items))):
            key, value = items[offset]
            records.append((decode(value, key, "bench", 0, offset), ("bench", 0, offset), value))
        pipeline.process_batch(records)  # type: ignore[arg-type]
        done = start + len(records)
        if done % args.every == 0 or done == len(items):
            began = time.process_time()
            size = sum(len(pipeline.snapshot_model(m)) for m in pipeline.model_ids())
            cpu_ms = 1000 * (time.process_time() - began)
            entries = len(pipeline.join._pending)
            rows.append({"events": done, "join_entries": entries, "snapshot_bytes": size,
                         "snapshot_cpu_ms": round(cpu_ms, 1)})
            print(f"after {done:>8,} events: {entries:>7,} join entries, every model's "
                  f"snapshot {size / 1e6:6.2f} MB in {cpu_ms:6.1f} ms CPU", flush=True)
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
