"""A Kafka client call stuck far past its timeout (librdkafka #5456: ``send_offsets_to_transaction``
after a coordinator outage) ends the process with exit 7, the same way in the consumer's commit
and in the retrain worker's decision, so a supervisor restarts it and ``init_transactions`` fences
and aborts the open transaction. Each runs in a real process whose producer hangs in that call
(a fake at the client seam); nothing else is faked.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

HANGING_PRODUCER = textwrap.dedent("""
    import logging, sys, threading
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    from tests.consumer.kafka_fakes import FakeProducer

    class HangingProducer(FakeProducer):
        def send_offsets_to_transaction(self, offsets, metadata, timeout):
            threading.Event().wait()  # librdkafka #5456: never returns
""")

CONSUMER_COMMIT = HANGING_PRODUCER + textwrap.dedent("""
    from consumer.health import HealthState
    from consumer.process import exit_on_stuck
    from consumer.transactions import CallGuard, Transactor
    from confluent_kafka import TopicPartition
    import time

    tx = Transactor({"transactional.id": "t"}, CallGuard(exit_on_stuck(HealthState()), grace_s=1),
                    producer_factory=HangingProducer)
    tx.send_offsets([TopicPartition("in", 0, 5)], "meta", time.monotonic() + 1)
    print("returned")  # never: the guard ended the process
""")

WORKER_DECISION = HANGING_PRODUCER + textwrap.dedent("""
    from retrain_worker.config import WorkerServiceConfig
    from retrain_worker.service import RetrainWorker
    from tests.consumer.kafka_fakes import FakeConsumer

    config = WorkerServiceConfig.model_validate(
        {"worker": {"metrics_port": None, "transaction_timeout_s": 1}})
    worker = RetrainWorker(config, producer_factory=HangingProducer, guard_grace_s=1)
    worker.consumer = FakeConsumer()
    worker._assigned.add(("drift", 0))
    worker._next[("drift", 0)] = 7
    worker._build_transactor()
    worker._commit_offsets(force=True)  # send_offsets_to_transaction hangs
    print("returned")  # never: the guard ended the process
""")


def _run(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, cwd=REPO)


def test_a_stuck_commit_ends_the_consumer_process_with_exit_7() -> None:
    result = _run(CONSUMER_COMMIT)
    assert result.returncode == 7, result.stderr
    assert "returned" not in result.stdout
    assert "send_offsets_to_transaction blocked for" in result.stderr
    assert "a restart fences and aborts the open transaction" in result.stderr


def test_a_stuck_decision_ends_the_worker_process_with_exit_7() -> None:
    result = _run(WORKER_DECISION)
    assert result.returncode == 7, result.stderr
    assert "returned" not in result.stdout
    assert "send_offsets_to_transaction blocked for" in result.stderr
    assert "a restart fences and aborts the open transaction" in result.stderr
