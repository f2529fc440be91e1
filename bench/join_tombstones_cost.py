"""What a checkpoint costs as the join's tombstones pile up: whole snapshots against segments.

A joined prediction stays in the label join as a tombstone until ``join_ttl_s`` (a day by
default; bounded by ``max_pending_joins``, 1,000,000) so that a second label or a repeated
prediction is refused as a duplicate. Until this change every checkpoint wrote each dirty
model's *whole* snapshot (``StateStore.snapshot(…, Pipeline.snapshot_model(m))``: the join's
every entry embedded), so a checkpoint grew with the predictions joined within the TTL. Now it
writes each dirty model's head and only the join segments that changed
(``StateStore.checkpoint(…, Pipeline.checkpoint_model(m))``, :mod:`detectors.join`).

This feeds the latency bench's stream (10 models, 100 predictions/s each, labels 500 ms after
their predictions; default detection but warm-up 50 and cooldown 100 as there) and, every
``--checkpoint-every`` events (20,000 = 10 s of the stream's event time, the default
``snapshot_interval_ms``), takes both checkpoints of the same state side by side: the records'
bytes (keys and values, as produced to the state topic) and the CPU milliseconds to make them
(process time: snapshot + records). At the end it restores the last state from both topics
(in memory: ``StateStore.assemble`` + lazy ``restore_model``, as ``PartitionRestorer`` does)
and checks that they give the same join.

    .venv/bin/python bench/join_tombstones_cost.py [--events 300000] [--json FILE]

``--memory`` instead measures the join's memory per entry with ``tracemalloc``: 100,000
predictions of 10 models through ``LabelJoin`` alone, then the same joined (tombstones). It uses
only the join's event API, so the file can be copied into another checkout and run there for a
before/after.

``--join-cpu`` times the join's own hot path (CPU per event, best of five): 100,000 predictions
of 10 models, then their labels, then the expiry of them all; also runnable in another checkout.

``--restore-scale KEYS --bootstrap HOST:PORT`` instead times the restore of the consumer bench's
scale state (``bench/consumer_throughput.py``'s ``scale_records``: KEYS keys in KEYS/100 models,
three predictions per key, each labelled, so three tombstones per key) from a real state topic,
written both ways (whole snapshots; head + segments), each read back as ``PartitionRestorer``
does (``StateStore.restore``, then every model restored lazily): seconds until ready.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).resolve().parent.parent)]

from bench_env import machine  # noqa: E402

import detectors.join  # noqa: E402
from consumer.batch import Decoder  # noqa: E402
from consumer.state_store import StateStore  # noqa: E402
from detectors.config import DetectionConfig  # noqa: E402
from detectors.pipeline import Pipeline  # noqa: E402
from driftline.dev.simulator import Drift, Scenario, simulate  # noqa: E402

CONFIG = {"cooldown_samples": 100, "warmup_samples": 50}


#: Entries per join segment (0 in a checkout from before segments: --memory, --join-cpu only).
SEGMENT_ENTRIES: int = getattr(detectors.join, "SEGMENT_ENTRIES", 0)


def _store() -> StateStore:
    return StateStore({}, topic="state", group_id="bench", state_partitions=1)


def _bytes(records: list[tuple[bytes, bytes | None]]) -> int:
    return sum(len(key) + len(value or b"") for key, value in records)


def checkpoint_both(pipeline: Pipeline, whole: StateStore, segmented: StateStore,
                    topics: tuple[dict[bytes, Any], dict[bytes, Any]], offset: int
                    ) -> dict[str, float]:
    """One checkpoint of every dirty model, the way before and the way now; then clean."""
    dirty = sorted(pipeline.dirty_models())
    offsets = {"bench": offset}
    began = time.process_time()
    before: list[tuple[bytes, bytes | None]] = []
    for model_id in dirty:
        before += whole.snapshot(0, model_id, pipeline.snapshot_model(model_id), offsets)
    middle = time.process_time()
    after: list[tuple[bytes, bytes | None]] = []
    for model_id in dirty:
        after += segmented.checkpoint(0, model_id, pipeline.checkpoint_model(model_id), offsets)
    end = time.process_time()
    pipeline.mark_clean()
    topics[0].update(before)
    topics[1].update(after)
    return {"models": len(dirty),
            "whole_bytes": _bytes(before), "whole_cpu_ms": round(1000 * (middle - began), 2),
            "segmented_bytes": _bytes(after), "segmented_cpu_ms": round(1000 * (end - middle), 2),
            "segmented_records": len(after),
            # Of which the join's sealed segments (the rest: heads, the models' detectors and
            # the open segments, and the marker-free records of each model).
            "segment_bytes": _bytes([r for r in after if b"~" in r[0]])}


def _pipeline(config: DetectionConfig, segment_entries: int) -> Pipeline:
    pipeline = Pipeline(config)
    pipeline.join.segment_entries = segment_entries
    return pipeline


def restore_from(topic: dict[bytes, Any], segment_entries: int) -> tuple[Pipeline, float]:
    """A pipeline restored from a state topic's latest records, and the CPU seconds it took."""
    began = time.process_time()
    restored = _store().assemble(0, topic)
    pipeline = _pipeline(DetectionConfig.model_validate(CONFIG), segment_entries)
    for model_id, snap in restored.models.items():
        pipeline.restore_model(model_id, snap.payload, lazy=True, persisted=True,
                               segments=snap.segments)
    return pipeline, time.process_time() - began


def _joins(pipeline: Pipeline) -> dict[str, Any]:
    return {m: pipeline.join.export_model(m)["pending"] for m in sorted(pipeline.model_ids())}


def _joined_stream(n: int) -> tuple[list[Any], list[Any]]:
    """``n`` predictions over 10 models and a label for each (the memory and CPU parts' input)."""
    from datetime import UTC, datetime

    from detectors.events import InputLabel, InputPrediction

    when = datetime(2024, 1, 1, tzinfo=UTC)
    predictions = [InputPrediction(prediction_id=f"pred-{i:08d}", model_id=f"model-{i % 10}",
                                   model_version="v1", timestamp=when, prediction=True,
                                   features={"x": 1.0}) for i in range(n)]
    labels = [InputLabel(prediction_id=p.prediction_id, model_id=p.model_id, timestamp=when,
                         label=True) for p in predictions]
    return predictions, labels


def join_memory(n: int = 100_000) -> dict[str, float]:
    """Bytes per pending entry and per tombstone held by a :class:`LabelJoin` (tracemalloc)."""
    import gc
    import tracemalloc

    from detectors.contracts import Source
    from detectors.join import LabelJoin

    predictions, labels = _joined_stream(n)
    source = Source(topic="t", partition=0, offset=0)
    gc.collect()
    tracemalloc.start()
    join = LabelJoin(join_ttl=86_400, label_wait_ttl=3_600, max_pending=10 * n, max_waiting=n)
    base = tracemalloc.get_traced_memory()[0]
    for p in predictions:
        join.add_prediction(p, source, 0.0)
    gc.collect()
    pending = tracemalloc.get_traced_memory()[0] - base
    for label in labels:
        join.add_label(label, source, None, 1.0)
    del labels
    gc.collect()
    # The predictions themselves are the caller's (held by ``predictions``): not counted.
    tombstones = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    return {"entries": n, "bytes_per_pending_entry": round(pending / n, 1),
            "bytes_per_tombstone": round(tombstones / n, 1)}


def join_cpu(n: int = 100_000, repeat: int = 5) -> dict[str, float]:
    """CPU microseconds per add_prediction, per joining add_label and per expired entry."""

    from detectors.join import LabelJoin

    predictions, labels = _joined_stream(n)
    source = ("t", 0, 0)
    best = {"add_prediction_us": 1e9, "add_label_us": 1e9, "expire_us": 1e9}
    for _ in range(repeat):
        join = LabelJoin(join_ttl=60, label_wait_ttl=60, max_pending=10 * n, max_waiting=n)
        t0 = time.process_time()
        for i, p in enumerate(predictions):
            join.add_prediction(p, source, i / 1000)
        t1 = time.process_time()
        for label in labels:
            join.add_label(label, source, None, n / 1000)
        t2 = time.process_time()
        join.expire(n / 1000 + 61)
        t3 = time.process_time()
        assert not join.counters()["pending"] and not join._pending
        for key, took in (("add_prediction_us", t1 - t0), ("add_label_us", t2 - t1),
                          ("expire_us", t3 - t2)):
            best[key] = min(best[key], round(took / n * 1e6, 3))
    return best


def restore_scale(keys: int, bootstrap: str, segment_entries: int) -> dict[str, Any]:
    """The scale state written whole and in segments to two state topics, each restored."""
    import gc

    from confluent_kafka import Producer
    from consumer_throughput import SCALE_DETECTION, make_topics, produce_one, scale_records

    config = DetectionConfig.model_validate({**SCALE_DETECTION, "max_tracked_keys": keys + 1})
    pipeline = _pipeline(config, segment_entries)
    records = scale_records(keys, 3)
    for start in range(0, len(records), 1000):
        pipeline.process_batch(records[start:start + 1000])
    del records
    out: dict[str, Any] = {"keys": keys, "segment_entries": segment_entries,
                           "models": len(pipeline.model_ids()),
                           "join_entries": len(pipeline.join._pending)}
    for way in ("whole", "segmented"):
        topic = make_topics(bootstrap, f"joinstate{keys}{way}").state
        store = StateStore({"bootstrap.servers": bootstrap}, topic=topic, group_id="bench",
                           state_partitions=1, timeout_s=300)
        producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20,
                             "message.max.bytes": 1_000_000, "enable.idempotence": True})
        written = 0
        for model_id in sorted(pipeline.model_ids()):
            state = (store.snapshot(0, model_id, pipeline.snapshot_model(model_id), {"b": 0})
                     if way == "whole" else
                     store.checkpoint(0, model_id, pipeline.checkpoint_model(model_id), {"b": 0}))
            for key, value in state:
                written += len(key) + len(value or b"")
                produce_one(producer, topic, value, key, 0)
        producer.flush(120)
        gc.collect()
        reader = StateStore({"bootstrap.servers": bootstrap}, topic=topic, group_id="bench",
                            state_partitions=1, timeout_s=300)
        fresh = _pipeline(config, segment_entries)
        began = (time.perf_counter(), time.process_time())
        restored = reader.restore(0)
        read = time.perf_counter()
        for model_id, snap in restored.models.items():
            fresh.restore_model(model_id, snap.payload, lazy=True, persisted=True,
                                segments=snap.segments)
        ready = (time.perf_counter(), time.process_time())
        assert _joins(fresh) == _joins(pipeline)
        out[way] = {"bytes": written, "restore_s": round(ready[0] - began[0], 2),
                    "restore_cpu_s": round(ready[1] - began[1], 2),
                    "restore_read_s": round(read - began[0], 2)}
        print(f"{keys:,} keys, {way}: {written / 1e6:.1f} MB on the state topic; restore ready "
              f"in {out[way]['restore_s']} s ({out[way]['restore_cpu_s']} s CPU, topic read "
              f"{out[way]['restore_read_s']} s)", flush=True)
        del fresh, restored
        gc.collect()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--checkpoint-every", type=int, default=20_000)
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--restore-scale", type=int, metavar="KEYS")
    parser.add_argument("--bootstrap", help="the broker for --restore-scale")
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--join-cpu", action="store_true")
    parser.add_argument("--segment-entries", type=int, default=SEGMENT_ENTRIES,
                        help="entries per join segment (detectors.join.SEGMENT_ENTRIES)")
    args = parser.parse_args()
    if args.join_cpu:
        print(json.dumps({"machine": machine(), **join_cpu()}))
        return 0
    if args.memory:
        print(json.dumps({"machine": machine(), **join_memory()}))
        return 0
    if args.restore_scale:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        result = {"machine": machine(),
                  **restore_scale(args.restore_scale, args.bootstrap, args.segment_entries)}
        print(json.dumps(result))
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
        return 0
    models = 10
    scenario = Scenario(
        models=tuple(f"model-{i}" for i in range(models)), samples=args.events // (2 * models),
        rate=100.0, label_delay_ms=500,
        drifts=(Drift(kind="seasonal", start=100, width=400, feature_shift=4.0),))
    items = [(e.model_id.encode(), e.model_dump_json().encode())
             for e in simulate(scenario, seed=3)]
    pipeline = _pipeline(DetectionConfig.model_validate(CONFIG), args.segment_entries)
    decode = Decoder().decode
    where = machine()
    print(json.dumps(where), flush=True)
    whole, segmented = _store(), _store()
    topics: tuple[dict[bytes, Any], dict[bytes, Any]] = ({}, {})
    rows = []
    for start in range(0, len(items), 1000):
        records = []
        for offset in range(start, min(start + 1000, len(items))):
            key, value = items[offset]
            records.append((decode(value, key, "bench", 0, offset), ("bench", 0, offset), value))
        pipeline.process_batch(records)  # type: ignore[arg-type]
        done = start + len(records)
        if done % args.checkpoint_every == 0 or done == len(items):
            row = {"events": done, "join_entries": len(pipeline.join._pending),
                   **checkpoint_both(pipeline, whole, segmented, topics, done)}
            rows.append(row)
            print(f"after {done:>8,} events, {row['join_entries']:>7,} join entries: checkpoint "
                  f"whole {row['whole_bytes'] / 1e6:6.2f} MB {row['whole_cpu_ms']:7.1f} ms CPU"
                  f" | segmented {row['segmented_bytes'] / 1e6:6.3f} MB "
                  f"{row['segmented_cpu_ms']:6.1f} ms CPU ({row['segmented_records']} records, "
                  f"segments {row['segment_bytes'] / 1e6:.3f} MB)"
                  f" | x{row['whole_bytes'] / row['segmented_bytes']:.1f} bytes, "
                  f"x{row['whole_cpu_ms'] / max(row['segmented_cpu_ms'], 0.01):.1f} CPU",
                  flush=True)
    from_whole, whole_s = restore_from(topics[0], args.segment_entries)
    from_segments, segments_s = restore_from(topics[1], args.segment_entries)
    same = _joins(from_whole) == _joins(from_segments) == _joins(pipeline)
    totals = {"whole_bytes": sum(r["whole_bytes"] for r in rows),
              "segmented_bytes": sum(r["segmented_bytes"] for r in rows),
              "whole_cpu_ms": round(sum(r["whole_cpu_ms"] for r in rows), 1),
              "segmented_cpu_ms": round(sum(r["segmented_cpu_ms"] for r in rows), 1),
              "topic_bytes_whole": _bytes(list(topics[0].items())),
              "topic_bytes_segmented": _bytes(list(topics[1].items())),
              "restore_cpu_s_whole": round(whole_s, 3),
              "restore_cpu_s_segmented": round(segments_s, 3),
              "restored_joins_equal": same}
    print(f"all {len(rows)} checkpoints: whole {totals['whole_bytes'] / 1e6:.1f} MB "
          f"{totals['whole_cpu_ms']:.0f} ms CPU, segmented {totals['segmented_bytes'] / 1e6:.1f}"
          f" MB {totals['segmented_cpu_ms']:.0f} ms CPU; latest records on the topic "
          f"{totals['topic_bytes_whole'] / 1e6:.2f} vs {totals['topic_bytes_segmented'] / 1e6:.2f}"
          f" MB; restore from them {whole_s:.3f} vs {segments_s:.3f} s CPU; restored joins "
          f"equal each other and the live one: {same}", flush=True)
    out = {"machine": where, "events": len(items), "checkpoint_every": args.checkpoint_every,
           "segment_entries": args.segment_entries,
           "rows": rows, "totals": totals}
    print(json.dumps(out))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
