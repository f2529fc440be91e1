"""Against a broker of its own: the broker dies mid-run, comes back, dies for good."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from consumer.config import TopicLayout
from consumer.topics import create_topics
from driftline.dev.local_broker import LocalKafka
from tests.conftest import unique_topic_names
from tests.consumer.helpers import (
    ConsumerProcess,
    ServiceProcess,
    canonical,
    committed,
    encode,
    end_offsets,
    oracle,
    produce,
    synthetic_stream,
    topic_values,
    wait_committed,
)
from tests.hang import HANG_S

pytestmark = pytest.mark.kafka


def _wait_health(service: ServiceProcess, status: int, timeout_s: float) -> float:
    began = time.monotonic()
    while time.monotonic() - began < timeout_s:
        assert service.poll() is None, service.tail()
        try:
            if service.get("/healthz")[0] == status:
                return time.monotonic() - began
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"/healthz never answered {status}:\n{service.tail()}")


def test_broker_loss_unhealthy_recovery_then_exit(
    tmp_path: Path, services: list[ServiceProcess],
) -> None:
    broker = LocalKafka(directory=tmp_path / "kafka")
    bootstrap = broker.start()
    try:
        names = unique_topic_names("loss")
        names = names.model_copy(update={"labels": names.predictions})
        create_topics({"bootstrap.servers": bootstrap}, names, TopicLayout(partitions=1))
        events = synthetic_stream(models=2, per_model=300)
        half = len(events) // 2
        produce(bootstrap, names.predictions,
                ((e["model_id"].encode(), encode(e)) for e in events[:half]))
        group = f"g-{uuid.uuid4().hex[:8]}"
        service = ConsumerProcess(tmp_path, bootstrap, names, group=group, instance="a",
                                 # longer than a broker restart takes on a loaded machine
                                 consumer={"broker_timeout_s": 90, "shutdown_timeout_s": 5,
                                           "revoke_timeout_s": 8})
        services.append(service.start())
        service.wait_ready()
        wait_committed(bootstrap, group, names.predictions, HANG_S, [service])

        broker.kill(1)  # down: unhealthy, still running
        _wait_health(service, 503, HANG_S)
        broker.restart(1)  # back within broker_timeout_s: healthy again, work goes on
        _wait_health(service, 200, HANG_S)
        produce(bootstrap, names.predictions,
                ((e["model_id"].encode(), encode(e)) for e in events[half:]))
        # librdkafka's send_offsets_to_transaction can hang after a coordinator outage
        # (#5456): the guard then exits 7 and, as under a supervisor, a restart finishes.
        assert service.proc is not None
        ends = end_offsets(bootstrap, names.predictions)
        deadline = time.monotonic() + HANG_S
        restarted = False
        while committed(bootstrap, group, names.predictions, [0])[0] < ends[0]:
            assert time.monotonic() < deadline, service.tail()
            if service.poll() is not None:
                assert service.poll() == 7 and not restarted, service.tail()
                assert "librdkafka" in service.log_text()
                service.start()
                restarted = True
            time.sleep(0.2)
        expected_drift, expected_labelled = oracle(bootstrap, names.predictions)
        assert canonical(topic_values(bootstrap, names.drift)) == expected_drift
        assert canonical(topic_values(bootstrap, names.labelled)) == expected_labelled
        if restarted:
            service.wait_ready()

        broker.kill(1)  # gone for good: exit 3 after broker_timeout_s (+ close bound)
        assert service.proc is not None
        code = service.proc.wait(HANG_S)
        assert code == 3, service.tail()
        assert f"no broker reachable at {bootstrap} for" in service.log_text()
        assert "(consumer.broker_timeout_s=90)" in service.log_text()
    finally:
        broker.stop()
