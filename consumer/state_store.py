"""Per-partition detection state in the compacted state topic.

Contract:

* One record (a large snapshot: a head and chunks, below) per (consumer group, input partition,
  model): key ``<group>/<partition>/<model_id>``,
  written to state-topic partition ``input_partition % state_partitions``, so restoring one input
  partition reads one state partition, not the whole topic.
* The value is an envelope: one JSON header line (format version, partition, model, the input
  offsets the snapshot reflects, the River version), ``\\n``, then the pipeline's own snapshot bytes.
* A snapshot larger than :data:`CHUNK_BYTES` (a model holding thousands of pending joins) is cut
  into chunks, so no record exceeds Kafka's default 1 MB limits: the head record (the model's
  key, header ``"chunks": n``) carries the first piece, records ``<group>/<partition>#<i>/<model_id>``
  (``i`` = 1 … n-1, same partition, same transaction, same offsets in their headers) the rest.
  When a model's snapshot shrinks, its chunks beyond the new count are tombstoned.
* A checkpoint stores a model as a :class:`~detectors.snapshot.ModelCheckpoint`
  (:meth:`StateStore.checkpoint`): the head as above, plus the sealed segments of its label join
  that changed since its last checkpoint, each a record of its own, key
  ``<group>/<partition>~<segment>/<model_id>`` (chunked the same way: ``…~<segment>#<i>/…``),
  same state partition, same transaction, the checkpoint's offsets in its header. A segment
  not written keeps its older record, which is still its current state (only the model's head
  lists which segments are current, and the join restores them exactly: :mod:`detectors.join`);
  a segment the head no longer lists (emptied) is tombstoned. So a checkpoint writes the join's
  changes, not every entry it holds.
* Snapshots are produced inside the same transaction as the input offsets they reflect
  (:mod:`consumer.checkpoint`), so whatever a ``read_committed`` reader sees is consistent with
  the committed offsets. A model whose state did not change keeps its older record, which is still
  its current state.
* Snapshots are written at *checkpoints* (every ``consumer.snapshot_interval_ms``, and on revoke
  and shutdown); each checkpoint also writes a marker, key ``<group>/<partition>/`` (empty model
  id), recording the input offsets the partition's snapshots reflect and the partition's
  watermark (event time) then. Records between the checkpoint and the committed offsets are
  replayed on restore (:mod:`consumer.catchup`).
* :meth:`StateStore.restore` reads the state partition from the beginning to its end
  (:func:`consumer.topic_reader.read_to_end`, ``read_committed``), keeps the last record per key of the asked input partition
  (a tombstone deletes), and returns model → snapshot bytes (heads joined with their chunks)
  and the join segments stored for it.

>>> value = encode_envelope(b"payload", partition=3, model_id="fraud", offsets={"preds": 41})
>>> header, payload = decode_envelope(value)
>>> header["offsets"], header["model_id"], payload
({'preds': 41}, 'fraud', b'payload')
>>> state_key("driftline-consumer", 3, "fraud")
'driftline-consumer/3/fraud'
>>> records = snapshot_records(b"abcde", group_id="g", partition=3, model_id="fraud",
...                            offsets={"preds": 41}, chunk_bytes=2)
>>> [(key, decode_envelope(value)[1]) for key, value in records]
[(b'g/3/fraud', b'ab'), (b'g/3#1/fraud', b'cd'), (b'g/3#2/fraud', b'e')]
>>> decode_envelope(records[0][1])[0]["chunks"], decode_envelope(records[2][1])[0]["chunk"]
(3, 2)
>>> [key for key, _ in snapshot_records(b"abc", group_id="g", partition=3, model_id="fraud",
...                                     offsets={}, chunk_bytes=2, segment=7)]
[b'g/3~7/fraud', b'g/3~7#1/fraud']
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import river

from consumer.exceptions import StateRestoreError, TopicReadError
from consumer.topic_reader import Span, read_to_end
from consumer.topics import MAX_RECORD_BYTES
from detectors.snapshot import ModelCheckpoint

log = logging.getLogger(__name__)

ENVELOPE_VERSION = 1

#: Most snapshot bytes in one state record: :data:`~consumer.topics.MAX_RECORD_BYTES` less room
#: for the key and the envelope header.
CHUNK_BYTES = MAX_RECORD_BYTES - 8_192


def state_key(group_id: str, partition: int, model_id: str) -> str:
    return f"{group_id}/{partition}/{model_id}"


def chunk_key(group_id: str, partition: int, model_id: str, index: int,
              segment: int | None = None) -> str:
    """Key of chunk ``index`` ≥ 1 of a model's snapshot (chunk 0 is the head, at
    :func:`state_key`), or of its join segment ``segment`` (chunk 0 at :func:`segment_key`); no
    head key of the same group and partition can look like either."""
    if segment is not None:
        return f"{group_id}/{partition}~{segment}#{index}/{model_id}"
    return f"{group_id}/{partition}#{index}/{model_id}"


def segment_key(group_id: str, partition: int, model_id: str, segment: int) -> str:
    """Key of a model's label-join segment (its first chunk)."""
    return f"{group_id}/{partition}~{segment}/{model_id}"


def encode_envelope(
    payload: bytes, *, partition: int, model_id: str, offsets: Mapping[str, int],
    **extra: int | float,
) -> bytes:
    header = {
        "v": ENVELOPE_VERSION,
        "partition": partition,
        "model_id": model_id,
        "offsets": dict(offsets),
        "river": river.__version__,
        **extra,
    }
    return json.dumps(header, separators=(",", ":")).encode() + b"\n" + payload


def snapshot_records(
    payload: bytes, *, group_id: str, partition: int, model_id: str,
    offsets: Mapping[str, int], chunk_bytes: int = CHUNK_BYTES, segment: int | None = None,
) -> list[tuple[bytes, bytes]]:
    """``(key, value)`` of every state record of one model's snapshot (or of its join segment
    ``segment``): the head, then chunks."""
    pieces = [payload[i:i + chunk_bytes] for i in range(0, len(payload), chunk_bytes)] or [b""]
    which = {} if segment is None else {"segment": segment}
    head = encode_envelope(pieces[0], partition=partition, model_id=model_id, offsets=offsets,
                           **which, **({"chunks": len(pieces)} if len(pieces) > 1 else {}))
    first = (state_key(group_id, partition, model_id) if segment is None
             else segment_key(group_id, partition, model_id, segment))
    records = [(first.encode(), head)]
    for index, piece in enumerate(pieces[1:], start=1):
        records.append((chunk_key(group_id, partition, model_id, index, segment).encode(),
                        encode_envelope(piece, partition=partition, model_id=model_id,
                                        offsets=offsets, **which, chunk=index)))
    return records


def decode_envelope(value: bytes) -> tuple[dict[str, Any], bytes]:
    """Split an envelope; raises :class:`StateRestoreError` if it is not one."""
    header, payload = _envelope_view(value)
    return header, bytes(payload)


def _envelope_view(value: bytes) -> tuple[dict[str, Any], memoryview]:
    """:func:`decode_envelope` without copying the payload (a restore reads gigabytes)."""
    end = value.find(b"\n")
    head = value[:end] if end >= 0 else value
    try:
        header = json.loads(head)
    except ValueError as exc:
        raise StateRestoreError(f"state record is not a Driftline envelope: {exc}") from exc
    if end < 0 or not isinstance(header, dict) or header.get("v") != ENVELOPE_VERSION:
        raise StateRestoreError(f"state record has an unknown envelope: {head[:200]!r}")
    return header, memoryview(value)[end + 1:]


@dataclass(frozen=True)
class RestoredModel:
    model_id: str
    #: The pipeline's snapshot bytes (a view into the record read when it had one chunk).
    payload: bytes | memoryview
    offsets: dict[str, int]
    #: The model's label-join segments stored, by id (the head says which are current).
    segments: dict[int, bytes | memoryview] = field(default_factory=dict)


#: The "model id" of a partition's checkpoint marker (model ids are never empty).
CHECKPOINT = ""


@dataclass(frozen=True)
class RestoredPartition:
    """What the state topic holds for one input partition."""

    models: dict[str, RestoredModel]
    #: Input offsets of the last checkpoint (state snapshots reflect them); None: never
    #: checkpointed.
    checkpoint: dict[str, int] | None
    #: The partition's watermark at that checkpoint (a marker from before: None). A rejected
    #: event can advance it without changing any model, so no head need hold it.
    watermark: float | None = None


class StateStore:
    """Reads a partition's snapshots back; writing goes through the transactional producer."""

    def __init__(
        self,
        kafka_conf: Mapping[str, Any],
        *,
        topic: str,
        group_id: str,
        state_partitions: int,
        timeout_s: float = 60.0,
        chunk_bytes: int = CHUNK_BYTES,
    ) -> None:
        self.topic = topic
        self.group_id = group_id
        self.state_partitions = state_partitions
        self.timeout_s = timeout_s
        self.chunk_bytes = chunk_bytes
        self._kafka_conf = dict(kafka_conf)
        #: (input partition, model) → records of its snapshot on the topic (head + chunks), as
        #: last written or restored: chunks beyond a new, shorter snapshot are tombstoned.
        self._records: dict[tuple[int, str], int] = {}
        #: (input partition, model) → join segment → its records on the topic, likewise: a
        #: segment its model's head no longer lists is tombstoned.
        self._segments: dict[tuple[int, str], dict[int, int]] = {}

    def state_partition(self, input_partition: int) -> int:
        return input_partition % self.state_partitions

    def key(self, input_partition: int, model_id: str) -> bytes:
        return state_key(self.group_id, input_partition, model_id).encode()

    def snapshot(
        self, input_partition: int, model_id: str, payload: bytes, offsets: Mapping[str, int]
    ) -> list[tuple[bytes, bytes | None]]:
        """The ``(key, value)`` records that store one model's snapshot: head, chunks, and
        tombstones for the chunks of a longer snapshot written before."""
        records: list[tuple[bytes, bytes | None]] = list(snapshot_records(
            payload, group_id=self.group_id, partition=input_partition, model_id=model_id,
            offsets=offsets, chunk_bytes=self.chunk_bytes))
        written = len(records)
        before = self._records.get((input_partition, model_id), 1)
        records += [(chunk_key(self.group_id, input_partition, model_id, i).encode(), None)
                    for i in range(written, before)]
        self._records[(input_partition, model_id)] = written
        return records

    def checkpoint(
        self, input_partition: int, model_id: str, state: ModelCheckpoint,
        offsets: Mapping[str, int],
    ) -> list[tuple[bytes, bytes | None]]:
        """The ``(key, value)`` records that store one model at a checkpoint: its head (as
        :meth:`snapshot`), its changed join segments, and tombstones for the chunks and segments
        the store holds that the model no longer has."""
        records = self.snapshot(input_partition, model_id, state.head, offsets)
        stored = self._segments.setdefault((input_partition, model_id), {})
        for segment, payload in sorted(state.segments.items()):
            written = snapshot_records(
                payload, group_id=self.group_id, partition=input_partition, model_id=model_id,
                offsets=offsets, chunk_bytes=self.chunk_bytes, segment=segment)
            records += written
            records += self._tombstones(input_partition, model_id, segment,
                                        len(written), stored.get(segment, 1))
            stored[segment] = len(written)
        for segment in sorted(set(stored) - state.live):
            records += self._tombstones(input_partition, model_id, segment, 0, stored.pop(segment))
        return records

    def _tombstones(self, input_partition: int, model_id: str, segment: int, start: int,
                    end: int) -> list[tuple[bytes, bytes | None]]:
        """Tombstones of a join segment's records ``start`` … ``end - 1`` (0: its first)."""
        return [((segment_key(self.group_id, input_partition, model_id, segment) if i == 0
                  else chunk_key(self.group_id, input_partition, model_id, i, segment)).encode(),
                 None) for i in range(start, end)]

    def restore(self, input_partition: int) -> RestoredPartition:
        """The latest committed snapshot of every model of ``input_partition``, and the offsets
        of its last checkpoint."""
        prefixes = (f"{self.group_id}/{input_partition}/".encode(),  # heads, checkpoint marker
                    f"{self.group_id}/{input_partition}#".encode(),  # chunks
                    f"{self.group_id}/{input_partition}~".encode())  # join segments
        latest: dict[bytes, bytes | None] = {}
        span = Span(self.topic, self.state_partition(input_partition))
        try:
            for msg in read_to_end(self._kafka_conf, [span], timeout_s=self.timeout_s):
                key = msg.key()
                if key is not None and key.startswith(prefixes):
                    latest[key] = msg.value()
        except TopicReadError as exc:
            raise StateRestoreError(f"restoring input partition {input_partition}: {exc}"
                                    ) from exc
        return self.assemble(input_partition, latest)

    def assemble(self, input_partition: int, latest: Mapping[bytes, bytes | None]
                  ) -> RestoredPartition:
        """The pure half of :meth:`restore`: from the latest value of every key of one input
        partition, its snapshots (heads joined with their chunks, with their join segments) and
        checkpoint. A model with a chunk missing or from another snapshot is left out (it starts
        fresh; logged as an error), as is a join segment (the model's restore refuses it then,
        if its head lists it). Remembers the chunks and segments on the topic, so the next
        checkpoint tombstones stale ones."""
        # (model, segment or None for the head, chunk) → (header, payload)
        pieces: dict[tuple[str, int | None, int], tuple[dict[str, Any], memoryview]] = {}
        checkpoint: dict[str, int] | None = None
        watermark: float | None = None
        for value in latest.values():
            if value is None:
                continue
            header, payload = _envelope_view(value)
            model_id = header["model_id"]
            segment = int(header["segment"]) if "segment" in header else None
            if model_id == CHECKPOINT and segment is None and "chunk" not in header:
                checkpoint = _offsets(header)
                if header.get("watermark") is not None:
                    watermark = float(header["watermark"])
            else:
                pieces[(model_id, segment, int(header.get("chunk", 0)))] = (header, payload)
        for model_id, segment, index in pieces:  # every record on the topic, current or not
            key = (input_partition, model_id)
            if segment is None:
                self._records[key] = max(self._records.get(key, 1), index + 1)
            else:
                stored = self._segments.setdefault(key, {})
                stored[segment] = max(stored.get(segment, 1), index + 1)
        restored: dict[str, RestoredModel] = {}
        segments: dict[str, dict[int, bytes | memoryview]] = {}
        for (model_id, segment, index), (header, payload) in pieces.items():
            if index:
                continue
            what = "its snapshot" if segment is None else f"its join segment {segment}"
            whole = _whole(pieces, model_id, segment, header, payload)
            if isinstance(whole, int):
                log.error("partition %d model %s: chunk %d of %s is missing or from another "
                          "snapshot; the model starts fresh%s", input_partition, model_id, whole,
                          what, "" if segment is None else " if its head lists the segment")
            elif segment is None:
                restored[model_id] = RestoredModel(model_id=model_id, payload=whole,
                                                   offsets=_offsets(header))
            else:
                segments.setdefault(model_id, {})[segment] = whole
        for model_id, model in restored.items():
            model.segments.update(segments.get(model_id, {}))
        return RestoredPartition(restored, checkpoint, watermark)


def _whole(pieces: Mapping[tuple[str, int | None, int], tuple[dict[str, Any], memoryview]],
           model_id: str, segment: int | None, header: Mapping[str, Any], payload: memoryview
           ) -> bytes | memoryview | int:
    """A record's bytes joined with its chunks; the index of the first chunk missing or from
    another write (offsets differ) when they cannot be."""
    parts = [payload]
    for index in range(1, int(header.get("chunks", 1))):
        chunk = pieces.get((model_id, segment, index))
        if chunk is None or chunk[0].get("offsets") != header.get("offsets"):
            return index
        parts.append(chunk[1])
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _offsets(header: Mapping[str, Any]) -> dict[str, int]:
    return {str(k): int(v) for k, v in header.get("offsets", {}).items()}


__all__ = [
    "CHECKPOINT",
    "CHUNK_BYTES",
    "ENVELOPE_VERSION",
    "RestoredModel",
    "RestoredPartition",
    "StateStore",
    "decode_envelope",
    "encode_envelope",
    "segment_key",
    "snapshot_records",
    "state_key",
]
