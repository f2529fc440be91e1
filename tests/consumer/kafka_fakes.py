"""Fakes at the Kafka client seam, for unit tests of the commit path without a broker.

:class:`FakeProducer` stands in for ``confluent_kafka.Producer`` under the real
:class:`~consumer.transactions.Transactor` (through its ``producer_factory``), recording every
call; a failure can be planted for a named call. :class:`FakeConsumer` answers ``committed`` from
a table, records ``assign``/``seek`` and hands out group metadata. Everything above the seam
(checkpointer, commit policy, rebalance owner) is the product's own code.
"""

from __future__ import annotations

from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition


def abortable(what: str = "injected") -> KafkaException:
    return KafkaException(KafkaError(KafkaError._STATE, what, txn_requires_abort=True))


def fenced(what: str = "injected: fenced") -> KafkaException:
    return KafkaException(KafkaError(KafkaError._FENCED, what, fatal=True))


class FakeProducer:
    """Records ``(call, detail)``; ``fail[call]`` is raised (once) when that call is made."""

    def __init__(self, conf: dict[str, Any]) -> None:
        self.conf = conf
        self.calls: list[tuple[str, Any]] = []
        self.fail: dict[str, BaseException] = {}

    def _call(self, name: str, detail: Any = None) -> None:
        self.calls.append((name, detail))
        error = self.fail.pop(name, None)
        if error is not None:
            raise error

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def produced(self) -> list[tuple[str, bytes | None]]:
        return [detail for name, detail in self.calls if name == "produce"]

    def init_transactions(self, timeout: float) -> None:
        self._call("init_transactions")

    def begin_transaction(self) -> None:
        self._call("begin_transaction")

    def produce(self, topic: str, value: bytes | None, key: bytes | None, **kwargs: Any) -> None:
        self._call("produce", (topic, key))

    def poll(self, timeout: float = 0) -> int:
        error = self.fail.pop("poll", None)  # not recorded: the loop polls once per batch
        if error is not None:
            raise error
        return 0

    def flush(self, timeout: float = 0) -> int:
        self._call("flush")
        return 0

    def send_offsets_to_transaction(self, offsets: list[TopicPartition], metadata: Any,
                                    timeout: float) -> None:
        self._call("send_offsets_to_transaction",
                   sorted((tp.topic, tp.partition, tp.offset) for tp in offsets))

    def commit_transaction(self, timeout: float) -> None:
        self._call("commit_transaction")

    def abort_transaction(self, timeout: float) -> None:
        self._call("abort_transaction")


class FakeConsumer:
    """Committed offsets from ``committed_at`` (topic, partition) → offset; records the rest."""

    def __init__(self, committed_at: dict[tuple[str, int], int] | None = None) -> None:
        self.committed_at = committed_at or {}
        self.calls: list[tuple[str, Any]] = []

    def committed(self, tps: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        self.calls.append(("committed", sorted({tp.partition for tp in tps})))
        return [TopicPartition(tp.topic, tp.partition,
                               self.committed_at.get((tp.topic, tp.partition), -1001))
                for tp in tps]

    def assign(self, tps: list[TopicPartition]) -> None:
        self.calls.append(("assign", [(tp.topic, tp.partition, tp.offset) for tp in tps]))

    def seek(self, tp: TopicPartition) -> None:
        self.calls.append(("seek", (tp.topic, tp.partition, tp.offset)))

    def pause(self, tps: list[TopicPartition]) -> None:
        self.calls.append(("pause", tps))

    def resume(self, tps: list[TopicPartition]) -> None:
        self.calls.append(("resume", tps))

    def consumer_group_metadata(self) -> str:
        return "group-metadata"
