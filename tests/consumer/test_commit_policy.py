"""When a commit is due (:mod:`consumer.commit_policy`): every ``commit_interval_ms``, and with
``commit_on_catch_up`` right after a batch that left the consumer caught up. Against the real
broker: a service with a 60 s commit interval commits a trickle of records long before it."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from consumer.commit_policy import CommitPolicy, caught_up
from consumer.config import TopicNames
from consumer.partition import PartitionTask
from tests.consumer.helpers import (
    ConsumerProcess,
    ServiceProcess,
    encode,
    produce,
    synthetic_stream,
    wait_committed,
)


def _policy(commit_on_catch_up: bool) -> CommitPolicy:
    unused: Any = None  # due() touches neither the checkpointer, the transactor nor metrics
    return CommitPolicy(unused, unused, unused, commit_interval_s=0.2, snapshot_interval_s=10.0,
                        abort_timeout_s=1.0, commit_on_catch_up=commit_on_catch_up)


def test_due_after_the_interval() -> None:
    policy = _policy(commit_on_catch_up=False)
    last = policy._last
    assert not policy.due(last + 0.1)
    # Not exactly +0.2: (last + 0.2) - last can come out as 0.19999999999... for some values
    # of the monotonic clock (CI saw it at 33443.797).
    assert policy.due(last + 0.201)


def test_caught_up_batch_commits_at_once_when_enabled() -> None:
    assert _policy(commit_on_catch_up=True).due(_policy(True)._last, caught_up=True)
    off = _policy(commit_on_catch_up=False)
    assert not off.due(off._last + 0.1, caught_up=True)


class Watermarks:
    """``get_watermark_offsets`` of a client that cached these high watermarks."""

    def __init__(self, high: dict[tuple[str, int], int], low: int = 0) -> None:
        self.high = high
        self.low = low

    def get_watermark_offsets(self, tp: Any, cached: bool = False) -> tuple[int, int]:
        assert cached  # never a broker call on the hot path
        return self.low, self.high.get((tp.topic, tp.partition), -1)


def test_caught_up_when_less_than_a_batch_remains_everywhere() -> None:
    tasks = {0: PartitionTask(0, pipeline=None, positions={"p": 100, "l": 50}),  # type: ignore[arg-type]
             1: PartitionTask(1, pipeline=None, positions={"p": 7})}  # type: ignore[arg-type]
    high = {("p", 0): 100, ("l", 0): 59, ("p", 1): 16}
    inputs = ["p", "l"]
    high = {**high, ("l", 1): 9}  # partition 1 of "l": no position yet, 9 records from its start
    assert caught_up(Watermarks(high), tasks, batch_size=10, inputs=inputs)
    assert not caught_up(Watermarks({**high, ("p", 1): 17}), tasks, 10, inputs)  # 10 behind
    assert not caught_up(Watermarks({("p", 0): 100, ("l", 0): 59}), tasks, 10, inputs)


def test_a_partition_not_read_yet_with_a_backlog_is_behind() -> None:
    """A new group reading one partition at its head while another, with nothing read or
    committed yet, still holds 50,000 records: not caught up (the review's scenario)."""
    tasks = {0: PartitionTask(0, pipeline=None, positions={"p": 100}),  # type: ignore[arg-type]
             1: PartitionTask(1, pipeline=None)}  # type: ignore[arg-type]
    high = {("p", 0): 100, ("p", 1): 50_000}
    assert not caught_up(Watermarks(high), tasks, batch_size=300, inputs=["p"])
    # ... and caught up once retention left fewer than a batch from its log start
    assert caught_up(Watermarks(high, low=49_900), tasks, batch_size=300, inputs=["p"])


@pytest.mark.kafka
def test_service_commits_a_trickle_long_before_the_interval(
    kafka_bootstrap: str, one_input_topics: Callable[[int], TopicNames], tmp_path: Path,
    services: list[ServiceProcess],
) -> None:
    topics = one_input_topics(1)
    group = f"g-{uuid.uuid4().hex[:8]}"
    service = ConsumerProcess(tmp_path, kafka_bootstrap, topics, group=group, instance="a",
                             consumer={"commit_interval_ms": 60_000})
    services.append(service.start())
    service.wait_ready()
    events = synthetic_stream(models=1, per_model=20, seed=3)
    produce(kafka_bootstrap, topics.predictions,
            ((e["model_id"].encode(), encode(e)) for e in events))
    # Caught up after its first batch: committed without waiting for the 60 s timer (a bound
    # on a hang, not a speed: the timer alone would need 60 s).
    wait_committed(kafka_bootstrap, group, topics.predictions, timeout_s=45, procs=[service])
    assert service.terminate() == 0, service.tail()
