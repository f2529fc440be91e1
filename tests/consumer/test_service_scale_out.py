"""The README's scale-out line as written: ``driftline consume --config driftline.yaml`` twice on
one host, same file. Each process claims its own instance slot (:mod:`consumer.instance`): its
own ``transactional.id`` (no fencing) and ``metrics_port + slot``; the group shares the
partitions, both keep running and every input record is committed."""

from __future__ import annotations

import re
import socket
import time
import uuid
from pathlib import Path

import pytest
import yaml

from consumer.config import TopicLayout
from consumer.topics import create_topics
from driftline.dev.services import ServiceProcess, free_port
from tests.conftest import unique_topic_names
from tests.consumer.helpers import encode, produce, synthetic_stream, wait_committed

pytestmark = pytest.mark.kafka

#: Hang bounds (a loaded 2-core machine starts a process in seconds, a group in tens of them).
HANG_S = 240.0


def _two_free_ports() -> int:
    """A port P with P and P + 1 free right now."""
    for _ in range(100):
        port = free_port()
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise AssertionError("no two adjacent free ports")


def test_two_processes_from_one_config_share_the_partitions(
    kafka_bootstrap: str, kafka_conf: dict[str, str], tmp_path: Path,
    services: list[ServiceProcess],
) -> None:
    names = unique_topic_names("scale")
    create_topics(kafka_conf, names, TopicLayout(partitions=4))
    group = f"g-{uuid.uuid4().hex[:8]}"
    port = _two_free_ports()
    config = tmp_path / "driftline.yaml"  # one file, no instance_id: as in the README
    config.write_text(yaml.safe_dump({
        "kafka": {"bootstrap.servers": kafka_bootstrap},
        "topics": names.model_dump(),
        "consumer": {"group_id": group, "metrics_port": port, "metrics_host": "127.0.0.1",
                     "commit_interval_ms": 100,
                     "consumer_properties": {"session.timeout.ms": 6000,
                                             "heartbeat.interval.ms": 500}},
    }))
    first = ServiceProcess("consume", config, tmp_path / "first.log", metrics_port=port)
    second = ServiceProcess("consume", config, tmp_path / "second.log", metrics_port=port + 1)
    services.extend([first.start(), second.start()])
    events = synthetic_stream(models=8, per_model=50)
    produce(kafka_bootstrap, names.predictions,
            [(e["model_id"].encode(), encode(e)) for e in events if e["type"] == "prediction"])
    produce(kafka_bootstrap, names.labels,
            [(e["model_id"].encode(), encode(e)) for e in events if e["type"] == "label"])

    deadline = time.monotonic() + HANG_S
    owned: list[float | None] = [None, None]
    while time.monotonic() < deadline:
        first.assert_alive()
        second.assert_alive()
        try:
            owned = [s.metric("driftline_consumer_assigned_partitions") for s in (first, second)]
        except OSError:
            owned = [None, None]
        if all(owned) and sum(o or 0 for o in owned) == 4:
            break
        time.sleep(0.5)
    assert all(owned) and sum(o or 0 for o in owned) == 4, (owned, first.tail(), second.tail())
    wait_committed(kafka_bootstrap, group, names.predictions, HANG_S, [first, second])
    wait_committed(kafka_bootstrap, group, names.labels, HANG_S, [first, second])
    first.assert_alive()
    second.assert_alive()

    ids = [re.findall(r"transactional\.id (\S+)", s.log_text()) for s in (first, second)]
    assert all(len(found) == 1 for found in ids), ids
    assert ids[0] != ids[1]
    assert {ids[0][0].rsplit("-", 1)[1], ids[1][0].rsplit("-", 1)[1]} == {"0", "1"}
    assert "fenced" not in first.log_text() + second.log_text()
    assert first.terminate() == 0 and second.terminate() == 0
