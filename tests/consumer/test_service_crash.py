"""Against the real broker: kill -9 mid-stream, restart; SIGTERM; exactly-once output."""

from __future__ import annotations

import time
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
    committed,
    encode,
    oracle,
    synthetic_stream,
    topic_values,
    wait_committed,
)
from tests.hang import HANG_S

pytestmark = pytest.mark.kafka


@pytest.mark.parametrize("snapshot_interval_ms", [0, 10_000], ids=["every-commit", "replay"])
def test_kill_9_mid_stream_then_restart_is_exactly_once(
    kafka_bootstrap: str, one_input_topics: Callable[[int], TopicNames], tmp_path: Path,
    services: list[ServiceProcess], snapshot_interval_ms: int,
) -> None:
    """Snapshots at every commit (restore only), or every 10 s (restore, then replay the inputs
    committed since the checkpoint): either way the output equals an uninterrupted run's."""
    topics = one_input_topics(1)
    events = synthetic_stream(models=3, per_model=3000, seed=11)
    items = [(e["model_id"].encode(), encode(e)) for e in events]
    group = f"g-{uuid.uuid4().hex[:8]}"
    service = ConsumerProcess(tmp_path, kafka_bootstrap, topics, group=group, instance="a",
                             consumer={"snapshot_interval_ms": snapshot_interval_ms})
    services.append(service.start())
    service.wait_ready()
    # Half the stream, then the producer waits: the kill is mid-stream however fast or slow.
    trickle = Trickle(kafka_bootstrap, topics.predictions, items, rate=6000,
                      pause_after=len(items) // 2).start()

    # Kill -9 once a good part, but not all, of the stream is committed.
    deadline = time.monotonic() + HANG_S
    while committed(kafka_bootstrap, group, topics.predictions, [0])[0] < len(items) * 0.35:
        assert time.monotonic() < deadline, service.tail()
        time.sleep(0.05)
    service.kill()
    killed_at = committed(kafka_bootstrap, group, topics.predictions, [0])[0]
    assert killed_at < len(items)  # by construction: the producer waits at half the stream

    trickle.resume()
    service.start()
    trickle.join()
    wait_committed(kafka_bootstrap, group, topics.predictions, procs=[service])
    restored = service.metric("driftline_consumer_restored_models_total")
    replayed = service.metric("driftline_consumer_replayed_records_total")
    assert service.terminate() == 0, service.tail()

    expected_drift, expected_labelled = oracle(kafka_bootstrap, topics.predictions)
    drift = topic_values(kafka_bootstrap, topics.drift)
    assert all(n == 1 for n in Counter(e["event_id"] for e in drift).values()), "duplicates"
    assert canonical(drift) == expected_drift
    assert len(expected_drift) >= 6
    assert canonical(topic_values(kafka_bootstrap, topics.labelled)) == expected_labelled
    # State came back from the state topic (3 models), not rebuilt from offset 0.
    assert restored == 3, service.tail()
    assert "restored 3 model snapshots" in service.log_text()
    if snapshot_interval_ms == 0:
        assert replayed == 0
    else:
        assert replayed is not None and 0 < replayed <= killed_at


def test_sigterm_commits_and_restart_reprocesses_nothing(
    kafka_bootstrap: str, one_input_topics: Callable[[int], TopicNames], tmp_path: Path,
    services: list[ServiceProcess],
) -> None:
    topics = one_input_topics(1)
    events = synthetic_stream(models=2, per_model=3000, seed=5)
    items = [(e["model_id"].encode(), encode(e)) for e in events]
    group = f"g-{uuid.uuid4().hex[:8]}"
    # A long commit interval and no commit on catch-up: only the final commit on SIGTERM can
    # save the work.
    service = ConsumerProcess(tmp_path, kafka_bootstrap, topics, group=group, instance="a",
                             consumer={"commit_interval_ms": 60_000,
                                       "commit_on_catch_up": False})
    services.append(service.start())
    service.wait_ready()
    # SIGTERM while half the stream is in and the producer waits: some work done, not all.
    trickle = Trickle(kafka_bootstrap, topics.predictions, items, rate=4000,
                      pause_after=len(items) // 2).start()
    assert trickle.paused.wait(HANG_S)
    service.wait_metric("driftline_consumer_records_total",
                        {"partition": "0", "outcome": "consumed"}, timeout_s=HANG_S)
    # Exit 0 means the final commit finished within consumer.shutdown_timeout_s (else exit 5).
    assert service.terminate(timeout_s=HANG_S) == 0, service.tail()
    trickle.resume()
    at_stop = committed(kafka_bootstrap, group, topics.predictions, [0])[0]
    assert 0 < at_stop < len(items), at_stop
    consumed_first = service.log_text()
    assert "stopped cleanly after a final commit" in consumed_first

    service = ConsumerProcess(tmp_path, kafka_bootstrap, topics, group=group, instance="a")
    services.append(service.start())
    trickle.join()
    wait_committed(kafka_bootstrap, group, topics.predictions, procs=[service])
    consumed_again = service.metric("driftline_consumer_records_total",
                                    {"partition": "0", "outcome": "consumed"})
    assert service.terminate() == 0
    # The second run read exactly the records after the final commit: nothing reprocessed.
    assert consumed_again == len(items) - at_stop
    expected_drift, expected_labelled = oracle(kafka_bootstrap, topics.predictions)
    assert canonical(topic_values(kafka_bootstrap, topics.drift)) == expected_drift
    assert canonical(topic_values(kafka_bootstrap, topics.labelled)) == expected_labelled
