"""Against the real broker: a second consumer joins mid-stream, the first leaves later."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from consumer.config import TopicNames
from tests.consumer.helpers import (
    ConsumerProcess,
    ServiceProcess,
    Trickle,
    canonical,
    encode,
    oracle,
    synthetic_stream,
    topic_values,
    wait_committed,
)
from tests.hang import HANG_S

pytestmark = pytest.mark.kafka


def test_two_consumers_join_and_leave_mid_stream(
    kafka_bootstrap: str, one_input_topics: Callable[[int], TopicNames], tmp_path: Path,
    services: list[ServiceProcess],
) -> None:
    topics = one_input_topics(4)
    events = synthetic_stream(models=8, per_model=1200, seed=23)
    items = [(e["model_id"].encode(), encode(e)) for e in events]
    group = f"g-{uuid.uuid4().hex[:8]}"
    a = ConsumerProcess(tmp_path, kafka_bootstrap, topics, group=group, instance="a")
    b = ConsumerProcess(tmp_path, kafka_bootstrap, topics, group=group, instance="b")
    services.extend([a.start()])
    a.wait_ready()
    # The producer waits at half the stream: b joins mid-stream, then a stops while the rest
    # flows (paced: it takes seconds however fast the machine is).
    trickle = Trickle(kafka_bootstrap, topics.predictions, items, rate=1500,
                      partition=None, pause_after=len(items) // 2).start()
    assert trickle.paused.wait(HANG_S)
    services.append(b.start())  # added mid-stream
    b.wait_ready(HANG_S)
    trickle.resume()
    assert trickle.thread.is_alive(), "the stream should still flow when the first one stops"
    assert a.terminate(timeout_s=HANG_S) == 0, a.tail()  # while the stream still flows
    trickle.join()
    wait_committed(kafka_bootstrap, group, topics.predictions, procs=[b])
    assert b.terminate() == 0, b.tail()

    assert "assigned partitions" in b.log_text()
    expected_drift, expected_labelled = oracle(kafka_bootstrap, topics.predictions)
    drift = topic_values(kafka_bootstrap, topics.drift)
    assert all(n == 1 for n in Counter(e["event_id"] for e in drift).values()), "duplicates"
    assert canonical(drift) == expected_drift
    assert len(expected_drift) >= 8
    assert canonical(topic_values(kafka_bootstrap, topics.labelled)) == expected_labelled
