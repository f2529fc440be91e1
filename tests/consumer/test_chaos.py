"""Soak / chaos (marker ``soak``, not in the default run): consumers of one group killed (-9),
stopped (SIGTERM), restarted and added at random while a stream flows; at the end the drift and
labelled topics equal an uninterrupted run's, with no duplicate drift event.

Run it with ``.venv/bin/python -m pytest -m soak``; ``DRIFTLINE_SOAK_SECONDS`` sets how long the
chaos lasts (default 120) and ``DRIFTLINE_SOAK_SEED`` its random choices (printed, to reproduce a
failure).
"""

from __future__ import annotations

import os
import random
import signal
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
    encode,
    oracle,
    synthetic_stream,
    topic_values,
    wait_committed,
)

pytestmark = [pytest.mark.kafka, pytest.mark.soak]

SOAK_SECONDS = float(os.environ.get("DRIFTLINE_SOAK_SECONDS", "120"))


def test_random_kills_restarts_and_joins_lose_and_duplicate_nothing(
    kafka_bootstrap: str, one_input_topics: Callable[[int], TopicNames], tmp_path: Path,
    services: list[ServiceProcess],
) -> None:
    seed = int(os.environ.get("DRIFTLINE_SOAK_SEED", str(random.randrange(1 << 30))))
    print(f"\n[soak] seed {seed}, {SOAK_SECONDS:.0f}s of chaos")
    rng = random.Random(seed)
    topics = one_input_topics(4)
    rate = 800.0
    models = 8
    events = synthetic_stream(models=models, per_model=int(rate * SOAK_SECONDS / models) + 200,
                              seed=seed % 1000)
    items = [(e["model_id"].encode(), encode(e)) for e in events]
    group = f"g-{uuid.uuid4().hex[:8]}"
    pool = {name: ConsumerProcess(tmp_path, kafka_bootstrap, topics, group=group,
                                  instance=name, consumer={"snapshot_interval_ms": 1000})
            for name in ("a", "b", "c")}
    services.extend(pool.values())
    pool["a"].start().wait_ready()
    pool["b"].start()
    trickle = Trickle(kafka_bootstrap, topics.predictions, items, rate=rate,
                      partition=None).start()

    actions = Counter[str]()
    starts = Counter({"a": 1, "b": 1})

    def subscribed(name: str) -> bool:
        """Its latest start got as far as subscribing (signal handlers installed): a SIGTERM
        before that ends a process that has nothing to commit, by the default action."""
        return pool[name].log_text().count("consuming [") >= starts[name]

    while trickle.thread.is_alive():
        time.sleep(rng.uniform(1.0, 4.0))
        name = rng.choice(sorted(pool))
        service = pool[name]
        running = service.proc is not None and service.poll() is None
        if not running:
            if service.proc is not None and not service.stopped:
                raise AssertionError(f"{name} exited by itself with {service.poll()}:\n"
                                     f"{service.tail()}")
            service.start()
            starts[name] += 1
            actions["start"] += 1
        elif rng.random() < 0.5 or not subscribed(name):
            service.kill()
            actions["kill -9"] += 1
        else:
            service.signal(signal.SIGTERM)
            service.stopped = True
            assert service.proc is not None
            assert service.proc.wait(60) == 0, service.tail()
            actions["SIGTERM"] += 1
    trickle.join()
    print(f"[soak] actions: {dict(actions)}")

    for name, service in pool.items():  # everyone up, to finish the stream together
        if service.proc is None or service.poll() is not None:
            service.start()
            starts[name] += 1
    wait_committed(kafka_bootstrap, group, topics.predictions, timeout_s=300,
                   procs=list(pool.values()))
    for name, service in pool.items():
        assert service.terminate(60) == 0, f"{name}:\n{service.tail()}"

    expected_drift, expected_labelled = oracle(kafka_bootstrap, topics.predictions)
    drift = topic_values(kafka_bootstrap, topics.drift)
    duplicates = [i for i, n in Counter(e["event_id"] for e in drift).items() if n > 1]
    assert duplicates == []
    assert canonical(drift) == expected_drift
    assert len(expected_drift) >= models
    assert canonical(topic_values(kafka_bootstrap, topics.labelled)) == expected_labelled
    assert actions["kill -9"] + actions["SIGTERM"] >= 1
