"""Against the real broker: a model's label join in segments on the state topic.

Thousands of joined predictions stay in the join as tombstones (``join_ttl_s``, a day); a
checkpoint writes the head of each model that changed and only the join segments that changed
(:meth:`consumer.state_store.StateStore.checkpoint`), not the model's every entry. A kill -9
right after such a checkpoint loses nothing: the join read back (heads + segments written at
different checkpoints) equals an uninterrupted run's, and the outputs after the restart are
exactly once and equal the uninterrupted run's.
"""

from __future__ import annotations

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

pytestmark = pytest.mark.kafka


def _state_records(bootstrap: str, topic: str) -> Counter[str]:
    return Counter((r.key or b"").decode() for r in read_topic(bootstrap, topic))


def _join_of(pipeline: Pipeline) -> tuple[Any, ...]:
    join = pipeline.join
    join._order()
    return (pipeline.watermark, {m: join.export_model(m)["pending"]
                                 for m in sorted(join.export_models())},
            [(k, e.deadline, e.seq) for k, e in join._pending.items()], join.live_pending)


def test_a_kill_9_after_a_checkpoint_that_wrote_only_changed_segments_loses_nothing(
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

    def start() -> ConsumerProcess:
        service = ConsumerProcess(tmp_path, kafka_bootstrap, topics, group=group, instance="a",
                                  consumer={"snapshot_interval_ms": 0})  # checkpoint per commit
        services.append(service.start())
        service.wait_ready()
        return service

    def feed(part: list[dict[str, Any]], service: ServiceProcess) -> None:
        produce(kafka_bootstrap, topics.predictions,
                [(e["model_id"].encode(), encode(e)) for e in part])
        wait_committed(kafka_bootstrap, group, topics.predictions, procs=[service])

    first = start()
    feed(first_part, first)
    assert first.terminate() == 0, first.tail()
    written = _state_records(kafka_bootstrap, topics.state)
    segments = {k for k in written if "~" in k}
    # 1,600 predictions per model, all joined: tombstones in sealed segments of their own.
    assert len(segments) >= 2 * (1600 // SEGMENT_ENTRIES - 1), sorted(written)

    second = start()  # restores both models, heads and segments
    feed(few, second)  # committed: the checkpoint of that commit is on the topic
    second.kill()
    rewritten = _state_records(kafka_bootstrap, topics.state) - written
    assert {k.rsplit("/", 1)[1] for k in rewritten} == {"", "model-0"}, rewritten
    changed_segments = [k for k in rewritten if "~" in k]
    assert len(changed_segments) <= 2, rewritten  # the few events' segments, not all of them

    # What a restore reads back now equals an uninterrupted run over the committed inputs.
    at = committed(kafka_bootstrap, group, topics.predictions, [0])[0]
    restored = StateStore({"bootstrap.servers": kafka_bootstrap}, topic=topics.state,
                          group_id=group, state_partitions=1).restore(0)
    assert restored.checkpoint == {topics.predictions: at}
    from_topic = Pipeline()
    for model_id, snap in restored.models.items():
        from_topic.restore_model(model_id, snap.payload, segments=snap.segments,
                                 persisted=True)
    if restored.watermark is not None:
        from_topic.restore_watermark(restored.watermark)
    uninterrupted = Pipeline()
    for record in read_topic(kafka_bootstrap, topics.predictions):
        if record.offset < at:
            uninterrupted.process_raw(record.value or b"", Source(
                topic=record.topic, partition=record.partition, offset=record.offset))
    assert _join_of(from_topic) == _join_of(uninterrupted)
    assert len(uninterrupted.join._pending) > 3000

    third = start()
    feed(others, third)
    assert third.terminate() == 0, third.tail()
    expected_drift, expected_labelled = oracle(kafka_bootstrap, topics.predictions)
    drift = topic_values(kafka_bootstrap, topics.drift)
    assert all(n == 1 for n in Counter(e["event_id"] for e in drift).values()), "duplicates"
    assert canonical(drift) == expected_drift and len(expected_drift) >= 2
    assert canonical(topic_values(kafka_bootstrap, topics.labelled)) == expected_labelled
