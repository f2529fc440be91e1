"""Checkpoint cost of pending joins: 100 models × 200 predictions waiting for labels, in memory.

Times (CPU and wall) and sizes the snapshots one checkpoint writes (every model dirty), twice:
right after the predictions arrived, and after one more prediction per model (what every later
checkpoint pays while the predictions still wait). Each checkpoint is taken both ways on the same
state: whole snapshots (``Pipeline.snapshot_model``: the join's every entry, what a checkpoint
wrote before segments) and what a checkpoint writes now (``Pipeline.checkpoint_model``: the head
with the join's open segment, plus the sealed segments that changed). Run it against another
checkout for a before/after on the same machine::

    .venv/bin/python bench/snapshot_cost.py [--segment-entries N]
    PYTHONPATH=/path/to/other/checkout .venv/bin/python bench/snapshot_cost.py
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from detectors.contracts import Source
from detectors.pipeline import Pipeline


def prediction(model: int, pid: str, n: int, i: int) -> bytes:
    return json.dumps({
        "type": "prediction", "prediction_id": pid, "model_id": f"model-{model}",
        "model_version": "v1", "timestamp": 1_700_000_000_000 + n, "prediction": i % 2 == 0,
        "score": 0.5, "features": {"amount": 1.5 * i, "items": i, "country": "FR", "vip": False},
    }).encode()


def checkpoint(pipeline: Pipeline) -> dict[str, Any]:
    dirty = pipeline.dirty_models()
    wall, cpu = time.perf_counter(), time.process_time()
    size = sum(len(pipeline.snapshot_model(m)) for m in dirty)
    whole = {"cpu_ms": round((time.process_time() - cpu) * 1000, 1),
             "wall_ms": round((time.perf_counter() - wall) * 1000, 1), "bytes": size}
    if not hasattr(pipeline, "checkpoint_model"):  # a checkout from before segments
        pipeline.mark_clean()
        return whole
    wall, cpu = time.perf_counter(), time.process_time()
    size = 0
    for model_id in dirty:
        state = pipeline.checkpoint_model(model_id)
        size += len(state.head) + sum(map(len, state.segments.values()))
    pipeline.mark_clean()
    return {"whole": whole,
            "segmented": {"cpu_ms": round((time.process_time() - cpu) * 1000, 1),
                          "wall_ms": round((time.perf_counter() - wall) * 1000, 1),
                          "bytes": size}}


def main(models: int = 100, pending: int = 200, segment_entries: int | None = None
         ) -> dict[str, Any]:
    pipeline = Pipeline()
    if segment_entries is not None:
        pipeline.join.segment_entries = segment_entries
    n = 0
    for m in range(models):
        for i in range(pending):
            pipeline.process_raw(prediction(m, f"p{m}-{i}", n, i),
                                 Source(topic="t", partition=0, offset=n))
            n += 1
    first = checkpoint(pipeline)
    for m in range(models):
        pipeline.process_raw(prediction(m, f"q{m}", n, 0), Source(topic="t", partition=0, offset=n))
        n += 1
    return {"first_checkpoint": first, "next_checkpoint": checkpoint(pipeline)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--segment-entries", type=int)
    print(json.dumps(main(segment_entries=parser.parse_args().segment_entries)))
