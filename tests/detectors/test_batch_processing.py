"""``Pipeline.process_batch`` is ``Pipeline.process`` record by record: same outputs in the same
order, same counters, same snapshots, for any split of a stream into batches."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from detectors.config import DetectionConfig
from detectors.contracts import make_source
from detectors.decoding import EventDecoder, Refusal
from detectors.pipeline import Pipeline
from tests.detectors.detection_streams import random_stream
from tests.detectors.golden_stream import CONFIG

GOLDEN = Path(__file__).parent / "golden" / "events.jsonl"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _records(lines: list[bytes]) -> list[tuple[Any, tuple[str, int, int], bytes]]:
    decode = EventDecoder().decode
    out = []
    for offset, raw in enumerate(lines):
        event = decode(raw, "t")
        if not isinstance(event, Refusal):
            out.append((event, ("t", 0, offset), raw))
    return out


def _state(pipeline: Pipeline) -> tuple[Any, ...]:
    snapshots = {m: pipeline.snapshot_model(m) for m in sorted(pipeline.model_ids())}
    return pipeline.counters.as_dict(), pipeline.suppressed(), snapshots


@pytest.mark.parametrize("source", ["golden", "random-1", "random-2"])
def test_any_batch_split_gives_the_record_by_record_result(source: str) -> None:
    if source == "golden":
        lines = GOLDEN.read_bytes().splitlines()
        config = DetectionConfig.model_validate(CONFIG)
    else:
        seed = int(source.split("-")[1])
        lines = [json.dumps(e).encode() for e in random_stream(seed, 1500)]
        config = DetectionConfig(warmup_samples=30, cooldown_samples=100)
    records = _records(lines)
    one = Pipeline(config, clock=lambda: NOW)
    expected = []
    for i, (event, where, raw) in enumerate(records):
        expected.extend((i, o) for o in one.process(event, make_source(*where), raw))
    rng = random.Random(source)
    batched = Pipeline(config, clock=lambda: NOW)
    got: list[tuple[int, Any]] = []
    start = 0
    while start < len(records):
        size = rng.choice([1, 2, 7, 64, 500, 3000])
        got.extend((start + i, o) for i, o in batched.process_batch(records[start:start + size]))
        start += size
    assert len(got) == len(expected) > 100
    assert got == expected
    assert _state(batched) == _state(one)
