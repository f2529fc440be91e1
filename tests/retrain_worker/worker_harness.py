"""Running ``driftline retrain-worker`` as a real process against the real broker, for tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from confluent_kafka import Consumer, Producer

from consumer.config import TopicNames
from detectors.contracts import DriftEvent, LabelledRecord, Source, drift_event_id
from retrain_worker.contracts import RetrainEvent

HERE = Path(__file__).resolve().parent
DRIFTLINE = Path(sys.executable).with_name("driftline")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def produce(bootstrap: str, topic: str, items: Iterable[tuple[str, bytes]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for key, value in items:
        producer.produce(topic, key=key.encode(), value=value)
    assert producer.flush(30) == 0


def produce_labelled(bootstrap: str, topic: str, records: list[LabelledRecord]) -> None:
    produce(bootstrap, topic, [(r.model_id, r.model_dump_json().encode()) for r in records])


def drift_event(model_id: str, offset: int, *, kind: str = "concept",
                severity: str = "drift") -> DriftEvent:
    source = Source(topic="preds", partition=0, offset=offset)
    now = datetime.now(UTC)
    return DriftEvent(
        event_id=drift_event_id(model_id=model_id, model_version="v1", segment=None,
                                signal="error", detector="adwin", severity=severity,
                                source=source),
        kind=kind, severity=severity, model_id=model_id, model_version="v1", signal="error",
        detector="adwin", detected_at=now, published_at=now, samples_seen=500, source=source)


def read_retrain(bootstrap: str, topic: str, *, until: int = 0, timeout_s: float = 60,
                 settle_s: float = 0.0) -> list[RetrainEvent]:
    """Committed retrain events; waits until ``until`` events are there, then ``settle_s``."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"check-{time.time_ns()}",
                         "auto.offset.reset": "earliest", "isolation.level": "read_committed",
                         "enable.auto.commit": False})
    consumer.subscribe([topic])
    events: list[RetrainEvent] = []
    deadline = time.monotonic() + timeout_s
    settled: float | None = None
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(0.3)
            if msg is not None and msg.error() is None:
                events.append(RetrainEvent.model_validate_json(msg.value()))
            if len(events) >= until:
                settled = settled or time.monotonic()
                if time.monotonic() - settled >= settle_s:
                    break
    finally:
        consumer.close()
    return events


def wait_for_models(bootstrap: str, topic: str, models: Iterable[str], *, timeout_s: float = 60,
                    settle_s: float = 0.0) -> dict[str, list[RetrainEvent]]:
    """Model id → its committed retrain events, once every model has one (then ``settle_s``)."""
    wanted = list(models)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"check-{time.time_ns()}",
                         "auto.offset.reset": "earliest", "isolation.level": "read_committed",
                         "enable.auto.commit": False})
    consumer.subscribe([topic])
    out: dict[str, list[RetrainEvent]] = {m: [] for m in wanted}
    deadline = time.monotonic() + timeout_s
    settled: float | None = None
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(0.3)
            if msg is not None and msg.error() is None:
                event = RetrainEvent.model_validate_json(msg.value())
                if event.model_id in out:
                    out[event.model_id].append(event)
            if all(out.values()):
                settled = settled or time.monotonic()
                if time.monotonic() - settled >= settle_s:
                    break
    finally:
        consumer.close()
    return out


def write_config(path: Path, bootstrap: str, topics: TopicNames, worker: dict[str, Any]) -> Path:
    config = {
        "kafka": {"bootstrap.servers": bootstrap},
        "topics": topics.model_dump(),
        "worker": {
            "consumer": {"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000},
            **worker,
        },
    }
    path.write_text(yaml.safe_dump(config))
    return path


class WorkerProcess:
    """``driftline retrain-worker --config FILE`` in a subprocess; logs in ``log``."""

    def __init__(self, config: Path, log: Path, metrics_port: int) -> None:
        self.config, self.log, self.port = config, log, metrics_port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([str(DRIFTLINE), "retrain-worker", "--config",
                                          str(self.config)], stdout=log, stderr=log, env=env)
        return self

    def metric(self, name: str) -> float | None:
        """The sum of a metric's samples (None if the endpoint is not up)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2) as r:
                text = r.read().decode()
        except OSError:
            return None
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name) and (line[len(name)] in " {"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def wait_metric(self, name: str, at_least: float, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.assert_alive()
            value = self.metric(name)
            if value is not None and value >= at_least:
                return
            time.sleep(0.3)
        raise AssertionError(f"{name} < {at_least} after {timeout_s} s; log:\n{self.tail()}")

    def assert_alive(self) -> None:
        assert self.proc is not None and self.proc.poll() is None, (
            f"worker exited with {self.proc and self.proc.returncode}:\n{self.tail()}")

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(40)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return -9
