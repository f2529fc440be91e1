"""The local broker script: clear message without Java/Maven; a 3-node cluster survives kill -9
of one node and takes it back after a restart on the same log dir."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from driftline.dev.local_broker import LocalKafka


def test_missing_java_is_one_clear_message(tmp_path: Path, repo_root: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path), "DRIFTLINE_CACHE": str(tmp_path / "cache")}
    result = subprocess.run(
        [sys.executable, "-m", "driftline.dev.local_broker", "fetch"],
        cwd=repo_root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: `java` not found on PATH: install a Java 17+ runtime "
        "(Debian: apt-get install openjdk-17-jre-headless)"
    ]


@pytest.mark.kafka
def test_three_node_cluster_survives_a_hard_bounce(kafka_cluster3: LocalKafka) -> None:
    conf = {"bootstrap.servers": kafka_cluster3.bootstrap_servers}
    topic = f"bounce-{uuid.uuid4().hex[:8]}"
    admin = AdminClient(conf)
    admin.create_topics([NewTopic(topic, 3, 3, config={"min.insync.replicas": "2"})])[
        topic
    ].result()
    producer = Producer({**conf, "acks": "all", "enable.idempotence": True})
    for i in range(100):
        producer.produce(topic, key=str(i % 7).encode(), value=str(i).encode())
        if i == 50:
            producer.flush(30)
            kafka_cluster3.kill(2)
    assert producer.flush(60) == 0
    kafka_cluster3.restart(2)
    consumer = Consumer({**conf, "group.id": f"g-{uuid.uuid4()}", "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    values = set()
    while len(values) < 100:
        message = consumer.poll(15)
        assert message is not None, f"only {len(values)} of 100 records came back"
        assert message.error() is None
        values.add(int(message.value()))
    consumer.close()
    assert values == set(range(100))


@pytest.mark.kafka
def test_start_refuses_a_running_cluster_and_a_restart_keeps_the_ports(
        tmp_path: Path, repo_root: Path) -> None:
    """``scripts/kafka start`` twice: the second refuses and deletes nothing; after ``stop``,
    ``start`` comes back on the same ports."""
    state = tmp_path / "cluster"

    def script(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "driftline.dev.local_broker", *args,
                               "--dir", str(state)], cwd=repo_root, capture_output=True,
                              text=True, check=False, timeout=600)  # a hang bound

    first = script("start")
    assert first.returncode == 0, first.stderr
    bootstrap = first.stdout.strip()
    try:
        again = script("start")
        assert again.returncode == 1
        assert f"error: the Kafka cluster in {state} is still running" in again.stderr
        assert (state / "cluster.json").exists() and (state / "node-1" / "data").is_dir()
        metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=30)
        assert len(metadata.brokers) == 1  # still serving
        assert script("stop").returncode == 0
        restarted = script("start")
        assert restarted.returncode == 0, restarted.stderr
        assert restarted.stdout.strip() == bootstrap
        assert "the previous ports of 1 node(s) reused" in restarted.stderr
    finally:
        script("stop")
