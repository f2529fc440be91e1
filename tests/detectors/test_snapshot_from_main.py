"""Snapshots written by an older build restore into this one and carry on exactly.

``golden/snapshots_be2d5c5.json`` holds every model's snapshot bytes (base64) taken by ``main``
at be2d5c5 (before the compact per-key state: the ``error`` bits in a full 4,096-byte buffer,
empty trails as four arrays each, the rolling window as a deque of pairs, a copy of the
thresholds per key) after the first :data:`SPLIT` lines of the golden stream. Restored here,
eagerly and lazily, the rest of the stream must give exactly the golden outputs from there on:
the drift events and labelled records byte for byte. The same split with this build's own
snapshots must, too. The fixture was written with (from a checkout of that commit)::

    PYTHONPATH=<checkout> python -m tests.detectors.test_snapshot_from_main --write
"""

from __future__ import annotations

import base64
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from detectors.config import DetectionConfig
from detectors.contracts import DriftEvent, LabelledRecord, Source
from detectors.decoding import EventDecoder, Refusal
from detectors.encoding import drift_event_json
from detectors.labelled import labelled_json
from detectors.pipeline import Pipeline
from tests.detectors.golden_stream import CONFIG, GOLDEN

FIXTURE = GOLDEN / "snapshots_be2d5c5.json"
#: Lines of the golden stream fed before the snapshot (drift events before and after it).
SPLIT = 2000
PUBLISHED_AT = datetime(2026, 1, 1, tzinfo=UTC)


def _lines() -> list[bytes]:
    return [raw.rstrip(b"\r\n") for raw in (GOLDEN / "events.jsonl").read_bytes().splitlines()]


def _feed(pipeline: Pipeline, lines: list[bytes], start: int) -> list[bytes]:
    """The drift events and labelled records (encoded) of ``lines`` (offsets from ``start``)."""
    decode = EventDecoder(None).decode
    out: list[bytes] = []
    for offset, raw in enumerate(lines, start):
        source = Source.model_construct(topic="replay", partition=0, offset=offset)
        event = decode(raw, "replay")
        outputs = (pipeline.refuse(event, source, raw) if isinstance(event, Refusal)
                   else pipeline.process(event, source, raw))
        out += _encoded(outputs)
    return out


def _encoded(outputs: list[object]) -> list[bytes]:
    found: list[bytes] = []
    for output in outputs:
        if isinstance(output, DriftEvent):
            found.append(drift_event_json(output))
        elif isinstance(output, LabelledRecord):
            found.append(labelled_json(output))
    return found


def _pipeline() -> Pipeline:
    return Pipeline(DetectionConfig.model_validate(CONFIG), clock=lambda: PUBLISHED_AT)


def _snapshots_at_split() -> dict[str, bytes]:
    pipeline = _pipeline()
    _feed(pipeline, _lines()[:SPLIT], 0)
    return {m: pipeline.snapshot_model(m) for m in sorted(pipeline.model_ids())}


def _golden_after_split() -> list[bytes]:
    """The golden outputs of the lines after the split (a replay without any restore)."""
    pipeline = _pipeline()
    lines = _lines()
    _feed(pipeline, lines[:SPLIT], 0)
    tail = _feed(pipeline, lines[SPLIT:], SPLIT)
    return tail + _encoded(pipeline.drain())


def _continued(snapshots: dict[str, bytes], lazy: bool) -> list[bytes]:
    pipeline = _pipeline()
    for model_id, data in snapshots.items():
        pipeline.restore_model(model_id, data, lazy=lazy)
    tail = _feed(pipeline, _lines()[SPLIT:], SPLIT)
    return tail + _encoded(pipeline.drain())


def test_the_golden_tail_is_the_checked_in_one() -> None:
    """The reference tail is the golden replay's own (so this test checks against the files)."""
    tail = _golden_after_split()
    golden = set((GOLDEN / "drift.jsonl").read_bytes().splitlines())
    golden |= set((GOLDEN / "labelled.jsonl").read_bytes().splitlines())
    assert tail and set(tail) <= golden
    assert any(line.startswith(b'{"event_id"') or b'"signal"' in line for line in tail)


@pytest.mark.parametrize("lazy", [False, True])
def test_snapshots_written_by_main_restore_and_carry_on_exactly(lazy: bool) -> None:
    snapshots = {m: base64.b64decode(data)
                 for m, data in json.loads(FIXTURE.read_text()).items()}
    assert len(snapshots) == 3
    assert _continued(snapshots, lazy) == _golden_after_split()


@pytest.mark.parametrize("lazy", [False, True])
def test_this_builds_snapshots_restore_and_carry_on_exactly(lazy: bool) -> None:
    assert _continued(_snapshots_at_split(), lazy) == _golden_after_split()


def test_this_builds_snapshots_are_smaller_than_mains() -> None:
    """The compact per-key state shows in the snapshot bytes."""
    old = sum(len(base64.b64decode(data)) for data in json.loads(FIXTURE.read_text()).values())
    new = sum(map(len, _snapshots_at_split().values()))
    assert new < old


def write_fixture() -> None:
    """Write :data:`FIXTURE` from the code on ``sys.path`` (a checkout of the old build)."""
    snapshots = {m: base64.b64encode(data).decode() for m, data in _snapshots_at_split().items()}
    FIXTURE.write_text(json.dumps(snapshots, indent=0, sort_keys=True) + "\n")


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    write_fixture()
    print(f"wrote {FIXTURE} ({Path(FIXTURE).stat().st_size} bytes)")
