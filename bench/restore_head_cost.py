"""What keeping each key's frozen view in the snapshot head costs, and what not rewriting
restored models saves, in memory, side by side in one run.

The state is the throughput bench's scale state (:func:`consumer_throughput.scale_records`:
``--keys`` keys, 100 per model, three detectors and a feature per key, every key fed three
labelled predictions). Its snapshots are written once by this build (heads with views); the
same snapshots with the views taken out of the heads are the layout of the build before. Both are
restored lazily, as :class:`consumer.restore.PartitionRestorer` does; then:

* head bytes per key and the lazy restore's wall and CPU seconds, with and without views;
* one per-key gauge read (:meth:`Pipeline.key_views`) right after each restore (none without views);
* the share of a checkpoint of every model that builds the views (:class:`PackedViews`);
* the first checkpoint after the restore: models written and bytes, restored as
  ``persisted`` (this build's restorer) against marked dirty (the build before).

Run::

    .venv/bin/python bench/restore_head_cost.py --keys 100000 --json bench/results/restore_head_cost.json
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from pathlib import Path
from typing import Any

from bench_env import machine
from consumer_throughput import MEMORY_ROUNDS, SCALE_DETECTION, scale_records

from detectors import snapshot as snapshot_format
from detectors.config import DetectionConfig
from detectors.pipeline import Pipeline
from detectors.views import PackedViews


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(began: tuple[float, float]) -> dict[str, float]:
    return {"wall_s": round(time.perf_counter() - began[0], 3),
            "cpu_s": round(time.process_time() - began[1], 3)}


def without_views(data: bytes, model_id: str) -> bytes:
    """``data`` in the layout of the build before heads kept views."""
    head, frame = snapshot_format.split(data)
    payload = snapshot_format.decode(head, model_id)
    del payload["views"], payload["suppressed_features"]
    return snapshot_format.encode(model_id, payload) + bytes(frame)


def restore(config: DetectionConfig, snapshots: dict[str, bytes], *, persisted: bool
            ) -> tuple[Pipeline, dict[str, float]]:
    gc.collect()
    pipeline = Pipeline(config)
    began = _clock()
    for model_id, data in snapshots.items():
        pipeline.restore_model(model_id, data, lazy=True, persisted=persisted)
    return pipeline, _since(began)


def gauge_read(pipeline: Pipeline) -> dict[str, Any]:
    began = _clock()
    views = sum(1 for _ in pipeline.key_views(detector_statistics=True))
    return {"views": views, **_since(began)}


def first_checkpoint(pipeline: Pipeline) -> dict[str, Any]:
    began = _clock()
    dirty = pipeline.dirty_models()
    written = sum(len(pipeline.snapshot_model(m)) for m in dirty)
    return {"models_written": len(dirty), "bytes_written": written, **_since(began)}


def main(keys: int) -> dict[str, Any]:
    config = DetectionConfig.model_validate({**SCALE_DETECTION, "max_tracked_keys": keys + 1})
    records = scale_records(keys, MEMORY_ROUNDS)
    live = Pipeline(config)
    for start in range(0, len(records), 1000):
        live.process_batch(records[start:start + 1000])
    del records
    began = _clock()
    snapshots = {m: live.snapshot_model(m) for m in sorted(live.model_ids())}
    checkpoint = _since(began)
    began = _clock()
    PackedViews.pack(((v.model_version, v.segment), v)  # what snapshot_model keeps
                     for v in live.key_views(detector_statistics=True))
    views_cost = _since(began)
    del live
    old = {m: without_views(data, m) for m, data in snapshots.items()}
    heads = {name: sum(len(snapshot_format.split(d)[0]) for d in snaps.values())
             for name, snaps in (("with_views", snapshots), ("without_views", old))}
    out: dict[str, Any] = {
        "machine": machine(), "keys": keys, "models": len(snapshots),
        "snapshot_bytes": sum(map(len, snapshots.values())),
        "head_bytes_per_key": {name: round(size / keys, 1) for name, size in heads.items()},
        "checkpoint_of_every_model": checkpoint,
        "of_which_building_views": views_cost,
    }
    for name, snaps in (("without_views", old), ("with_views", snapshots)):
        pipeline, timing = restore(config, snaps, persisted=True)
        out[f"lazy_restore_{name}"] = {**timing, "gauge_read": gauge_read(pipeline)}
        del pipeline
    for persisted in (False, True):
        pipeline, _ = restore(config, snapshots, persisted=persisted)
        out[f"first_checkpoint_after_restore_persisted_{persisted}"] = first_checkpoint(pipeline)
        del pipeline
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    result = main(args.keys)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    sys.exit(0)
