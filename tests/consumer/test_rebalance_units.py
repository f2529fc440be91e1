"""The assign callback's calls on the consumer, without a broker: the state is restored first,
then the partitions are assigned once, at their committed offsets; ``pause``/``resume`` are never
called (an application ``resume`` racing librdkafka's own fetch start can be dropped, leaving a
partition paused for good: the restart test in ``test_large_state.py`` hung that way about one
run in eight on a fresh broker). The restart tests against the real broker check the rest.
"""

from __future__ import annotations

from typing import Any

from confluent_kafka import TopicPartition

from consumer.health import HealthState
from consumer.metrics import Metrics
from consumer.rebalance import PartitionOwner
from consumer.state_store import RestoredPartition
from detectors.config import DetectionConfig
from detectors.pipeline import Pipeline


class RecordingConsumer:
    """Records the calls ``on_assign`` makes; answers ``committed`` like a group at 42."""

    def __init__(self, calls: list[tuple[str, Any]]) -> None:
        self.calls = calls

    def committed(self, tps: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        self.calls.append(("committed", [tp.partition for tp in tps]))
        return [TopicPartition(tp.topic, tp.partition, 42) for tp in tps]

    def assign(self, tps: list[TopicPartition]) -> None:
        self.calls.append(("assign", [(tp.topic, tp.partition, tp.offset) for tp in tps]))

    def pause(self, tps: list[TopicPartition]) -> None:
        self.calls.append(("pause", tps))

    def resume(self, tps: list[TopicPartition]) -> None:
        self.calls.append(("resume", tps))


class RecordingStore:
    def __init__(self, calls: list[tuple[str, Any]]) -> None:
        self.calls = calls

    def restore(self, partition: int) -> RestoredPartition:
        self.calls.append(("restore", partition))
        return RestoredPartition({}, None)


def test_on_assign_restores_then_assigns_once_at_the_committed_offsets() -> None:
    calls: list[tuple[str, Any]] = []
    health = HealthState()
    owner = PartitionOwner(
        inputs=["preds", "labels"], store=RecordingStore(calls),  # type: ignore[arg-type]
        pipeline_factory=lambda: Pipeline(DetectionConfig()), metrics=Metrics(), health=health,
        commit=lambda timeout_s, force: True, abort=lambda: None, revoke_timeout_s=1.0)
    assigned = [TopicPartition(t, p) for t in ("preds", "labels") for p in (0, 3)]

    owner.on_assign(RecordingConsumer(calls), assigned)  # type: ignore[arg-type]

    assert calls == [
        ("committed", [0, 0]), ("restore", 0),
        ("committed", [3, 3]), ("restore", 3),
        ("assign", [("preds", 0, 42), ("labels", 0, 42), ("preds", 3, 42), ("labels", 3, 42)]),
    ]
    assert sorted(owner.tasks) == [0, 3]
    assert owner.tasks[3].positions == {"preds": 42, "labels": 42}
    assert health.ready() == (True, "ready")
