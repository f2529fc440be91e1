"""The commit sequence of :mod:`consumer.checkpoint`, step by step, with a fake producer under the
real :class:`~consumer.transactions.Transactor` (no broker; the broker tests check the rest)."""

from __future__ import annotations

import pytest

from consumer.checkpoint import Checkpointer
from consumer.exceptions import AbortableTransactionError, FatalTransactionError
from consumer.metrics import Metrics
from consumer.partition import PartitionTask, TaskState
from consumer.state_store import StateStore
from consumer.transactions import Transactor
from detectors.config import DetectionConfig
from detectors.contracts import Source
from detectors.pipeline import Pipeline
from tests.consumer.kafka_fakes import FakeProducer, abortable, fenced

PREDICTION = ('{{"type": "prediction", "prediction_id": "p{}", "model_id": "m", '
              '"model_version": "v1", "timestamp": 1000, "prediction": true}}')


def _setup() -> tuple[Checkpointer, FakeProducer, PartitionTask]:
    producers: list[FakeProducer] = []

    def factory(conf: dict[str, object]) -> FakeProducer:
        producers.append(FakeProducer(conf))
        return producers[-1]

    tx = Transactor({"transactional.id": "t"}, producer_factory=factory)
    store = StateStore({}, topic="state", group_id="g", state_partitions=1)
    pipeline = Pipeline(DetectionConfig())
    task = PartitionTask(partition=0, pipeline=pipeline, state=TaskState.ACTIVE,
                         positions={"in": 0}, committed={"in": 0})
    return Checkpointer(tx, store, Metrics()), producers[0], task


def _process_one(task: PartitionTask) -> None:
    offset = task.positions["in"]
    raw = PREDICTION.format(offset).encode()
    task.pipeline.process_raw(raw, Source(topic="in", partition=0, offset=offset))  # type: ignore[attr-defined]
    task.positions["in"] = offset + 1


def test_an_idle_commit_does_nothing() -> None:
    checkpointer, producer, task = _setup()
    assert checkpointer.commit([task], "meta", 5.0) is False
    assert producer.calls == []


def test_the_sequence_snapshots_flushes_sends_offsets_then_commits() -> None:
    checkpointer, producer, task = _setup()
    _process_one(task)
    assert task.pipeline.dirty_models() == {"m"}

    assert checkpointer.commit([task], "meta", 5.0) is True

    assert producer.names() == ["begin_transaction", "produce", "produce", "flush",
                                "send_offsets_to_transaction", "commit_transaction"]
    assert producer.produced() == [("state", b"g/0/m"), ("state", b"g/0/")]  # snapshot, marker
    assert producer.calls[4][1] == [("in", 0, 1)]
    assert task.committed == {"in": 1} and task.checkpoint_offsets == {"in": 1}
    assert task.pipeline.dirty_models() == set()  # step 6: marked clean after the commit


def test_between_checkpoints_only_offsets_are_committed() -> None:
    checkpointer, producer, task = _setup()
    _process_one(task)
    checkpointer.commit([task], "meta", 5.0, snapshot_interval_s=3600)
    producer.calls.clear()
    _process_one(task)

    checkpointer.commit([task], "meta", 5.0, snapshot_interval_s=3600)

    assert "produce" not in producer.names()  # no snapshot: the checkpoint is not due
    assert task.pipeline.dirty_models() == {"m"}  # still dirty: the next checkpoint writes it
    assert task.committed == {"in": 2} and task.checkpoint_offsets == {"in": 1}


@pytest.mark.parametrize("call", ["send_offsets_to_transaction", "commit_transaction"])
def test_an_abortable_failure_leaves_the_task_uncommitted(call: str) -> None:
    checkpointer, producer, task = _setup()
    _process_one(task)
    producer.fail[call] = abortable()

    with pytest.raises(AbortableTransactionError, match=call):
        checkpointer.commit([task], "meta", 5.0)

    assert task.committed == {"in": 0}
    assert task.pipeline.dirty_models() == {"m"}


def test_a_fenced_producer_is_fatal() -> None:
    checkpointer, producer, task = _setup()
    _process_one(task)
    producer.fail["commit_transaction"] = fenced()
    with pytest.raises(FatalTransactionError, match="fenced by a newer instance"):
        checkpointer.commit([task], "meta", 5.0)
    assert task.committed == {"in": 0}
