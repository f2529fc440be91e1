"""The transactional producer's errors, classified the same whichever call raised them."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaException

from consumer.exceptions import AbortableTransactionError, FatalTransactionError
from consumer.transactions import Transactor
from tests.consumer.kafka_fakes import FakeProducer, abortable, fenced


def _transactor() -> tuple[Transactor, FakeProducer]:
    producers: list[FakeProducer] = []

    def factory(conf: dict[str, object]) -> FakeProducer:
        producers.append(FakeProducer(conf))
        return producers[-1]

    return Transactor({"transactional.id": "t-1"}, producer_factory=factory), producers[0]


@pytest.mark.parametrize("call", ["poll", "produce", "commit_transaction"])
def test_fenced_is_fatal_from_every_call(call: str) -> None:
    """CI saw librdkafka raise ``_FENCED`` from the per-batch ``poll`` (adding a partition to
    the transaction failed): it must end the service with exit 6 like a fenced commit."""
    tx, producer = _transactor()
    producer.fail[call] = fenced("Failed to add partitions to transaction")
    with pytest.raises(FatalTransactionError, match="t-1; fenced") as caught:
        tx.produce("out", b"v")
        tx.poll()
        tx.commit(deadline=0.0)
    assert isinstance(caught.value.__cause__, KafkaException)


def test_an_abortable_error_from_poll_aborts() -> None:
    tx, producer = _transactor()
    tx.produce("out", b"v")
    producer.fail["poll"] = abortable("injected from poll")
    with pytest.raises(AbortableTransactionError, match="poll: _STATE: injected from poll"):
        tx.poll()
