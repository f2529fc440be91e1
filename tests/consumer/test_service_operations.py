"""Against the real broker: start-up checks, broker loss, fencing, abort-and-rewind, metrics."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from consumer.config import ConsumerServiceConfig, TopicLayout, TopicNames
from consumer.exceptions import AbortableTransactionError
from consumer.service import ConsumerService
from consumer.topics import create_topics
from consumer.transactions import Transactor
from tests.conftest import unique_topic_names
from tests.consumer.helpers import (
    ConsumerProcess,
    ServiceProcess,
    canonical,
    encode,
    free_port,
    oracle,
    produce,
    synthetic_stream,
    topic_values,
    wait_committed,
)
from tests.hang import HANG_S

pytestmark = pytest.mark.kafka


def _wait_exit(service: ServiceProcess, timeout_s: float) -> int:
    assert service.proc is not None
    return service.proc.wait(timeout_s)


def test_input_topics_not_copartitioned_is_a_clear_error(
    kafka_bootstrap: str, kafka_conf: dict[str, str], tmp_path: Path,
    services: list[ServiceProcess],
) -> None:
    names = unique_topic_names("copart")
    create_topics(kafka_conf, names.model_copy(update={"labels": names.predictions}),
                  TopicLayout(partitions=2))
    admin = AdminClient(kafka_conf)
    for future in admin.create_topics([NewTopic(names.labels, 3, 1)]).values():
        future.result()
    time.sleep(1.0)
    service = ConsumerProcess(tmp_path, kafka_bootstrap, names, group="g", instance="a")
    services.append(service.start())
    assert _wait_exit(service, HANG_S) == 2
    assert "not co-partitioned" in service.log_text()
    assert f"{names.predictions}=2, {names.labels}=3" in service.log_text()


def test_unreachable_broker_reports_unhealthy_then_exits_non_zero(
    tmp_path: Path, services: list[ServiceProcess],
) -> None:
    service = ConsumerProcess(tmp_path, f"127.0.0.1:{free_port()}", unique_topic_names("gone"),
                             group="g", instance="a", consumer={"broker_timeout_s": 8})
    services.append(service.start())
    deadline = time.monotonic() + HANG_S
    status = None
    while service.poll() is None and time.monotonic() < deadline:
        try:
            status = service.get("/healthz")[0]
            if status == 503:
                break
        except OSError:
            pass
        time.sleep(0.1)
    assert status == 503, service.tail()
    assert _wait_exit(service, HANG_S) == 3, service.tail()
    assert "no broker reachable" in service.log_text()


def test_a_second_instance_with_the_same_id_fences_the_first(
    kafka_bootstrap: str, one_input_topics: Callable[[int], TopicNames], tmp_path: Path,
    services: list[ServiceProcess],
) -> None:
    """Two processes with one ``instance_id`` (so one ``transactional.id``): the newer fences the
    older, which exits 6 with a clear line the next time it commits; output stays exactly-once."""
    topics = one_input_topics(2)
    group = f"g-{uuid.uuid4().hex[:8]}"
    first = ConsumerProcess(tmp_path, kafka_bootstrap, topics, group=group, instance="same")
    services.append(first.start())
    first.wait_ready()
    (tmp_path / "second").mkdir()
    second = ConsumerProcess(tmp_path / "second", kafka_bootstrap, topics, group=group,
                            instance="same")
    services.append(second.start())
    second.wait_ready()
    events = synthetic_stream(models=2, per_model=300)
    for partition in (0, 1):  # whichever partition the first owns, it gets records
        produce(kafka_bootstrap, topics.predictions,
                ((e["model_id"].encode(), encode(e)) for e in events), partition=partition)
    assert _wait_exit(first, HANG_S) == 6, first.tail()
    assert "fatal:" in first.log_text() and "fenced" in first.log_text()
    wait_committed(kafka_bootstrap, group, topics.predictions, procs=[second])
    assert second.terminate() == 0
    expected_drift, expected_labelled = oracle(kafka_bootstrap, topics.predictions)
    assert canonical(topic_values(kafka_bootstrap, topics.drift)) == expected_drift
    assert canonical(topic_values(kafka_bootstrap, topics.labelled)) == expected_labelled


def test_model_on_two_partitions_is_counted_and_logged(
    kafka_bootstrap: str, one_input_topics: Callable[[int], TopicNames], tmp_path: Path,
    services: list[ServiceProcess],
) -> None:
    topics = one_input_topics(2)
    events = synthetic_stream(models=1, per_model=20)
    for partition in (0, 1):
        produce(kafka_bootstrap, topics.predictions,
                ((b"model-0", encode({**e, "prediction_id": f"{e['prediction_id']}-{partition}"}))
                 for e in events), partition=partition)
    group = f"g-{uuid.uuid4().hex[:8]}"
    service = ConsumerProcess(tmp_path, kafka_bootstrap, topics, group=group, instance="a")
    services.append(service.start())
    service.wait_ready()
    wait_committed(kafka_bootstrap, group, topics.predictions, procs=[service])
    assert service.metric("driftline_consumer_model_partition_conflicts_total",
                          {"model_id": "model-0"}) == 1
    assert service.metric("driftline_consumer_events_consumed_total",
                          {"type": "prediction", "model_id": "model-0"}) == 40
    assert service.metric("driftline_consumer_batch_duration_seconds_count") >= 1
    assert service.get("/readyz")[0] == 200
    assert service.terminate() == 0
    assert "seen on partition" in service.log_text()


def test_abortable_commit_rewinds_and_output_stays_exactly_once(
    kafka_bootstrap: str, one_input_topics: Callable[[int], TopicNames],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """In process: every third commit fails as abortable; the service aborts, rewinds to the
    committed offsets, reloads state, and the outputs still equal the oracle."""
    topics = one_input_topics(1)
    events = synthetic_stream(models=3, per_model=1500, seed=9)
    calls = {"n": 0, "aborted": 0}
    real_commit = Transactor.commit

    def flaky_commit(self: Transactor, deadline: float) -> None:
        calls["n"] += 1
        if calls["n"] % 3 == 0:
            calls["aborted"] += 1
            raise AbortableTransactionError("injected: commit_transaction failed")
        real_commit(self, deadline)

    monkeypatch.setattr(Transactor, "commit", flaky_commit)
    config = ConsumerServiceConfig.model_validate({
        "kafka": {"bootstrap.servers": kafka_bootstrap}, "topics": topics.model_dump(),
        "consumer": {"group_id": f"g-{uuid.uuid4().hex[:8]}", "instance_id": "inproc",
                     "metrics_port": 0, "commit_interval_ms": 50, "batch_size": 300,
                     "snapshot_interval_ms": 500},
    })
    service = ConsumerService(config, install_signal_handlers=False)
    result: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: result.update(code=service.run()), daemon=True)
    thread.start()
    produce(kafka_bootstrap, topics.predictions,
            ((e["model_id"].encode(), encode(e)) for e in events))
    wait_committed(kafka_bootstrap, config.consumer.group_id, topics.predictions)
    service.stop()
    thread.join(30)
    aborted = service.metrics.registry.get_sample_value(
        "driftline_consumer_transactions_total", {"outcome": "aborted"})
    assert result.get("code") == 0
    assert calls["aborted"] >= 2 and aborted == calls["aborted"]
    expected_drift, expected_labelled = oracle(kafka_bootstrap, topics.predictions)
    drift = topic_values(kafka_bootstrap, topics.drift)
    assert all(n == 1 for n in Counter(e["event_id"] for e in drift).values())
    assert canonical(drift) == expected_drift
    assert canonical(topic_values(kafka_bootstrap, topics.labelled)) == expected_labelled


def test_lag_of_a_partition_that_stopped_fetching_keeps_growing(
    kafka_bootstrap: str, one_input_topics: Callable[[int], TopicNames],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The lag gauge is read from the broker every ``LAG_QUERY_INTERVAL_S``, not only from fetch
    responses: a partition stuck in the client (here paused by hand, as librdkafka left one
    after a lost ``resume``) shows its real lag, so ``DriftlineConsumerLagHigh`` can fire."""
    import consumer.gauges as gauges_module

    monkeypatch.setattr(gauges_module, "LAG_QUERY_INTERVAL_S", 0.5)
    topics = one_input_topics(1)
    events = synthetic_stream(models=1, per_model=300, seed=3)
    config = ConsumerServiceConfig.model_validate({
        "kafka": {"bootstrap.servers": kafka_bootstrap}, "topics": topics.model_dump(),
        "consumer": {"group_id": f"g-{uuid.uuid4().hex[:8]}", "instance_id": "inproc",
                     "metrics_port": 0, "commit_interval_ms": 100},
    })
    stall = threading.Event()

    class StallingService(ConsumerService):
        """Pauses its partitions, once asked, from its own loop (the client is not called
        from two threads)."""

        def _check_broker(self, received: bool) -> None:
            if stall.is_set() and self._consumer is not None and self._consumer.assignment():
                self._consumer.pause(self._consumer.assignment())
                stall.clear()
            super()._check_broker(received)

    service = StallingService(config, install_signal_handlers=False)
    result: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: result.update(code=service.run()), daemon=True)
    thread.start()
    records = [(e["model_id"].encode(), encode(e)) for e in events]
    produce(kafka_bootstrap, topics.predictions, records[:100])
    wait_committed(kafka_bootstrap, config.consumer.group_id, topics.predictions)
    stall.set()
    while stall.is_set():
        time.sleep(0.05)
    produce(kafka_bootstrap, topics.predictions, records[100:])

    def lag() -> float | None:
        return service.metrics.registry.get_sample_value(
            "driftline_consumer_lag_records", {"topic": topics.predictions, "partition": "0"})

    behind = float(len(records) - 100)
    deadline = time.monotonic() + HANG_S
    while lag() != behind and time.monotonic() < deadline:
        time.sleep(0.1)
    seen = lag()
    service.stop()
    thread.join(30)
    assert seen == behind, f"lag gauge {seen}, {behind:.0f} records behind"
    assert result.get("code") == 0
