"""Late labels against the real broker, the worker as a real process: a drift whose post-change
labels are not there yet is ``deferred`` (once), trained on post-change data when they arrive,
survives kill -9 while it waits, and gives up with ``skipped`` after its deadline."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from consumer.config import TopicLayout, TopicNames
from consumer.topics import create_topics
from detectors.contracts import ChangePoint, DriftEvent
from driftline.dev.services import ServiceProcess, free_port
from retrain_worker.contracts import RetrainEvent
from tests.conftest import unique_topic_names
from tests.hang import HANG_S
from tests.retrain_worker.retrain_helpers import make_records
from tests.retrain_worker.worker_harness import (
    drift_event,
    produce,
    produce_labelled,
    read_retrain,
    worker_process,
    write_config,
)

pytestmark = pytest.mark.kafka


def _setup(tmp: Path, bootstrap: str, models: list[str], policy: dict[str, Any]
           ) -> tuple[TopicNames, ServiceProcess, datetime]:
    """Topics with 1,000 old-concept labelled records per model before the change point."""
    topics = unique_topic_names("rwd")
    create_topics({"bootstrap.servers": bootstrap}, topics, TopicLayout(partitions=2))
    change = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=120)
    for i, model in enumerate(models):
        produce_labelled(bootstrap, topics.labelled, make_records(
            1000, model_id=model, seed=i, start=change - timedelta(seconds=1000),
            logged_accuracy=0.97))
    port = free_port()
    config = write_config(tmp / "driftline.yaml", bootstrap, topics, {
        "registry_root": str(tmp / "registry"), "metrics_port": port,
        "transactional_id": f"rwd-{topics.drift}",
        "policy": {"episode_window_s": 0.5, "min_new_samples": 0,
                   "checks": {"min_samples": 200},
                   "follow_up": {"short_window": 0}, **policy},
    })
    return topics, worker_process(config, tmp / "worker.log", port), change


def _drift_with_change_point(model: str, change: datetime) -> DriftEvent:
    event = drift_event(model, 7)
    return event.model_copy(update={"change_point": ChangePoint(
        at=change, samples=24, estimator="ddm_warning")})


def _post_change(model: str, change: datetime, n: int, seed: int, offset_s: int = 0) -> Any:
    """Labelled records of the new (flipped) concept, predicted after the change."""
    return make_records(n, model_id=model, seed=seed, flip=True,
                        start=change + timedelta(seconds=offset_s), logged_accuracy=0.5)


def _statuses(events: list[RetrainEvent], model: str) -> list[str]:
    return [e.status for e in events if e.model_id == model]


def test_late_labels_deferred_then_trained_on_post_change_data_then_promoted(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    topics, worker, change = _setup(tmp_path, kafka_bootstrap, ["m-late"],
                                    {"deferral": {"recheck_s": 1, "deadline_s": 3600}})
    worker.start().wait_metric("driftline_retrain_rebalances_total", at_least=1)
    try:
        late = _drift_with_change_point("m-late", change)
        produce(kafka_bootstrap, topics.drift, [("m-late", late.model_dump_json().encode())])
        [deferred] = read_retrain(kafka_bootstrap, topics.retrain, until=1, timeout_s=HANG_S)
        assert deferred.status == "deferred" and deferred.triggers == [late.event_id]
        assert "min_samples: 0 < 200" in deferred.reason and "since the change point" in deferred.reason

        # the labels of the new regime trickle in, late: not enough yet, no second notice
        produce_labelled(kafka_bootstrap, topics.labelled, _post_change("m-late", change, 120, 5))
        time.sleep(4)
        assert _statuses(read_retrain(kafka_bootstrap, topics.retrain, until=1, timeout_s=5),
                         "m-late") == ["deferred"], worker.tail()
        produce_labelled(kafka_bootstrap, topics.labelled,
                         _post_change("m-late", change, 380, 6, offset_s=120))
        events = read_retrain(kafka_bootstrap, topics.retrain, until=2, timeout_s=HANG_S, settle_s=3)
        assert _statuses(events, "m-late") == ["deferred", "promoted"], worker.tail()
        promoted = events[-1]
        assert promoted.triggers == [late.event_id]
        assert promoted.training is not None and promoted.evaluation is not None
        assert promoted.training.change_point == change
        assert promoted.training.start is not None and promoted.training.start >= change
        assert promoted.training.sample_count == 500  # only post-change records
        # pre-drift, the served model was right 97% of the time; the retrained one is back there
        assert promoted.evaluation.challenger["accuracy"] >= 0.97 - 0.03
        assert promoted.evaluation.champion["accuracy"] < 0.7  # the old model on the new concept
    finally:
        assert worker.stop() == 0, worker.tail()


def test_deadline_passed_gives_skipped_with_the_reason(kafka_bootstrap: str,
                                                       tmp_path: Path) -> None:
    topics, worker, change = _setup(tmp_path, kafka_bootstrap, ["m-deadline"],
                                    {"deferral": {"recheck_s": 1, "deadline_s": 4}})
    worker.start().wait_metric("driftline_retrain_rebalances_total", at_least=1)
    try:
        event = _drift_with_change_point("m-deadline", change)
        produce(kafka_bootstrap, topics.drift, [("m-deadline", event.model_dump_json().encode())])
        events = read_retrain(kafka_bootstrap, topics.retrain, until=2, timeout_s=HANG_S, settle_s=3)
        assert [e.status for e in events] == ["deferred", "skipped"], worker.tail()
        assert "min_samples: 0 < 200" in events[1].reason
        assert events[1].triggers == [event.event_id]
    finally:
        assert worker.stop() == 0, worker.tail()


def test_kill_9_while_deferred_then_restart_retrains_once(kafka_bootstrap: str,
                                                          tmp_path: Path) -> None:
    topics, worker, change = _setup(tmp_path, kafka_bootstrap, ["m-kill"],
                                    {"deferral": {"recheck_s": 1, "deadline_s": 3600}})
    worker.start().wait_metric("driftline_retrain_rebalances_total", at_least=1)
    event = _drift_with_change_point("m-kill", change)
    produce(kafka_bootstrap, topics.drift, [("m-kill", event.model_dump_json().encode())])
    [deferred] = read_retrain(kafka_bootstrap, topics.retrain, until=1, timeout_s=HANG_S)
    assert deferred.status == "deferred"
    time.sleep(2)  # a commit interval or two: the held trigger's offset must not be committed
    worker.kill()
    produce_labelled(kafka_bootstrap, topics.labelled, _post_change("m-kill", change, 500, 7))
    worker.start()
    try:
        events = read_retrain(kafka_bootstrap, topics.retrain, until=2, timeout_s=HANG_S, settle_s=8)
        assert [(e.status, e.triggers) for e in events] == [
            ("deferred", [event.event_id]), ("promoted", [event.event_id])], worker.tail()
        assert events[1].training is not None and events[1].training.sample_count == 500
    finally:
        assert worker.stop() == 0, worker.tail()


def test_the_wait_moves_with_a_rebalance(kafka_bootstrap: str, tmp_path: Path) -> None:
    """Worker A defers, worker B joins, A stops: B resumes the wait (no second notice) and
    trains once the labels are there."""
    topics, first, change = _setup(tmp_path, kafka_bootstrap, ["m-move"],
                                   {"deferral": {"recheck_s": 1, "deadline_s": 3600}})
    config = yaml.safe_load(first.config_path.read_text())
    config["worker"]["transactional_id"] += "-b"
    config["worker"]["metrics_port"] = free_port()
    other = tmp_path / "b.yaml"
    other.write_text(yaml.safe_dump(config))
    second = worker_process(other, tmp_path / "worker-b.log", config["worker"]["metrics_port"])
    first.start().wait_metric("driftline_retrain_rebalances_total", at_least=1)
    try:
        event = _drift_with_change_point("m-move", change)
        produce(kafka_bootstrap, topics.drift, [("m-move", event.model_dump_json().encode())])
        [deferred] = read_retrain(kafka_bootstrap, topics.retrain, until=1, timeout_s=HANG_S)
        assert deferred.status == "deferred"
        second.start().wait_metric("driftline_retrain_rebalances_total", at_least=1)
        assert first.stop() == 0, first.tail()  # B owns every partition now
        produce_labelled(kafka_bootstrap, topics.labelled, _post_change("m-move", change, 400, 8))
        events = read_retrain(kafka_bootstrap, topics.retrain, until=2, timeout_s=HANG_S, settle_s=5)
        assert [(e.status, e.triggers) for e in events] == [
            ("deferred", [event.event_id]), ("promoted", [event.event_id])], second.tail()
        assert "still waits" in second.log_text() or "training m-move" in second.log_text()
    finally:
        first.stop()
        assert second.stop() == 0, second.tail()
