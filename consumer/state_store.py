"""Per-partition detection state in the compacted state topic.

Contract:

* One record per (consumer group, input partition, model): key ``<group>/<partition>/<model_id>``,
  written to state-topic partition ``input_partition % state_partitions``, so restoring one input
  partition reads one state partition, not the whole topic.
* The value is an envelope: one JSON header line (format version, partition, model, the input
  offsets the snapshot reflects, the River version), ``\\n``, then the pipeline's own snapshot bytes.
* Snapshots are produced inside the same transaction as the input offsets they reflect
  (:mod:`consumer.checkpoint`), so whatever a ``read_committed`` reader sees is consistent with
  the committed offsets. A model whose state did not change keeps its older record, which is still
  its current state.
* Snapshots are written at *checkpoints* (every ``consumer.snapshot_interval_ms``, and on revoke
  and shutdown); each checkpoint also writes a marker, key ``<group>/<partition>/`` (empty model
  id), recording the input offsets the partition's snapshots reflect. Records between the
  checkpoint and the committed offsets are replayed on restore (:mod:`consumer.catchup`).
* :meth:`StateStore.restore` reads the state partition from the beginning to its end (the last
  stable offset: ``read_committed``), keeps the last record per key of the asked input partition
  (a tombstone deletes), and returns model → snapshot bytes.

>>> value = encode_envelope(b"payload", partition=3, model_id="fraud", offsets={"preds": 41})
>>> header, payload = decode_envelope(value)
>>> header["offsets"], header["model_id"], payload
({'preds': 41}, 'fraud', b'payload')
>>> state_key("driftline-consumer", 3, "fraud")
'driftline-consumer/3/fraud'
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import river
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from consumer.exceptions import StateRestoreError

log = logging.getLogger(__name__)

ENVELOPE_VERSION = 1


def state_key(group_id: str, partition: int, model_id: str) -> str:
    return f"{group_id}/{partition}/{model_id}"


def encode_envelope(
    payload: bytes, *, partition: int, model_id: str, offsets: Mapping[str, int]
) -> bytes:
    header = {
        "v": ENVELOPE_VERSION,
        "partition": partition,
        "model_id": model_id,
        "offsets": dict(offsets),
        "river": river.__version__,
    }
    return json.dumps(header, separators=(",", ":")).encode() + b"\n" + payload


def decode_envelope(value: bytes) -> tuple[dict[str, Any], bytes]:
    """Split an envelope; raises :class:`StateRestoreError` if it is not one."""
    head, sep, payload = value.partition(b"\n")
    try:
        header = json.loads(head)
    except ValueError as exc:
        raise StateRestoreError(f"state record is not a Driftline envelope: {exc}") from exc
    if not sep or not isinstance(header, dict) or header.get("v") != ENVELOPE_VERSION:
        raise StateRestoreError(f"state record has an unknown envelope: {head[:200]!r}")
    return header, payload


@dataclass(frozen=True)
class RestoredModel:
    model_id: str
    payload: bytes
    offsets: dict[str, int]


#: The "model id" of a partition's checkpoint marker (model ids are never empty).
CHECKPOINT = ""


@dataclass(frozen=True)
class RestoredPartition:
    """What the state topic holds for one input partition."""

    models: dict[str, RestoredModel]
    #: Input offsets of the last checkpoint (state snapshots reflect them); None: never
    #: checkpointed.
    checkpoint: dict[str, int] | None


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
    ) -> None:
        self.topic = topic
        self.group_id = group_id
        self.state_partitions = state_partitions
        self.timeout_s = timeout_s
        self._kafka_conf = dict(kafka_conf)

    def state_partition(self, input_partition: int) -> int:
        return input_partition % self.state_partitions

    def key(self, input_partition: int, model_id: str) -> bytes:
        return state_key(self.group_id, input_partition, model_id).encode()

    def restore(self, input_partition: int) -> RestoredPartition:
        """The latest committed snapshot of every model of ``input_partition``, and the offsets
        of its last checkpoint."""
        prefix = f"{self.group_id}/{input_partition}/".encode()
        conf = {
            **self._kafka_conf,
            "group.id": f"{self.group_id}.state-restore",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "fetch.wait.max.ms": 20,
            "fetch.queue.backoff.ms": 10,  # no 1 s pause per 100 000 queued records
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
        }
        consumer = Consumer(conf)
        latest: dict[bytes, bytes | None] = {}
        deadline = time.monotonic() + self.timeout_s
        try:
            tp = TopicPartition(self.topic, self.state_partition(input_partition),
                                OFFSET_BEGINNING)
            low, high = consumer.get_watermark_offsets(tp, timeout=self.timeout_s)
            if high <= low:
                return RestoredPartition({}, None)
            consumer.assign([tp])
            done = False
            while not done:
                if time.monotonic() > deadline:
                    raise StateRestoreError(
                        f"reading {self.topic}[{tp.partition}] for input partition "
                        f"{input_partition} took longer than {self.timeout_s}s"
                    )
                for msg in consumer.consume(500, timeout=0.05):
                    err = msg.error()
                    if err is not None:
                        if err.code() == KafkaError._PARTITION_EOF:
                            done = True
                            continue
                        raise StateRestoreError(f"reading {self.topic}: {err.str()}")
                    key = msg.key()
                    if key is not None and key.startswith(prefix):
                        latest[key] = msg.value()
        except KafkaException as exc:
            raise StateRestoreError(f"reading {self.topic}: {exc}") from exc
        finally:
            consumer.close()
        restored: dict[str, RestoredModel] = {}
        checkpoint: dict[str, int] | None = None
        for value in latest.values():
            if value is None:
                continue
            header, payload = decode_envelope(value)
            offsets = {str(k): int(v) for k, v in header.get("offsets", {}).items()}
            if header["model_id"] == CHECKPOINT:
                checkpoint = offsets
                continue
            restored[header["model_id"]] = RestoredModel(
                model_id=header["model_id"], payload=payload, offsets=offsets)
        return RestoredPartition(restored, checkpoint)


__all__ = [
    "CHECKPOINT",
    "ENVELOPE_VERSION",
    "RestoredModel",
    "RestoredPartition",
    "StateStore",
    "decode_envelope",
    "encode_envelope",
    "state_key",
]
