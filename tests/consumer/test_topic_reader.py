"""The reader's watermark query waits out a moving leader and fails on anything else."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka import TopicPartition as KafkaTopicPartition

from consumer.topic_reader import watermarks


class FlakyWatermarks:
    """Raises the given errors, one per call, then answers (0, 42)."""

    def __init__(self, *errors: int) -> None:
        self.errors = list(errors)
        self.calls = 0

    def get_watermark_offsets(self, tp: KafkaTopicPartition, timeout: float) -> tuple[int, int]:
        self.calls += 1
        if self.errors:
            raise KafkaException(KafkaError(self.errors.pop(0)))
        return 0, 42


def test_a_moving_leader_is_asked_again() -> None:
    consumer = FlakyWatermarks(KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE)
    tp = KafkaTopicPartition("t", 0)
    assert watermarks(consumer, tp, deadline=time.monotonic() + 60) == (0, 42)
    assert consumer.calls == 3


def test_other_errors_and_the_deadline_fail() -> None:
    tp = KafkaTopicPartition("t", 0)
    with pytest.raises(KafkaException, match=r"Authoriz|AUTHORIZ"):
        watermarks(FlakyWatermarks(KafkaError.TOPIC_AUTHORIZATION_FAILED), tp,
                    deadline=time.monotonic() + 60)
    with pytest.raises(KafkaException):  # still moving when the deadline passes
        watermarks(FlakyWatermarks(*[KafkaError.NOT_LEADER_FOR_PARTITION] * 100), tp,
                    deadline=time.monotonic() + 0.5)


class ClosingFlakyWatermarks(FlakyWatermarks):
    """A reader consumer (the worker's ``_scan`` closes it) whose partition is empty: (0, 0)."""

    def get_watermark_offsets(self, tp: KafkaTopicPartition, timeout: float) -> tuple[int, int]:
        super().get_watermark_offsets(tp, timeout)
        return 0, 0

    def close(self) -> None:
        pass


def test_the_workers_decision_log_read_waits_out_a_moving_leader(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """CI saw the worker exit 4 (DecisionLogError: 'Not leader for partition') reading the
    decision log of a topic created a moment earlier: its read now uses :func:`watermarks`."""
    from retrain_worker import kafka_io

    consumer = ClosingFlakyWatermarks(KafkaError.NOT_LEADER_FOR_PARTITION)
    monkeypatch.setattr(kafka_io, "new_consumer", lambda conf: consumer)
    monkeypatch.setattr(kafka_io, "partitions_of", lambda conf, topic, timeout_s: [0])
    assert kafka_io.read_decision_log({"bootstrap.servers": "unused:1"}, "t.retrain") == []
    assert consumer.calls == 2
