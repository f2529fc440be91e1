"""Input records the broker deleted before the consumer read them (consumer.offset_reset).

The Kafka tests move a partition's log start past the group's position with ``DeleteRecords``:
the same log-start move as a retention deletion (the stall seen in bench/service_resources.py,
where the broker's retention check deleted simulated records stamped 2024 under a 7-day
``retention.ms``). Before the fix librdkafka reset such a position silently to BEGINNING (the
new log start): a running consumer whose whole backlog was deleted sat with its committed offsets
behind the end for good, and nothing counted the records skipped.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient

from consumer.config import TopicNames
from consumer.exceptions import InputTruncatedError
from consumer.metrics import Metrics
from consumer.offset_reset import OffsetResets
from consumer.partition import PartitionTask
from tests.consumer.helpers import (
    ConsumerProcess,
    ServiceProcess,
    committed,
    encode,
    end_offsets,
    produce,
    synthetic_stream,
    wait_committed,
)
from tests.hang import HANG_S

SKIPPED = "driftline_consumer_skipped_records_total"


# -- the decision, against a fake client -------------------------------------------------------


class _Msg:
    def __init__(self, topic: str, partition: int, offset: int) -> None:
        self._t, self._p, self._o = topic, partition, offset

    def topic(self) -> str:
        return self._t

    def partition(self) -> int:
        return self._p

    def offset(self) -> int:
        return self._o


class _Client:
    """Answers the partition's range; nothing else is called (the owner re-assigns)."""

    def __init__(self, low: int, high: int) -> None:
        self.range = (low, high)

    def get_watermark_offsets(self, tp: TopicPartition, timeout: float) -> tuple[int, int]:
        return self.range


def _task(positions: dict[str, int]) -> PartitionTask:
    return PartitionTask(partition=0, pipeline=None,  # type: ignore[arg-type]
                         positions=dict(positions), committed=dict(positions))


def test_a_position_below_the_log_start_moves_to_it_counted() -> None:
    metrics = Metrics()
    resets = OffsetResets(metrics)
    task = _task({"in": 7230, "other": 50})
    resets.note(_Msg("in", 0, 7230))  # type: ignore[arg-type]
    assert resets.resolve(_Client(24061, 24061), {0: task}) is True
    assert task.positions == {"in": 24061, "other": 50} and task.has_new_offsets()
    assert metrics.skipped_records.labels("in", "0")._value.get() == 16831
    assert not resets.pending


def test_a_position_inside_the_range_is_fetched_again_from_the_task_position() -> None:
    metrics = Metrics()
    resets = OffsetResets(metrics)
    task = _task({"in": 90})
    resets.note(_Msg("in", 0, 95))  # type: ignore[arg-type]
    assert resets.resolve(_Client(0, 150), {0: task}) is True
    assert task.positions == {"in": 90} and not task.has_new_offsets()
    assert metrics.skipped_records.labels("in", "0")._value.get() == 0


def test_a_position_past_the_log_end_is_the_operators_decision() -> None:
    resets = OffsetResets(Metrics())
    resets.note(_Msg("in", 0, 200))  # type: ignore[arg-type]
    with pytest.raises(InputTruncatedError, match=r"in\[0\] ends at offset 150.*reset-offsets"):
        resets.resolve(_Client(0, 150), {0: _task({"in": 200})})
    assert InputTruncatedError.exit_code == 8


def test_a_revoked_partition_is_left_to_its_next_owner() -> None:
    resets = OffsetResets(Metrics())
    resets.note(_Msg("in", 3, 10))  # type: ignore[arg-type]
    assert resets.resolve(_Client(20, 30), {0: _task({"in": 5})}) is False
    assert not resets.pending


# -- against the real broker -------------------------------------------------------------------


def _inputs(topics: TopicNames, seed: int, per_model: int) -> dict[str, list[tuple[bytes, bytes]]]:
    events = synthetic_stream(models=2, per_model=per_model, seed=seed, label_delay=3)
    for event in events:  # distinct ids per seed: a second stream is new traffic
        event["prediction_id"] = f"s{seed}-{event['prediction_id']}"
    by_topic: dict[str, list[tuple[bytes, bytes]]] = {topics.predictions: [], topics.labels: []}
    for event in events:
        topic = topics.predictions if event["type"] == "prediction" else topics.labels
        by_topic[topic].append((event["model_id"].encode(), encode(event)))
    return by_topic


def _produce(bootstrap: str, records: dict[str, list[tuple[bytes, bytes]]]) -> None:
    for topic, rows in records.items():
        produce(bootstrap, topic, rows)


def _delete_before(bootstrap: str, offsets: dict[str, int]) -> None:
    """``DeleteRecords``: every record of partition 0 of each topic before its offset."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.delete_records([TopicPartition(t, 0, o) for t, o in offsets.items()],
                                   operation_timeout=30, request_timeout=30)
    for future in futures.values():
        assert future.result().low_watermark >= 0


def _wait_all_committed(bootstrap: str, group: str, topics: TopicNames,
                        service: ServiceProcess, timeout_s: float = 90.0) -> None:
    for topic in (topics.predictions, topics.labels):
        wait_committed(bootstrap, group, topic, timeout_s=timeout_s, procs=[service])


def _consumer(tmp: Path, bootstrap: str, topics: TopicNames, group: str) -> ConsumerProcess:
    # A long session: the test freezes the process for a moment (SIGSTOP).
    return ConsumerProcess(tmp, bootstrap, topics, group=group, instance="a", consumer={
        "consumer_properties": {"session.timeout.ms": 45000, "heartbeat.interval.ms": 1000}})


@pytest.mark.kafka
def test_records_deleted_under_a_running_consumer_are_skipped_loudly_and_it_goes_on(
    kafka_conf: dict[str, Any], topic_names: TopicNames, tmp_path: Path,
    services: list[ServiceProcess],
) -> None:
    """The bench stall: the consumer caught up, then its whole next backlog deleted before it
    fetched it. Before the fix: a silent reset to the log start (= its end) and committed offsets
    stuck behind the end, for good."""
    bootstrap = kafka_conf["bootstrap.servers"]
    group = "g-deleted-running"
    _produce(bootstrap, _inputs(topic_names, seed=1, per_model=150))
    service = _consumer(tmp_path, bootstrap, topic_names, group)
    services.append(service.start())
    service.wait_ready()
    _wait_all_committed(bootstrap, group, topic_names, service)
    caught_up = {t: end_offsets(bootstrap, t)[0] for t in (topic_names.predictions,
                                                           topic_names.labels)}
    consumed_before = service.metric("driftline_consumer_events_consumed_total")

    service.signal(signal.SIGSTOP)  # no fetch while the next backlog comes and goes
    try:
        time.sleep(1.5)  # the fetch the broker held (fetch.wait.max.ms) has returned empty
        second = _inputs(topic_names, seed=2, per_model=100)
        _produce(bootstrap, second)
        ends = {t: end_offsets(bootstrap, t)[0] for t in caught_up}
        _delete_before(bootstrap, ends)  # everything not read yet is gone
    finally:
        service.signal(signal.SIGCONT)

    _wait_all_committed(bootstrap, group, topic_names, service, timeout_s=HANG_S)
    for topic in caught_up:
        deleted = ends[topic] - caught_up[topic]
        assert deleted == len(second[topic])
        assert service.wait_metric(SKIPPED, {"topic": topic, "partition": "0"}) == deleted
    assert service.metric("driftline_consumer_events_consumed_total") == consumed_before
    log = service.log_text()
    assert (f"{topic_names.labels}[0]: {len(second[topic_names.labels])} records (offsets "
            f"{caught_up[topic_names.labels]} to {ends[topic_names.labels] - 1}) were deleted "
            "by the broker") in log
    assert "offset reset" not in log  # librdkafka moved nothing by itself

    # ... and it goes on: new records are processed and committed.
    third = _inputs(topic_names, seed=3, per_model=20)
    _produce(bootstrap, third)
    _wait_all_committed(bootstrap, group, topic_names, service)
    assert service.metric("driftline_consumer_events_consumed_total") == (
        (consumed_before or 0) + sum(len(rows) for rows in third.values()))
    assert service.terminate() == 0


@pytest.mark.kafka
def test_a_committed_offset_deleted_while_the_consumer_was_down_is_skipped_loudly(
    kafka_conf: dict[str, Any], topic_names: TopicNames, tmp_path: Path,
    services: list[ServiceProcess],
) -> None:
    """A restart after retention deleted part of the backlog: the consumer goes on at the log
    start, counts what it never read, and reads every record still there exactly once."""
    bootstrap = kafka_conf["bootstrap.servers"]
    group = "g-deleted-down"
    _produce(bootstrap, _inputs(topic_names, seed=1, per_model=100))
    service = _consumer(tmp_path, bootstrap, topic_names, group)
    services.append(service.start())
    service.wait_ready()
    _wait_all_committed(bootstrap, group, topic_names, service)
    assert service.terminate() == 0
    was = {t: committed(bootstrap, group, t, [0])[0] for t in (topic_names.predictions,
                                                             topic_names.labels)}

    second = _inputs(topic_names, seed=2, per_model=100)
    _produce(bootstrap, second)
    cut = {t: was[t] + len(second[t]) // 2 for t in was}
    _delete_before(bootstrap, cut)

    again = _consumer(tmp_path, bootstrap, topic_names, group)
    services.append(again.start())
    again.wait_ready()
    _wait_all_committed(bootstrap, group, topic_names, again)
    left = sum(len(second[t]) - (cut[t] - was[t]) for t in was)
    for topic in was:
        assert again.wait_metric(SKIPPED, {"topic": topic, "partition": "0"}) == cut[topic] - was[topic]
    assert again.metric("driftline_consumer_events_consumed_total") == left
    assert again.terminate() == 0
