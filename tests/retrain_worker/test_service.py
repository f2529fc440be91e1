"""The retrain worker against the real broker, as a real process (``driftline retrain-worker``).

One worker serves most scenarios, one model id each; kill -9 and the long training get their own.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from consumer.config import TopicLayout, TopicNames
from consumer.topics import create_topics
from driftline.dev.services import ServiceProcess, free_port
from retrain_worker.registry import FileRegistry
from tests.conftest import unique_topic_names
from tests.hang import HANG_S
from tests.retrain_worker.retrain_helpers import make_records
from tests.retrain_worker.worker_harness import (
    drift_event,
    produce,
    produce_labelled,
    read_retrain,
    wait_for_models,
    worker_process,
    write_config,
)

pytestmark = pytest.mark.kafka

GOOD = ["m-e2e", "m-burst", "m-ondemand", "m-alive"]


@pytest.fixture(scope="module")
def shared(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("worker")
    topics = unique_topic_names("rw")
    create_topics({"bootstrap.servers": kafka_bootstrap}, topics, TopicLayout(partitions=2))
    records = []
    for i, model in enumerate([*GOOD, "m-raise", "m-hang", "m-garbage", "m-interval"]):
        records += make_records(400, model_id=model, seed=i, logged_accuracy=0.6)
    records += make_records(50, model_id="m-small")
    records += make_records(400, model_id="m-oneclass", one_class=True)
    produce_labelled(kafka_bootstrap, topics.labelled, records)
    port = free_port()
    config = write_config(tmp / "driftline.yaml", kafka_bootstrap, topics, {
        "registry_root": str(tmp / "registry"),
        "metrics_port": port,
        "max_concurrent": 3,
        "transactional_id": f"rw-{topics.drift}",
        # the records predate these synthetic drift events: train on the last N (mixed window)
        "policy": {"episode_window_s": 2, "min_new_samples": 0,
                   "checks": {"min_samples": 200}, "window": {"mode": "last_n"}},
        "models": {
            "m-raise": {"trainer": "bad_trainers:raises"},
            "m-hang": {"trainer": "bad_trainers:hangs", "trainer_timeout_s": 3},
            "m-garbage": {"trainer": "bad_trainers:garbage"},
            "m-interval": {"interval_s": 3600},
            # no waiting for more labels (deferral: tests/retrain_worker/test_deferral_kafka.py)
            "m-small": {"deferral": {"enabled": False}},
            "m-oneclass": {"deferral": {"enabled": False}},
        },
    })
    worker = worker_process(config, tmp / "worker.log", port).start()
    worker.wait_metric("driftline_retrain_rebalances_total", at_least=1, timeout_s=HANG_S)
    yield {"topics": topics, "worker": worker, "config": config, "registry": tmp / "registry",
           "bootstrap": kafka_bootstrap}
    assert worker.stop() == 0, worker.tail()


def test_drift_event_in_promoted_out_artifact_in_registry(shared: dict[str, Any]) -> None:
    topics: TopicNames = shared["topics"]
    event = drift_event("m-e2e", 1)
    produce(shared["bootstrap"], topics.drift, [("m-e2e", event.model_dump_json().encode())])
    got = wait_for_models(shared["bootstrap"], topics.retrain, ["m-e2e"])["m-e2e"]
    assert len(got) == 1, shared["worker"].tail()
    retrain = got[0]
    assert retrain.status == "promoted", retrain.reason
    assert retrain.triggers == [event.event_id] and retrain.previous_version == "v1"
    assert retrain.evaluation and retrain.evaluation.challenger["accuracy"] > 0.9
    assert retrain.artifact_uri and retrain.new_version
    registry = FileRegistry(shared["registry"])
    assert registry.local_path(retrain.artifact_uri).exists()
    champion = registry.champion("m-e2e")
    assert champion is not None and champion.version == retrain.new_version


def test_burst_of_duplicate_and_same_episode_drift_gives_one_retrain(shared: dict[str, Any]) -> None:
    topics: TopicNames = shared["topics"]
    events = [drift_event("m-burst", i) for i in range(3)]
    warning = drift_event("m-burst", 99, severity="warning")
    burst = [events[i % 3] for i in range(12)] + [warning]
    produce(shared["bootstrap"], topics.drift,
            [("m-burst", e.model_dump_json().encode()) for e in burst])
    mine = wait_for_models(shared["bootstrap"], topics.retrain, ["m-burst"], settle_s=5)["m-burst"]
    assert len(mine) == 1, [e.status for e in mine]
    assert sorted(mine[0].triggers) == sorted(e.event_id for e in events)


def test_bad_trainers_fail_cleanly_and_worker_stays_alive(shared: dict[str, Any]) -> None:
    topics: TopicNames = shared["topics"]
    models = ["m-raise", "m-hang", "m-garbage"]
    produce(shared["bootstrap"], topics.drift,
            [(m, drift_event(m, 1).model_dump_json().encode()) for m in models])
    got = wait_for_models(shared["bootstrap"], topics.retrain, models, timeout_s=HANG_S)
    for model, cause in zip(models, ["trainer_crash", "timeout", "bad_output"], strict=True):
        assert [e.status for e in got[model]] == ["failed"], model
        assert got[model][0].reason.startswith(cause), got[model][0].reason
    shared["worker"].assert_alive()
    produce(shared["bootstrap"], topics.drift,
            [("m-alive", drift_event("m-alive", 1).model_dump_json().encode())])
    alive = wait_for_models(shared["bootstrap"], topics.retrain, ["m-alive"])["m-alive"]
    assert [e.status for e in alive] == ["promoted"]


def test_too_little_data_or_one_class_is_skipped_with_reason(shared: dict[str, Any]) -> None:
    topics: TopicNames = shared["topics"]
    produce(shared["bootstrap"], topics.drift,
            [(m, drift_event(m, 1).model_dump_json().encode()) for m in ("m-small", "m-oneclass")])
    got = wait_for_models(shared["bootstrap"], topics.retrain, ["m-small", "m-oneclass"])
    small, one = got["m-small"], got["m-oneclass"]
    assert [e.status for e in small] == ["skipped"] and "min_samples: 50 < 200" in small[0].reason
    assert [e.status for e in one] == ["skipped"] and "class_balance: 1 class" in one[0].reason
    assert one[0].training and "class_balance" in one[0].training.checks_failed[0]


def test_on_demand_and_interval_triggers_each_retrain(shared: dict[str, Any]) -> None:
    topics: TopicNames = shared["topics"]
    out = subprocess.run(
        [sys.executable, "-m", "driftline", "trigger", "--config", str(shared["config"]), "--model", "m-ondemand",
         "--reason", "test asks", "--trigger-id", "tr-test-1"],
        capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    got = wait_for_models(shared["bootstrap"], topics.retrain, ["m-ondemand", "m-interval"])
    demand, interval = got["m-ondemand"], got["m-interval"]
    assert [(e.status, e.triggers) for e in demand] == [("promoted", ["tr-test-1"])]
    assert len(interval) == 1 and interval[0].triggers[0].startswith("schedule:m-interval:3600:")
    assert interval[0].status == "promoted"


def _single_model_worker(tmp: Path, bootstrap: str, model: str, sleep_s: float,
                         consumer: dict[str, Any]) -> tuple[TopicNames, ServiceProcess]:
    topics = unique_topic_names("rwk")
    create_topics({"bootstrap.servers": bootstrap}, topics, TopicLayout(partitions=1))
    produce_labelled(bootstrap, topics.labelled, make_records(400, model_id=model))
    port = free_port()
    config = write_config(tmp / "driftline.yaml", bootstrap, topics, {
        "registry_root": str(tmp / "registry"), "metrics_port": port,
        "transactional_id": f"rwk-{topics.drift}",
        "consumer": {"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000, **consumer},
        "policy": {"episode_window_s": 0.5, "min_new_samples": 0, "checks": {"min_samples": 200},
                   "window": {"mode": "last_n"},
                   "trainer": "bad_trainers:slow", "trainer_params": {"sleep_s": sleep_s}},
    })
    return topics, worker_process(config, tmp / "worker.log", port)


def test_kill_9_mid_training_then_restart_gives_exactly_one_retrain(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    topics, worker = _single_model_worker(tmp_path, kafka_bootstrap, "m-kill", 6, {})
    worker.start().wait_metric("driftline_retrain_rebalances_total", at_least=1)
    event = drift_event("m-kill", 1)
    produce(kafka_bootstrap, topics.drift, [("m-kill", event.model_dump_json().encode())])
    worker.wait_metric("driftline_retrain_in_flight", at_least=1, timeout_s=HANG_S)
    time.sleep(1)
    worker.kill()
    assert read_retrain(kafka_bootstrap, topics.retrain, until=1, timeout_s=2) == []
    worker.start()
    try:
        events = read_retrain(kafka_bootstrap, topics.retrain, until=1, timeout_s=HANG_S, settle_s=8)
        assert [(e.status, e.triggers) for e in events] == [("promoted", [event.event_id])], (
            worker.tail())
    finally:
        assert worker.stop() == 0


def test_training_longer_than_max_poll_interval_keeps_the_group(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    topics, worker = _single_model_worker(
        tmp_path, kafka_bootstrap, "m-long", 10, {"max.poll.interval.ms": 6000})
    worker.start().wait_metric("driftline_retrain_rebalances_total", at_least=1)
    produce(kafka_bootstrap, topics.drift,
            [("m-long", drift_event("m-long", 1).model_dump_json().encode())])
    try:
        events = read_retrain(kafka_bootstrap, topics.retrain, until=1, timeout_s=HANG_S)
        assert [e.status for e in events] == ["promoted"], worker.tail()
        assert events[0].duration_s > 6
        assert worker.metric("driftline_retrain_rebalances_total") == 1  # the first assign only
    finally:
        assert worker.stop() == 0
