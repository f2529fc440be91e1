"""Chunked state snapshots, without a broker: what is written, and how it is read back."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from consumer.state_store import CHECKPOINT, StateStore, encode_envelope


def _store() -> StateStore:
    return StateStore({}, topic="state", group_id="g", state_partitions=1, chunk_bytes=4)


def _latest(records: list[tuple[bytes, bytes | None]]) -> dict[bytes, bytes | None]:
    """What a compacted read keeps: the last value of every key."""
    return dict(records)


def test_a_large_snapshot_is_cut_into_chunks_and_reassembled() -> None:
    store = _store()
    records = store.snapshot(0, "fraud", b"0123456789", {"preds": 7})
    assert [key for key, _ in records] == [b"g/0/fraud", b"g/0#1/fraud", b"g/0#2/fraud"]
    checkpoint = (b"g/0/", encode_envelope(b"", partition=0, model_id=CHECKPOINT,
                                           offsets={"preds": 7}))
    restored = _store().assemble(0, _latest([*records, checkpoint]))
    assert restored.models["fraud"].payload == b"0123456789"
    assert restored.models["fraud"].offsets == {"preds": 7}
    assert restored.checkpoint == {"preds": 7}


def test_a_shorter_snapshot_tombstones_the_chunks_it_no_longer_needs() -> None:
    store = _store()
    first = store.snapshot(0, "fraud", b"0123456789", {"preds": 7})
    second = store.snapshot(0, "fraud", b"01", {"preds": 9})
    assert [(key, value is None) for key, value in second] == [
        (b"g/0/fraud", False), (b"g/0#1/fraud", True), (b"g/0#2/fraud", True)]
    restored = _store().assemble(0, _latest([*first, *second]))
    assert restored.models["fraud"].payload == b"01"


def test_chunks_read_back_are_tombstoned_by_the_next_shorter_snapshot() -> None:
    """After a restart the store knows the chunks on the topic from what it restored."""
    written = _store().snapshot(0, "fraud", b"0123456789", {"preds": 7})
    restarted = _store()
    restarted.assemble(0, _latest(written))
    assert [value is None for _, value in restarted.snapshot(0, "fraud", b"x", {"preds": 8})] == [
        False, True, True]


@pytest.mark.parametrize("damage", ["missing", "other snapshot"])
def test_a_model_with_a_bad_chunk_starts_fresh_and_says_so(
    damage: str, caplog: pytest.LogCaptureFixture,
) -> None:
    store = _store()
    old = store.snapshot(0, "fraud", b"abcdefghij", {"preds": 3})
    new = store.snapshot(0, "fraud", b"0123456789", {"preds": 7})
    kept = [(store.snapshot(0, "other", b"ok", {"preds": 7})[0])]
    if damage == "missing":
        records = [r for r in new if r[0] != b"g/0#2/fraud"]
    else:  # chunk 2 left over from the older snapshot
        records = [*new[:2], old[2]]
    with caplog.at_level(logging.ERROR, logger="consumer.state_store"):
        restored = _store().assemble(0, _latest([*records, *kept]))
    assert "fraud" not in restored.models
    assert restored.models["other"].payload == b"ok"
    assert "chunk 2 of its snapshot is missing or from another snapshot" in caplog.text


def _checkpoint(segments: dict[int, bytes], live: set[int], head: bytes = b"h") -> Any:
    from detectors.snapshot import ModelCheckpoint

    return ModelCheckpoint(head, segments, frozenset(live))


def test_join_segments_are_records_of_their_own_chunked_and_tombstoned_when_gone() -> None:
    store = _store()
    first = store.checkpoint(0, "fraud", _checkpoint({0: b"0123456789", 1: b"ab"}, {0, 1}),
                             {"preds": 7})
    assert [key for key, _ in first] == [b"g/0/fraud", b"g/0~0/fraud", b"g/0~0#1/fraud",
                                         b"g/0~0#2/fraud", b"g/0~1/fraud"]
    restored = _store().assemble(0, _latest(first))
    assert restored.models["fraud"].segments == {0: b"0123456789", 1: b"ab"}
    # Segment 0 shrinks (its extra chunks go), 1 is not rewritten, 2 is new.
    second = store.checkpoint(0, "fraud", _checkpoint({0: b"xy", 2: b"cd"}, {0, 1, 2}),
                              {"preds": 9})
    assert [(key, value is None) for key, value in second] == [
        (b"g/0/fraud", False), (b"g/0~0/fraud", False), (b"g/0~0#1/fraud", True),
        (b"g/0~0#2/fraud", True), (b"g/0~2/fraud", False)]
    restored = _store().assemble(0, _latest([*first, *second]))
    assert restored.models["fraud"].segments == {0: b"xy", 1: b"ab", 2: b"cd"}
    # After a restart the store knows what is on the topic: segments no longer listed go.
    restarted = _store()
    restarted.assemble(0, _latest([*first, *second]))
    third = restarted.checkpoint(0, "fraud", _checkpoint({}, {2}), {"preds": 11})
    assert [(key, value is None) for key, value in third] == [
        (b"g/0/fraud", False), (b"g/0~0/fraud", True), (b"g/0~1/fraud", True)]
    restored = _store().assemble(0, _latest([*first, *second, *third]))
    assert restored.models["fraud"].segments == {2: b"cd"}


def test_a_join_segment_with_a_bad_chunk_is_left_out_and_said_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    records = _store().checkpoint(0, "fraud", _checkpoint({3: b"0123456789"}, {3}), {"p": 1})
    with caplog.at_level(logging.ERROR, logger="consumer.state_store"):
        restored = _store().assemble(0, _latest([r for r in records if b"#2" not in r[0]]))
    assert restored.models["fraud"].segments == {}
    assert "chunk 2 of its join segment 3 is missing" in caplog.text


def test_the_checkpoint_marker_keeps_the_partitions_watermark() -> None:
    marker = encode_envelope(b"", partition=0, model_id=CHECKPOINT, offsets={"p": 4},
                             watermark=1_700_000_000.5)
    assert _store().assemble(0, {b"g/0/": marker}).watermark == 1_700_000_000.5
    older = encode_envelope(b"", partition=0, model_id=CHECKPOINT, offsets={"p": 4})
    assert _store().assemble(0, {b"g/0/": older}).watermark is None
