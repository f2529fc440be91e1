"""A Kafka client call stuck far past its timeout (librdkafka #5456/#5511:
``send_offsets_to_transaction`` after a coordinator outage) no longer ends the process: the
:class:`~consumer.transactions.Transactor` replaces the stuck producer in-process (a new producer
with the same ``transactional.id`` fences it and aborts its transaction) and the caller rewinds
and goes on. Only repeated replacements end the process with exit 7. The producer is a fake at
the client seam whose call hangs; the worker case runs in a real process.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import TopicPartition

from consumer.exceptions import AbortableTransactionError, ClientStuckError
from consumer.health import HealthState
from consumer.process import exit_on_stuck
from consumer.transactions import CallGuard, Transactor
from tests.consumer.kafka_fakes import FakeProducer
from tests.hang import HANG_S

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


class Producers:
    """A producer factory whose first ``hanging`` producers hang in send_offsets_to_transaction."""

    def __init__(self, hanging: int) -> None:
        self.hanging = hanging
        self.made: list[FakeProducer] = []

    def __call__(self, conf: dict[str, Any]) -> FakeProducer:
        stuck = len(self.made) < self.hanging

        class Producer(FakeProducer):
            def send_offsets_to_transaction(self, offsets: Any, metadata: Any,
                                            timeout: float) -> None:
                if stuck:
                    threading.Event().wait()  # librdkafka #5456: never returns
                super().send_offsets_to_transaction(offsets, metadata, timeout)

        self.made.append(Producer(conf))
        return self.made[-1]


def _transactor(producers: Producers, **kwargs: Any) -> Transactor:
    guard = CallGuard(exit_on_stuck(HealthState(), exit_process=False), grace_s=1)
    tx = Transactor({"transactional.id": "t"}, guard, producer_factory=producers, **kwargs)
    tx.init(5)
    return tx


def test_a_stuck_call_replaces_the_producer_and_the_next_transaction_commits() -> None:
    producers = Producers(hanging=1)
    tx = _transactor(producers)
    tx.produce("out", b"v")
    with pytest.raises(AbortableTransactionError, match="the producer was replaced"):
        tx.send_offsets([TopicPartition("in", 0, 5)], "meta", time.monotonic() + 1)
    stuck, fresh = producers.made
    assert tx.abandoned == [stuck]  # kept: never destroyed under its blocked thread
    assert fresh.names() == ["init_transactions"]  # fences the stuck one, aborts its txn
    assert not tx.in_transaction
    tx.produce("out", b"v")
    tx.send_offsets([TopicPartition("in", 0, 5)], "meta", time.monotonic() + HANG_S)
    tx.commit(time.monotonic() + HANG_S)
    assert fresh.names() == ["init_transactions", "begin_transaction", "produce",
                             "send_offsets_to_transaction", "commit_transaction"]


def test_replacements_are_bounded_then_exit_7() -> None:
    tx = _transactor(Producers(hanging=10), max_replacements=1)
    with pytest.raises(AbortableTransactionError):
        tx.send_offsets([TopicPartition("in", 0, 5)], "meta", time.monotonic() + 1)
    with pytest.raises(ClientStuckError, match="after 1 producer replacements") as caught:
        tx.send_offsets([TopicPartition("in", 0, 5)], "meta", time.monotonic() + 1)
    assert caught.value.exit_code == 7


WORKER_DECISION = textwrap.dedent("""
    import logging, sys, threading
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    from retrain_worker.config import WorkerServiceConfig
    from retrain_worker.service import RetrainWorker
    from tests.consumer.kafka_fakes import FakeConsumer
    from tests.consumer.test_process import Producers

    config = WorkerServiceConfig.model_validate(
        {"worker": {"metrics_port": None, "transaction_timeout_s": 1}})
    producers = Producers(hanging=1)
    worker = RetrainWorker(config, producer_factory=producers, guard_grace_s=1)
    worker.consumer = FakeConsumer()
    worker._assigned.add(("drift", 0))
    worker._next[("drift", 0)] = 7
    worker._build_transactor()
    worker._commit_offsets(force=True)  # send_offsets_to_transaction hangs: replaced, aborted
    assert worker._committed == {}, worker._committed
    worker._commit_offsets(force=True)  # the retry commits on the new producer
    assert worker._committed == {("drift", 0): 7}, worker._committed
    print("served on", len(producers.made), "producers")
""")


def test_a_stuck_decision_keeps_the_worker_process_serving() -> None:
    result = subprocess.run([sys.executable, "-c", WORKER_DECISION], capture_output=True,
                            text=True, timeout=HANG_S, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "served on 2 producers"
    assert "send_offsets_to_transaction blocked for" in result.stderr
    assert "replacing the producer" in result.stderr
