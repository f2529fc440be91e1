"""The rebalance owner (:mod:`consumer.rebalance`) without a broker: assign, commit, abort and
rewind, revoke, lost, frozen, with fakes at the Kafka client seam under the real commit policy,
checkpointer and transactor. The restart tests against the real broker check the rest.

The assign order matters: the state is restored first, then the partitions are assigned once, at
their committed offsets; ``pause``/``resume`` are never called (an application ``resume`` racing
librdkafka's own fetch start can be dropped, leaving a partition paused for good: the restart
test in ``test_large_state.py`` hung that way about one run in eight on a fresh broker).
"""

from __future__ import annotations

from typing import Any

from confluent_kafka import TopicPartition

from consumer.checkpoint import Checkpointer
from consumer.commit_policy import CommitPolicy
from consumer.health import HealthState
from consumer.metrics import Metrics
from consumer.partition import PartitionTask, TaskState
from consumer.rebalance import PartitionOwner
from consumer.state_store import StateStore
from consumer.transactions import Transactor
from detectors.config import DetectionConfig
from detectors.contracts import Source
from detectors.pipeline import Pipeline
from tests.consumer.kafka_fakes import FakeConsumer, FakeProducer, abortable

INPUTS = ["preds", "labels"]


class FakeRestorer:
    """A fresh pipeline at the committed offsets; records each restore."""

    def __init__(self, calls: list[tuple[str, Any]]) -> None:
        self.calls = calls

    def restore(self, p: int, committed: dict[str, int]) -> PartitionTask:
        self.calls.append(("restore", p))
        return PartitionTask(partition=p, pipeline=Pipeline(DetectionConfig()),
                             positions=dict(committed), committed=dict(committed))


class Setup:
    def __init__(self, committed: int = 42) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.consumer = FakeConsumer({(t, p): committed for t in INPUTS for p in range(4)})
        self.consumer.calls = self.calls
        self.producers: list[FakeProducer] = []
        self.tx = tx = Transactor({"transactional.id": "t"}, producer_factory=self._producer)
        self.metrics = Metrics()
        self.health = HealthState()
        self.health.broker_up()
        store = StateStore({}, topic="state", group_id="g", state_partitions=1)
        self.policy = CommitPolicy(Checkpointer(tx, store, self.metrics), tx, self.metrics,
                                   commit_interval_s=0.1, snapshot_interval_s=0.0,
                                   abort_timeout_s=1.0)
        self.owner = PartitionOwner(inputs=INPUTS, restorer=FakeRestorer(self.calls),
                                    policy=self.policy, metrics=self.metrics,
                                    health=self.health, revoke_timeout_s=1.0)

    def _producer(self, conf: dict[str, Any]) -> FakeProducer:
        self.producers.append(FakeProducer(conf))
        return self.producers[-1]

    @property
    def producer(self) -> FakeProducer:
        return self.producers[0]

    def assign(self, *partitions: int) -> None:
        self.owner.on_assign(self.consumer, [TopicPartition(t, p) for t in INPUTS
                                             for p in partitions])

    def revoke(self, *partitions: int) -> None:
        self.owner.on_revoke(self.consumer, [TopicPartition(t, p) for t in INPUTS
                                             for p in partitions])

    def lost(self, *partitions: int) -> None:
        self.owner.on_lost(self.consumer, [TopicPartition(t, p) for t in INPUTS
                                           for p in partitions])

    def process(self, p: int, n: int = 1) -> None:
        """``n`` predictions read from ``preds[p]`` (what the batch processor does)."""
        task = self.owner.tasks[p]
        for _ in range(n):
            offset = task.positions["preds"]
            raw = (f'{{"type": "prediction", "prediction_id": "p{p}-{offset}", "model_id": '
                   f'"m{p}", "model_version": "v1", "timestamp": 1000, "prediction": true}}')
            task.pipeline.process_raw(raw.encode(), Source(topic="preds", partition=p,  # type: ignore[attr-defined]
                                                           offset=offset))
            task.positions["preds"] = offset + 1

    def sent_offsets(self) -> list[Any]:
        return [d for name, d in self.producer.calls if name == "send_offsets_to_transaction"]

    def count(self, outcome: str) -> float:
        return self.metrics.registry.get_sample_value(
            "driftline_consumer_transactions_total", {"outcome": outcome}) or 0.0


def test_assign_restores_then_assigns_once_at_the_committed_offsets() -> None:
    s = Setup()
    s.assign(0, 3)
    assert s.calls == [
        ("committed", [0]), ("restore", 0),
        ("committed", [3]), ("restore", 3),
        ("assign", [("preds", 0, 42), ("labels", 0, 42), ("preds", 3, 42), ("labels", 3, 42)]),
    ]
    assert sorted(s.owner.tasks) == [0, 3]
    assert all(t.state is TaskState.ACTIVE for t in s.owner.tasks.values())
    assert s.owner.tasks[3].positions == {"preds": 42, "labels": 42}
    assert s.health.ready() == (True, "ready")


def test_commit_sends_the_positions_of_the_active_tasks() -> None:
    s = Setup()
    s.assign(0, 1)
    s.process(1, n=3)
    assert s.owner.commit(s.consumer) is True
    assert s.sent_offsets() == [[("labels", 0, 42), ("labels", 1, 42), ("preds", 0, 42),
                                 ("preds", 1, 45)]]
    assert s.owner.tasks[1].committed["preds"] == 45
    assert s.owner.commit(s.consumer) is False  # nothing new: no transaction


def test_an_abortable_commit_aborts_and_rewinds_to_the_committed_state() -> None:
    s = Setup()
    s.assign(0)
    s.process(0, n=5)
    before = s.owner.tasks[0]
    s.producer.fail["commit_transaction"] = abortable()
    s.calls.clear()

    assert s.owner.commit(s.consumer) is False

    assert "abort_transaction" in s.producer.names()
    assert s.count("aborted") == 1
    assert before.state is TaskState.DROPPED  # its in-memory state is ahead of the commit
    rewound = s.owner.tasks[0]
    assert rewound is not before and rewound.state is TaskState.ACTIVE
    assert rewound.positions == {"preds": 42, "labels": 42}
    assert ("restore", 0) in s.calls
    assert [d for name, d in s.calls if name == "seek"] == [("preds", 0, 42), ("labels", 0, 42)]


def test_revoke_commits_with_a_checkpoint_then_parks_for_an_unchanged_return() -> None:
    s = Setup()
    s.assign(0)
    s.process(0, n=2)
    task = s.owner.tasks[0]
    s.revoke(0)
    assert task.state is TaskState.PARKED and 0 not in s.owner.tasks
    assert s.sent_offsets()[-1] == [("labels", 0, 42), ("preds", 0, 44)]
    assert ("state", b"g/0/") in s.producer.produced()  # forced checkpoint marker
    s.consumer.committed_at[("preds", 0)] = 44  # what that commit left on the broker
    s.calls.clear()

    s.assign(0)

    assert s.owner.tasks[0] is task and task.state is TaskState.ACTIVE
    assert ("restore", 0) not in s.calls  # committed offsets unchanged: kept in memory


def test_a_parked_task_is_restored_when_someone_else_committed_meanwhile() -> None:
    s = Setup()
    s.assign(0)
    s.revoke(0)
    parked = next(iter(s.owner._parked.values()))
    s.consumer.committed_at[("preds", 0)] = 99  # another process went on
    s.assign(0)
    assert parked.state is TaskState.DROPPED
    assert s.owner.tasks[0].positions["preds"] == 99
    assert s.calls.count(("restore", 0)) == 2


def test_a_failed_revoke_commit_aborts_and_drops_the_state() -> None:
    s = Setup()
    s.assign(0)
    s.process(0)
    task = s.owner.tasks[0]
    s.producer.fail["commit_transaction"] = abortable()
    s.revoke(0)
    assert task.state is TaskState.DROPPED and not s.owner.tasks and not s.owner._parked
    assert "abort_transaction" in s.producer.names()


def test_lost_partitions_abort_and_are_never_committed() -> None:
    s = Setup()
    s.assign(0)
    s.process(0, n=2)
    s.tx.produce("drift", b"{}", key=b"m0")  # an output opened the transaction
    task = s.owner.tasks[0]
    s.lost(0)
    assert task.state is TaskState.DROPPED and not s.owner.tasks
    assert s.producer.names()[-1] == "abort_transaction"
    assert s.sent_offsets() == []
    assert s.owner.commit(s.consumer) is False


def test_a_frozen_owner_commits_nothing() -> None:
    s = Setup()
    s.assign(0)
    s.process(0)
    s.owner.frozen = True
    assert s.owner.commit(s.consumer) is False
    s.revoke(0)
    assert s.sent_offsets() == [] and not s.owner.tasks


def test_restart_fetch_assigns_every_owned_partition_again_at_its_tasks_position() -> None:
    """After consumer.offset_reset moved a position (librdkafka refuses seek() on a partition
    whose fetch stopped): the whole assignment again, each topic at its task's next offset, the
    committed offset where nothing was read yet."""
    s = Setup(committed=42)
    s.assign(0, 1)
    s.owner.tasks[0].positions["preds"] = 24061
    s.owner.tasks[1].positions.pop("labels")
    s.owner.tasks[1].committed.pop("labels")
    s.calls.clear()
    s.owner.restart_fetch(s.consumer)
    assert s.calls == [("assign", [("preds", 0, 24061), ("labels", 0, 42), ("preds", 1, 42),
                                   ("labels", 1, -2)])]
    s.revoke(0, 1)
    s.calls.clear()
    s.owner.restart_fetch(s.consumer)  # nothing owned: no assign() that would answer a rebalance
    assert s.calls == []
