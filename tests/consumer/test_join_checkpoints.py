"""The label join through checkpoints and restores, without a broker: what the state store keeps
(the latest record of every key, as a compacted ``read_committed`` read sees it) restores the
join an uninterrupted run has, and the run carries on with the same outputs.

A checkpoint writes each dirty model's head and only the join segments that changed
(:meth:`consumer.state_store.StateStore.checkpoint`); a restore reads heads, chunks and segments
back (:meth:`~consumer.state_store.StateStore.assemble`), restores every model lazily and
``persisted`` (as :class:`consumer.restore.PartitionRestorer` does), then replays the events
after the checkpoint (catch-up). Hypothesis draws the interleavings: predictions, labels
(before, after, twice, never), event-time jumps that expire entries, caps that evict them,
checkpoints and restores.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from consumer.state_store import CHECKPOINT, StateStore, encode_envelope
from detectors.config import DetectionConfig
from detectors.contracts import DriftEvent, LabelledRecord
from detectors.decoding import EventDecoder, Refusal
from detectors.encoding import drift_event_json
from detectors.events import InputLabel, InputPrediction
from detectors.labelled import labelled_json
from detectors.pipeline import Pipeline
from detectors.rejection import Rejection
from tests.detectors.golden_stream import CONFIG, GOLDEN

BASE = datetime(2024, 1, 1, tzinfo=UTC)
PUBLISHED_AT = datetime(2026, 1, 1, tzinfo=UTC)
#: Small caps and TTLs so that expiry, eviction and sealed segments all happen in a few events.
SMALL = {"join_ttl_s": 40, "label_wait_ttl_s": 15, "max_pending_joins": 14,
         "max_waiting_labels": 4, "warmup_samples": 5, "cooldown_samples": 5}

Record = tuple[Any, tuple[str, int, int], bytes | None]


def _pipeline(config: dict[str, Any], segment_entries: int) -> Pipeline:
    pipeline = Pipeline(DetectionConfig.model_validate(config), clock=lambda: PUBLISHED_AT)
    pipeline.join.segment_entries = segment_entries
    return pipeline


def _encoded(output: object) -> object:
    if isinstance(output, DriftEvent):
        return drift_event_json(output)
    if isinstance(output, LabelledRecord):
        return labelled_json(output)
    assert isinstance(output, Rejection)
    return (output.reason, output.message, output.source, output.raw)


def _join_state(pipeline: Pipeline) -> tuple[Any, ...]:
    """Everything the join holds, model by model, in FIFO order too."""
    join = pipeline.join
    join._order()
    models = {m: (join.export_model(m)["pending"],
                  [(pid, w.__getstate__()) for pid, w in join.export_model(m)["waiting"]])
              for m in sorted(join.export_models())}
    fifo = [(k, e.deadline, e.seq, e.prediction is None) for k, e in join._pending.items()]
    waiting = [(k, w.deadline, w.seq) for k, w in join._waiting.items()]
    return pipeline.watermark, models, fifo, waiting, join.live_pending, join.waiting


class Run:
    """A consumer's life over a stream: processing, checkpoints into a simulated state topic,
    kills and restores from it."""

    def __init__(self, config: dict[str, Any], segment_entries: int, chunk_bytes: int) -> None:
        self.config = config
        self.segment_entries = segment_entries
        self.chunk_bytes = chunk_bytes
        self.topic: dict[bytes, bytes | None] = {}  # compacted: the latest value of each key
        self.store = self._store()
        self.pipeline = _pipeline(config, segment_entries)
        self.since_checkpoint: list[Record] = []
        self.outputs: list[object] = []
        #: The records each checkpoint wrote: key → bytes (0: a tombstone).
        self.written: list[dict[bytes, int]] = []

    def _store(self) -> StateStore:
        return StateStore({}, topic="state", group_id="g", state_partitions=1,
                          chunk_bytes=self.chunk_bytes)

    def process(self, records: list[Record]) -> None:
        self.outputs += [_encoded(o) for _, o in self.pipeline.process_batch(records)]
        self.since_checkpoint += records

    def checkpoint(self) -> None:
        records: list[tuple[bytes, bytes | None]] = []
        for model_id in sorted(self.pipeline.dirty_models()):
            records += self.store.checkpoint(0, model_id,
                                             self.pipeline.checkpoint_model(model_id), {"t": 0})
        records.append((b"g/0/", encode_envelope(
            b"", partition=0, model_id=CHECKPOINT, offsets={"t": 0},
            **({} if self.pipeline.watermark == float("-inf")
               else {"watermark": self.pipeline.watermark}))))
        self.topic.update(records)
        self.written.append({k: len(v or b"") for k, v in records})
        self.pipeline.mark_clean()
        self.since_checkpoint = []

    def restore(self, lazy: bool = True) -> None:
        """A kill -9 and a restart: the state topic read back, then catch-up."""
        self.store = self._store()
        restored = self.store.assemble(0, self.topic)
        self.pipeline = _pipeline(self.config, self.segment_entries)
        for model_id, snap in restored.models.items():
            self.pipeline.restore_model(model_id, snap.payload, lazy=lazy, persisted=True,
                                        segments=snap.segments)
        if restored.watermark is not None:
            self.pipeline.restore_watermark(restored.watermark)
        self.pipeline.process_batch(self.since_checkpoint)  # outputs were committed already


def _prediction(model: str, pid: str, at: float, i: int) -> InputPrediction:
    return InputPrediction(prediction_id=pid, model_id=model, model_version="v1",
                           timestamp=BASE + timedelta(seconds=at), prediction=i % 3 == 0,
                           score=(i % 10) / 10, features={"x": (i * 7) % 11 / 11})


def _label(model: str, pid: str, at: float, i: int) -> InputLabel:
    return InputLabel(prediction_id=pid, model_id=model, timestamp=BASE + timedelta(seconds=at),
                      label=i % 2 == 0)


_step = st.sampled_from([0.0, 0.5, 1.0, 1.0, 2.0, 3.0, 7.0, 13.0, 25.0])
_event = st.tuples(st.sampled_from(["prediction"] * 3 + ["label"] * 2), st.sampled_from("aab"),
                   st.integers(0, 30), _step)
_op = st.one_of(
    _event, _event, _event, _event, _event, _event,
    st.tuples(st.just("checkpoint"), st.just(""), st.just(0), st.just(0.0)),
    st.tuples(st.just("restore"), st.just(""), st.booleans(), st.just(0.0)),
)


@settings(max_examples=300, deadline=None)
@given(ops=st.lists(_op, min_size=40, max_size=120), segment_entries=st.integers(1, 6),
       chunk_bytes=st.sampled_from([300, 100_000]))
def test_the_join_through_checkpoints_and_restores_equals_the_uninterrupted_runs(
    ops: list[tuple[str, str, Any, float]], segment_entries: int, chunk_bytes: int,
) -> None:
    run = Run(SMALL, segment_entries, chunk_bytes)
    uninterrupted = _pipeline(SMALL, segment_entries)
    expected: list[object] = []
    at = 0.0
    for n, (kind, model, arg, step) in enumerate(ops):
        at += step
        if kind == "checkpoint":
            run.checkpoint()
            continue
        if kind == "restore":
            run.restore(lazy=bool(arg))
            assert _join_state(run.pipeline) == _join_state(uninterrupted)
            continue
        make = _prediction if kind == "prediction" else _label
        record = (make(model, f"p{arg}", at, n), ("t", 0, n), f"raw{n}".encode())
        run.process([record])
        expected += [_encoded(o) for _, o in uninterrupted.process_batch([record])]
    run.checkpoint()
    run.restore()
    assert _join_state(run.pipeline) == _join_state(uninterrupted)
    assert run.outputs == expected
    # And on from there: the same outputs for the same events.
    tail = [(_label(m, f"p{i}", at + 10.0 * (i % 3), i), ("t", 0, 1000 + i), None)
            for i in range(31) for m in "ab"]
    assert ([_encoded(o) for _, o in run.pipeline.process_batch(tail)]
            == [_encoded(o) for _, o in uninterrupted.process_batch(tail)])
    assert _join_state(run.pipeline) == _join_state(uninterrupted)


def test_a_checkpoint_writes_the_joins_changes_not_every_entry_it_holds() -> None:
    """A model holding 2,000 tombstones in 31 sealed segments of 64: the next checkpoint after
    five more predictions and their labels writes the head (with the open segment) and no
    sealed segment; the one after a late label for an old prediction, that one's segment."""
    config = {**SMALL, "join_ttl_s": 86_400, "max_pending_joins": 1_000_000}
    run = Run(config, 64, 900_000)
    records: list[Record] = []
    for i in range(2_000):
        records.append((_prediction("a", f"p{i}", i / 10, i), ("t", 0, 2 * i), None))
        if i != 5:
            records.append((_label("a", f"p{i}", i / 10, i), ("t", 0, 2 * i + 1), None))
    run.process(records)
    run.checkpoint()
    segments = {k for k in run.written[-1] if b"~" in k}
    assert len(segments) == 31 and len(run.pipeline.join.pending_of("a")) == 2_000
    run.process([(_prediction("a", f"q{i}", 300.0, i), ("t", 0, 9_000 + i), None)
                 for i in range(5)] +
                [(_label("a", f"q{i}", 300.0, i), ("t", 0, 9_100 + i), None) for i in range(5)])
    run.checkpoint()
    assert sorted(run.written[-1]) == [b"g/0/", b"g/0/a"]
    run.process([(_label("a", "p5", 301.0, 5), ("t", 0, 9_200), None)])
    run.checkpoint()
    assert sorted(run.written[-1]) == [b"g/0/", b"g/0/a", b"g/0~0/a"]
    run.restore()
    assert len(run.pipeline.join.pending_of("a")) == 2_005
    assert run.pipeline.join.pending_of("a")["p5"].prediction is None  # the late label's


def _golden_lines() -> list[bytes]:
    return [raw.rstrip(b"\r\n") for raw in (GOLDEN / "events.jsonl").read_bytes().splitlines()]


def _golden_records(lines: list[bytes], start: int) -> list[Any]:
    decode = EventDecoder(None).decode
    return [(decode(raw, "replay"), ("replay", 0, offset), raw)
            for offset, raw in enumerate(lines, start)]


def test_a_state_topic_written_by_the_whole_snapshot_format_restores_and_carries_on() -> None:
    """The records ``main`` (763aeaf) wrote: one head per model, its whole join embedded (the
    golden fixture's snapshots, stored by ``StateStore.snapshot`` as that build did). Restored
    as the service does, the golden tail comes out the same; after a checkpoint in the new
    format (head and every segment written) and a kill, again."""
    from tests.detectors.test_snapshot_from_main import FIXTURE, SPLIT, _golden_after_split

    lines = _golden_lines()
    snapshots = {m: base64.b64decode(data) for m, data in json.loads(FIXTURE.read_text()).items()}
    run = Run(CONFIG, 16, 50_000)
    old_store = StateStore({}, topic="state", group_id="g", state_partitions=1,
                           chunk_bytes=50_000)
    for model_id, data in snapshots.items():
        run.topic.update(old_store.snapshot(0, model_id, data, {"t": SPLIT}))
    assert not any(b"~" in key for key in run.topic)  # no segment: the whole join in the heads
    run.restore()
    assert any(run.pipeline.join.pending_of(m) for m in snapshots)
    middle = SPLIT + 700
    records = [r for r in _golden_records(lines[SPLIT:middle], SPLIT)
               if not isinstance(r[0], Refusal)]
    run.process(records)
    run.checkpoint()
    assert any(b"~" in key for key in run.topic)  # now in segments
    run.restore()
    rest = [r for r in _golden_records(lines[middle:], middle) if not isinstance(r[0], Refusal)]
    run.process(rest)
    drained = [_encoded(o) for o in run.pipeline.drain()]
    produced = [o for o in run.outputs + drained if isinstance(o, bytes)]
    assert produced == _golden_after_split()


def test_a_head_whose_listed_segment_is_not_stored_is_refused_whole() -> None:
    """A segment the head lists but the store lacks (or holds another one under its key):
    :class:`SnapshotError`, the pipeline unchanged (the restorer logs it; the model starts
    fresh), never a join restored without its entries."""
    import pytest

    from detectors.exceptions import SnapshotError

    run = Run(SMALL, 2, 100_000)
    run.process([(_prediction("a", f"p{i}", float(i), i), ("t", 0, i), None) for i in range(7)])
    state = run.pipeline.checkpoint_model("a")
    assert sorted(state.segments) == [0, 1, 2] and state.live == {0, 1, 2}
    target = _pipeline(SMALL, 2)
    before = _join_state(target)
    for segments in ({0: state.segments[0], 2: state.segments[2]},
                     {0: state.segments[0], 1: state.segments[2], 2: state.segments[2]}):
        with pytest.raises(SnapshotError, match="segment 1 of its label join"):
            target.restore_model("a", state.head, segments=segments)
        assert _join_state(target) == before
    target.restore_model("a", state.head, segments=state.segments)
    assert _join_state(target) == _join_state(run.pipeline)
