"""Against the real broker: what a restore (:mod:`consumer.restore`) brings back before any event.

* Per-key gauges (rolling metrics, detector statistics, CBPE estimates) are on ``/metrics`` right
  after a restart, from the views the snapshots' heads kept, with the models' keys not decoded
  (no event came): ``DriftlineRollingMetricLow`` does not resolve across a restart.
* A restored model is not rewritten by the next checkpoint unless it changed: only the models
  that had events after the restore are written, and a kill -9 right after that checkpoint
  loses nothing (the state read back equals an uninterrupted run's, outputs exactly once).
* Likewise within a model: thousands of joined predictions (tombstones, kept a day) sit in
  segments of the label join on the state topic; a checkpoint writes only the segments that
  changed, and a kill -9 right after it loses nothing either.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from consumer.config import TopicNames
from consumer.state_store import StateStore
from detectors.contracts import Source
from detectors.join import SEGMENT_ENTRIES
from detectors.pipeline import Pipeline
from tests.consumer.helpers import (
    ConsumerProcess,
    ServiceProcess,
    canonical,
    committed,
    encode,
    oracle,
    produce,
    read_topic,
    synthetic_stream,
    topic_values,
    wait_committed,
)
from tests.hang import HANG_S

pytestmark = pytest.mark.kafka

#: The per-key gauges :meth:`consumer.metrics.Metrics.refresh_key_gauges` sets.
KEY_GAUGES = ("driftline_rolling_metric", "driftline_detector_statistic",
              "driftline_estimated_metric", "driftline_estimated_metric_gap")


def key_gauges(service: ServiceProcess) -> dict[tuple[Any, ...], float]:
    """Every per-key gauge sample on the service's ``/metrics``: (name, labels) → value."""
    from prometheus_client.parser import text_string_to_metric_families

    status, text = service.get("/metrics")
    assert status == 200
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples if s.name in KEY_GAUGES}


def settled_gauges(service: ServiceProcess) -> dict[tuple[Any, ...], float]:
    """The per-key gauges once two readings a refresh interval apart agree (all input done)."""
    deadline = time.monotonic() + HANG_S
    last: dict[tuple[Any, ...], float] = {}
    while True:
        service.assert_alive()
        now = key_gauges(service)
        if now and now == last:
            return now
        assert time.monotonic() < deadline, service.tail()
        last = now
        time.sleep(1.0)


def test_per_key_gauges_are_back_right_after_a_restart_before_any_event(
    kafka_bootstrap: str, one_input_topics: Callable[[int], TopicNames], tmp_path: Path,
    services: list[ServiceProcess],
) -> None:
    topics = one_input_topics(1)
    events = synthetic_stream(models=2, per_model=1500, seed=3)
    produce(kafka_bootstrap, topics.predictions,
            [(e["model_id"].encode(), encode(e)) for e in events])
    group = f"g-{uuid.uuid4().hex[:8]}"
    service = ConsumerProcess(tmp_path, kafka_bootstrap, topics, group=group, instance="a",
                             consumer={"model_gauges_interval_s": 0.5})
    services.append(service.start())
    service.wait_ready()
    wait_committed(kafka_bootstrap, group, topics.predictions, procs=[service])
    before = settled_gauges(service)
    names = Counter(name for name, _ in before)
    assert names["driftline_rolling_metric"] >= 2 * 4, names  # accuracy..f1 of both models
    assert names["driftline_detector_statistic"] > 0 and names["driftline_estimated_metric"] > 0
    assert service.terminate() == 0, service.tail()  # final checkpoint: every model written

    service.start()  # no input after the restart: no event decodes a model's keys
    service.wait_ready()
    # The tracked-keys gauge is set by the same refresh, right after the per-key gauges.
    service.wait_metric("driftline_consumer_tracked_keys", at_least=2, timeout_s=HANG_S)
    after = key_gauges(service)
    replayed = service.metric("driftline_consumer_replayed_records_total")
    consumed = service.metric("driftline_consumer_records_total",
                              {"partition": "0", "outcome": "consumed"})
    assert service.terminate() == 0, service.tail()
    assert "restored 2 model snapshots" in service.log_text()
    assert not replayed and not consumed  # nothing read since: the heads' views only
    assert after == before


def _state_records(bootstrap: str, topic: str) -> Counter[str]:
    return Counter((r.key or b"").decode() for r in read_topic(bootstrap, topic))


def _state_of(pipeline: Pipeline) -> tuple[Any, ...]:
    views = sorted(pipeline.key_views(), key=lambda v: (v.model_id, v.model_version))
    joins = {m: pipeline.join.export_model(m) for m in sorted(pipeline.model_ids())}
    return pipeline.watermark, sorted(pipeline.keys(), key=repr), views, repr(joins)


def _start(tmp_path: Path, bootstrap: str, topics: TopicNames, group: str,
           services: list[ServiceProcess]) -> ConsumerProcess:
    service = ConsumerProcess(tmp_path, bootstrap, topics, group=group, instance="a",
                              consumer={"snapshot_interval_ms": 0})  # checkpoint per commit
    services.append(service.start())
    service.wait_ready()
    return service


def _feed(bootstrap: str, topics: TopicNames, group: str, part: list[dict[str, Any]],
          service: ServiceProcess) -> None:
    produce(bootstrap, topics.predictions, [(e["model_id"].encode(), encode(e)) for e in part])
    wait_committed(bootstrap, group, topics.predictions, procs=[service])


def _restored_and_uninterrupted(bootstrap: str, topics: TopicNames, group: str
                                ) -> tuple[Pipeline, Pipeline]:
    """What a restore reads back from the state topic now (as the restorer does), and an
    uninterrupted run over the committed inputs."""
    at = committed(bootstrap, group, topics.predictions, [0])[0]
    store = StateStore({"bootstrap.servers": bootstrap}, topic=topics.state,
                       group_id=group, state_partitions=1)
    restored = store.restore(0)
    assert restored.checkpoint == {topics.predictions: at}
    from_topic = Pipeline()
    for model_id, snap in restored.models.items():
        from_topic.restore_model(model_id, snap.payload, segments=snap.segments)
    if restored.watermark is not None:
        from_topic.restore_watermark(restored.watermark)
    uninterrupted = Pipeline()
    for record in read_topic(bootstrap, topics.predictions):
        if record.offset < at:
            uninterrupted.process_raw(record.value or b"", Source(
                topic=record.topic, partition=record.partition, offset=record.offset))
    return from_topic, uninterrupted


def _exactly_once_as_uninterrupted(bootstrap: str, topics: TopicNames, at_least: int) -> None:
    expected_drift, expected_labelled = oracle(bootstrap, topics.predictions)
    drift = topic_values(bootstrap, topics.drift)
    assert all(n == 1 for n in Counter(e["event_id"] for e in drift).values()), "duplicates"
    assert canonical(drift) == expected_drift and len(expected_drift) >= at_least
    assert canonical(topic_values(bootstrap, topics.labelled)) == expected_labelled


def test_a_restored_model_without_events_is_not_rewritten_and_kill_9_after_loses_nothing(
    kafka_bootstrap: str, one_input_topics: Callable[[int], TopicNames], tmp_path: Path,
    services: list[ServiceProcess],
) -> None:
    topics = one_input_topics(1)
    events = synthetic_stream(models=3, per_model=1200, seed=9)
    head = events[: len(events) // 2]
    rest = events[len(events) // 2:]
    only_0 = [e for e in rest if e["model_id"] == "model-0"]  # after the restore: one model
    others = [e for e in rest if e["model_id"] != "model-0"]
    group = f"g-{uuid.uuid4().hex[:8]}"

    def start() -> ConsumerProcess:
        return _start(tmp_path, kafka_bootstrap, topics, group, services)

    def feed(part: list[dict[str, Any]], service: ServiceProcess) -> None:
        _feed(kafka_bootstrap, topics, group, part, service)

    first = start()
    feed(head, first)
    assert first.terminate() == 0, first.tail()
    written = _state_records(kafka_bootstrap, topics.state)
    assert {k.rsplit("/", 1)[1] for k in written} == {"", "model-0", "model-1", "model-2"}

    second = start()  # restores the three models
    feed(only_0, second)  # committed: the checkpoint of that commit is on the topic
    second.kill()
    rewritten = _state_records(kafka_bootstrap, topics.state) - written
    assert {k.rsplit("/", 1)[1] for k in rewritten} == {"", "model-0"}, rewritten

    # What a restore reads back now equals an uninterrupted run over the committed inputs.
    from_topic, uninterrupted = _restored_and_uninterrupted(kafka_bootstrap, topics, group)
    assert _state_of(from_topic) == _state_of(uninterrupted)

    third = start()
    feed(others, third)
    assert third.terminate() == 0, third.tail()
    _exactly_once_as_uninterrupted(kafka_bootstrap, topics, at_least=3)


def _join_of(pipeline: Pipeline) -> tuple[Any, ...]:
    join = pipeline.join
    join._order()
    return (pipeline.watermark, {m: join.export_model(m)["pending"]
                                 for m in sorted(join.export_models())},
            [(k, e.deadline, e.seq) for k, e in join._pending.items()], join.live_pending)


def test_a_kill_9_after_a_checkpoint_that_wrote_only_changed_join_segments_loses_nothing(
    kafka_bootstrap: str, one_input_topics: Callable[[int], TopicNames], tmp_path: Path,
    services: list[ServiceProcess],
) -> None:
    topics = one_input_topics(1)
    events = synthetic_stream(models=2, per_model=2400, seed=11)
    first_part = events[: len(events) * 2 // 3]
    rest = events[len(events) * 2 // 3:]
    few = [e for e in rest if e["model_id"] == "model-0"][:40]
    others = [e for e in rest if e not in few]
    group = f"g-{uuid.uuid4().hex[:8]}"

    first = _start(tmp_path, kafka_bootstrap, topics, group, services)
    _feed(kafka_bootstrap, topics, group, first_part, first)
    assert first.terminate() == 0, first.tail()
    written = _state_records(kafka_bootstrap, topics.state)
    # 1,600 predictions per model, all joined: tombstones in sealed segments of their own.
    assert len({k for k in written if "~" in k}) >= 2 * (1600 // SEGMENT_ENTRIES - 1), written

    second = _start(tmp_path, kafka_bootstrap, topics, group, services)  # heads and segments
    _feed(kafka_bootstrap, topics, group, few, second)  # its checkpoint is on the topic
    second.kill()
    rewritten = _state_records(kafka_bootstrap, topics.state) - written
    assert {k.rsplit("/", 1)[1] for k in rewritten} == {"", "model-0"}, rewritten
    assert len([k for k in rewritten if "~" in k]) <= 2, rewritten  # not all its segments

    from_topic, uninterrupted = _restored_and_uninterrupted(kafka_bootstrap, topics, group)
    assert _join_of(from_topic) == _join_of(uninterrupted)
    assert len(uninterrupted.join._pending) > 3000

    third = _start(tmp_path, kafka_bootstrap, topics, group, services)
    _feed(kafka_bootstrap, topics, group, others, third)
    assert third.terminate() == 0, third.tail()
    _exactly_once_as_uninterrupted(kafka_bootstrap, topics, at_least=2)


def test_per_key_gauges_move_with_a_partition_at_a_rebalance_before_any_event(
    kafka_bootstrap: str, one_input_topics: Callable[[int], TopicNames], tmp_path: Path,
    services: list[ServiceProcess],
) -> None:
    topics = one_input_topics(2)
    events = synthetic_stream(models=6, per_model=800, seed=4)
    produce(kafka_bootstrap, topics.predictions,
            [(e["model_id"].encode(), encode(e)) for e in events])
    on = {r.partition for r in read_topic(kafka_bootstrap, topics.predictions)}
    assert on == {0, 1}  # both partitions hold models (fixed keys, fixed partitioner)
    group = f"g-{uuid.uuid4().hex[:8]}"
    settings = {"model_gauges_interval_s": 600}  # only a change of partitions refreshes soon
    a = ConsumerProcess(tmp_path, kafka_bootstrap, topics, group=group, instance="a",
                        consumer=settings)
    services.append(a.start())
    a.wait_ready()
    wait_committed(kafka_bootstrap, group, topics.predictions, procs=[a])
    a.terminate()  # a's gauges were refreshed only at its start: restart it with all done
    services.append(a.start())
    a.wait_ready()
    before = settled_gauges(a)
    assert len({dict(labels)["model_id"] for _, labels in before}) == 6

    b = ConsumerProcess(tmp_path, kafka_bootstrap, topics, group=group, instance="b",
                        consumer=settings)
    services.append(b.start())  # takes one partition, restored; no event follows
    b.wait_ready()
    deadline = time.monotonic() + HANG_S
    while True:
        on_a, on_b = key_gauges(a), key_gauges(b)
        if on_b and {**on_a, **on_b} == before and not on_a.keys() & on_b.keys():
            break  # a shows the keys it kept, b the moved ones: none lost, none twice
        assert time.monotonic() < deadline, (sorted(on_a)[:3], sorted(on_b)[:3], b.tail())
        time.sleep(0.5)
    assert b.metric("driftline_consumer_records_total", {"outcome": "consumed"}) in (None, 0)
    assert a.terminate() == 0 and b.terminate() == 0
