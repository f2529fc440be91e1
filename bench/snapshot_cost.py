"""Checkpoint cost of pending joins: 100 models × 200 predictions waiting for labels, in memory.

Times (CPU and wall) and sizes the snapshots one checkpoint writes (every model dirty), twice:
right after the predictions arrived, and after one more prediction per model (what every later
checkpoint pays while the predictions still wait). Run it against another checkout for a
before/after on the same machine::

    .venv/bin/python bench/snapshot_cost.py
    PYTHONPATH=/path/to/other/checkout .venv/bin/python bench/snapshot_cost.py
"""

from __future__ import annotations

import json
import time

from detectors.contracts import Source
from detectors.pipeline import Pipeline


def prediction(model: int, pid: str, n: int, i: int) -> bytes:
    return json.dumps({
        "type": "prediction", "prediction_id": pid, "model_id": f"model-{model}",
        "model_version": "v1", "timestamp": 1_700_000_000_000 + n, "prediction": i % 2 == 0,
        "score": 0.5, "features": {"amount": 1.5 * i, "items": i, "country": "FR", "vip": False},
    }).encode()


def checkpoint(pipeline: Pipeline) -> dict[str, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    size = sum(len(pipeline.snapshot_model(m)) for m in pipeline.dirty_models())
    pipeline.mark_clean()
    return {"cpu_ms": round((time.process_time() - cpu) * 1000, 1),
            "wall_ms": round((time.perf_counter() - wall) * 1000, 1), "bytes": size}


def main(models: int = 100, pending: int = 200) -> dict[str, dict[str, float]]:
    pipeline = Pipeline()
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
    print(json.dumps(main()))
