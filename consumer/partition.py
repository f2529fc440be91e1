"""One owned input partition number: its detection pipeline and where it stands in the inputs.

Contract:

* Predictions and labels are co-partitioned, so partition ``p`` of every input topic feeds the
  same :class:`PartitionTask` and its one pipeline (a model's predictions and labels meet there).
* ``positions`` is the next offset to read per input topic (what the next commit sends to the
  transaction); ``committed`` is what the last successful commit (or the restore) left on the
  broker. A task has uncommitted work exactly when the two differ or its pipeline is dirty.
* A task is built either fresh or from the state topic (:mod:`consumer.rebalance`); nothing else
  creates one. Its :class:`TaskState` says where it is in its life: ``restoring`` while its state
  is read back, ``active`` while it is assigned (only active tasks are fed records and
  committed), ``parked`` after a revoke whose commit succeeded (kept, in case the partition comes
  back unchanged), ``dropped`` once its in-memory state can no longer be trusted (lost, a failed
  revoke commit, a rewind) and must never be committed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from confluent_kafka import TopicPartition

from detectors.contracts import Source, Where
from detectors.events import InputLabel, InputPrediction
from detectors.pipeline import Counters
from detectors.snapshot import ModelCheckpoint
from detectors.views import CounterView, KeyView


class PipelineLike(Protocol):
    """What the consumer needs of :class:`detectors.pipeline.Pipeline`."""

    def process(
        self, event: InputPrediction | InputLabel, source: Source, raw: bytes | None = None
    ) -> list[Any]: ...

    def process_batch(
        self, records: Sequence[tuple[InputPrediction | InputLabel, Where, bytes | None]]
    ) -> list[tuple[int, Any]]: ...

    def dirty_models(self) -> Iterable[str]: ...

    def mark_clean(self) -> None: ...

    def snapshot_model(self, model_id: str) -> bytes: ...

    def checkpoint_model(self, model_id: str) -> ModelCheckpoint: ...

    def restore_model(self, model_id: str, data: bytes | memoryview, *, lazy: bool = False,
                      persisted: bool = False,
                      segments: Mapping[int, bytes | memoryview] | None = None) -> None: ...

    def model_ids(self) -> Iterable[str]: ...

    @property
    def watermark(self) -> float: ...

    def restore_watermark(self, watermark: float) -> None: ...

    @property
    def counters(self) -> Counters:
        """Read-only use: the batch processor reads ``processed`` after each batch (cheap)."""
        ...

    def counter_view(self) -> CounterView: ...

    def key_views(self, detector_statistics: bool = True) -> Iterable[KeyView]: ...


PipelineFactory = Callable[[], PipelineLike]


def pipeline_counts(view: CounterView) -> dict[str, int]:
    """The cumulative counters that Prometheus counters follow (by delta), from a pipeline's
    :meth:`~detectors.pipeline.Pipeline.counter_view`."""
    return {
        "processed": view.processed, "joined": view.joined, "orphaned": view.orphaned,
        "expired": view.expired, "duplicate": view.duplicates, "evicted": view.evicted,
        "keys_refused": view.keys_refused, "suppressed_warmup": view.suppressed_warmup,
        "suppressed_cooldown": view.suppressed_cooldown,
        "suppressed_direction": view.suppressed_direction,
    }


class TaskState(Enum):
    """Where a :class:`PartitionTask` is in its life (see the module docstring)."""

    RESTORING = "restoring"
    ACTIVE = "active"
    PARKED = "parked"
    DROPPED = "dropped"


@dataclass
class PartitionTask:
    partition: int
    pipeline: PipelineLike
    state: TaskState = TaskState.RESTORING
    #: Input topic → next offset to read (only topics read or committed so far).
    positions: dict[str, int] = field(default_factory=dict)
    #: Input topic → offset the last commit or restore left on the broker.
    committed: dict[str, int] = field(default_factory=dict)
    #: Pipeline counter values already folded into Prometheus counters (they only grow).
    reported: dict[str, int] = field(default_factory=dict)
    #: When (monotonic seconds) the last checkpoint wrote this partition's snapshots; 0: never.
    last_checkpoint: float = 0.0
    #: Input offsets the state topic's snapshots of this partition reflect.
    checkpoint_offsets: dict[str, int] | None = None

    def has_new_offsets(self) -> bool:
        return self.positions != self.committed

    def offsets_to_commit(self) -> list[TopicPartition]:
        return [TopicPartition(topic, self.partition, offset)
                for topic, offset in sorted(self.positions.items())]

    def mark_committed(self) -> None:
        self.committed = dict(self.positions)


__all__ = ["PartitionTask", "PipelineFactory", "PipelineLike", "TaskState", "pipeline_counts"]
