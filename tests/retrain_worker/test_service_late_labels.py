"""The loop on real traffic with late labels, every part real: simulated predictions and labels
(labels 60 s of event time late) through ``driftline consume`` into drift events, and
``driftline retrain-worker`` deferring the retrain until the new regime's labels arrive, then
training on them only."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from confluent_kafka import Producer

from consumer.config import TopicLayout, TopicNames
from consumer.topics import create_topics
from driftline.dev.demo import stack_config
from driftline.dev.services import ServiceProcess
from driftline.dev.simulator import Drift, Scenario, simulate
from tests.hang import HANG_S
from tests.retrain_worker.worker_harness import read_retrain

pytestmark = pytest.mark.kafka

RATE = 50.0
DRIFT_AT = 2000
DELAY_MS = 60_000  # 3,000 predictions at 50/s
RETURN_AT = 5500


def _produce(bootstrap: str, names: TopicNames, events: list) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for event in events:
        topic = names.predictions if event.type == "prediction" else names.labels
        producer.produce(topic, key=event.model_id, value=event.model_dump_json())
        producer.poll(0)
    assert producer.flush(30) == 0


@pytest.mark.parametrize("kind", ["sudden", "gradual", "recurrent"])
def test_drift_with_late_labels_is_deferred_then_trained_on_the_new_regime(
    kafka_bootstrap: str, tmp_path: Path, kind: str
) -> None:
    config = stack_config(kafka_bootstrap, f"late-{kind}-{tmp_path.name[-8:]}", tmp_path)
    config["worker"]["policy"].update(
        {"deferral": {"recheck_s": 1.0}, "follow_up": {"short_window": 0},
         "min_new_samples": 0})
    path = tmp_path / "driftline.yaml"
    path.write_text(yaml.safe_dump(config))
    names = TopicNames(**config["topics"])
    create_topics({"bootstrap.servers": kafka_bootstrap}, names, TopicLayout(partitions=1))
    scenario = Scenario(models=("m",), samples=6000, rate=RATE, label_delay_ms=DELAY_MS,
                        label_noise=0.05,
                        drifts=(Drift(kind, start=DRIFT_AT, width=400 if kind == "gradual"
                                      else RETURN_AT - DRIFT_AT, concept_rotation=90),))
    events = list(simulate(scenario, seed=3))

    def until(i: int) -> list:  # every event up to the label of prediction i
        cut = scenario.timestamp_ms(i) + DELAY_MS
        return [e for e in events if int(e.timestamp.timestamp() * 1000) <= cut]

    first = until(DRIFT_AT + 300)
    # the rest (recurrent: until the old concept's return at 5,500, which needs its own retrain)
    rest = (until(RETURN_AT - 100) if kind == "recurrent" else events)[len(first):]
    consumer = ServiceProcess("consume", path, tmp_path / "consumer.log").start()
    worker = ServiceProcess("retrain-worker", path, tmp_path / "worker.log").start()
    try:
        _produce(kafka_bootstrap, names, first)
        [deferred] = read_retrain(kafka_bootstrap, names.retrain, until=1, timeout_s=HANG_S)
        assert deferred.status == "deferred", (deferred, worker.tail())
        _produce(kafka_bootstrap, names, rest)  # the late labels of the new regime arrive
        got = read_retrain(kafka_bootstrap, names.retrain, until=2, timeout_s=HANG_S)
        assert [e.status for e in got[:2]] == ["deferred", "promoted"], worker.tail()
        promoted = got[1]
        assert set(deferred.triggers) <= set(promoted.triggers)
        assert promoted.training is not None and promoted.evaluation is not None
        drift_time = datetime.fromtimestamp(scenario.timestamp_ms(DRIFT_AT) / 1000, UTC)
        assert promoted.training.start is not None and promoted.training.start >= drift_time
        if kind == "recurrent":
            back = datetime.fromtimestamp(scenario.timestamp_ms(RETURN_AT) / 1000, UTC)
            assert promoted.training.end is not None and promoted.training.end < back
        # before the drift the served model erred on the label noise (5%); the retrained one
        # is back within 0.03 of that on the new regime, where the old one is at chance
        assert promoted.evaluation.challenger["accuracy"] >= 0.95 - 0.03, promoted.evaluation
        assert promoted.evaluation.champion["accuracy"] < 0.7
    finally:
        worker.stop(30)
        consumer.stop(30)
