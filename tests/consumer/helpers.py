"""Helpers for the consumer service tests: synthetic streams, Kafka I/O, a consumer subprocess
(:class:`driftline.dev.services.ServiceProcess` with a config written for the test broker)."""

from __future__ import annotations

import json
import random
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from consumer.config import TopicNames
from consumer.topic_reader import Span, partitions_of, read_to_end, watermarks
from detectors.contracts import Source
from driftline.dev.services import ServiceProcess, free_port
from tests.hang import HANG_S

REPO = Path(__file__).resolve().parents[2]
DRIFTLINE = [sys.executable, "-m", "driftline"]
T0 = 1_700_000_000_000


def synthetic_stream(
    *, models: int = 3, per_model: int = 3000, shift_at: float = 0.6, seed: int = 7,
    label_delay: int = 5,
) -> list[dict[str, Any]]:
    """Predictions and labels of ``models`` classifiers, interleaved; after ``shift_at`` of the
    stream the ``amount`` feature moves by 3 standard deviations and the error rate goes from
    10% to 40%. Each label follows its prediction ``label_delay`` events later (per model)."""
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    pending: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for i in range(per_model):
        for m in range(models):
            model_id = f"model-{m}"
            drifted = i >= per_model * shift_at
            ts = T0 + (i * models + m) * 100
            pid = f"{model_id}-p{i}"
            truth = rng.random() < 0.5
            wrong = rng.random() < (0.4 if drifted else 0.1)
            prediction = truth != wrong
            events.append({
                "type": "prediction", "schema_version": 1, "prediction_id": pid,
                "model_id": model_id, "model_version": "v1", "timestamp": ts,
                "features": {"amount": round(rng.gauss(3.0 if drifted else 0.0, 1.0), 4),
                             "country": rng.choice(["FR", "DE", "US"])},
                "prediction": prediction,
                "score": round(min(0.99, max(0.01, rng.gauss(0.7 if prediction else 0.3, 0.1))),
                               4),
            })
            pending[model_id].append({
                "type": "label", "schema_version": 1, "prediction_id": pid, "model_id": model_id,
                "timestamp": ts + 50, "label": truth,
            })
            if len(pending[model_id]) > label_delay:
                events.append(pending[model_id].pop(0))
    for queue in pending.values():
        events.extend(queue)
    return events


def encode(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()


def produce(bootstrap: str, topic: str, records: Iterable[tuple[bytes | None, bytes | None]],
            partition: int | None = None, **extra: Any) -> int:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20,
                         "enable.idempotence": True, **extra})
    n = 0
    for key, value in records:
        while True:
            try:
                if partition is None:
                    producer.produce(topic, value, key)
                else:
                    producer.produce(topic, value, key, partition=partition)
                break
            except BufferError:
                producer.poll(0.1)
        n += 1
    assert producer.flush(30) == 0
    return n


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


def read_topic(bootstrap: str, topic: str, timeout_s: float = 30.0) -> list[Record]:
    """Every committed record of ``topic`` (read_committed), partition by partition."""
    conf = {"bootstrap.servers": bootstrap}
    spans = [Span(topic, p) for p in partitions_of(conf, topic)]
    out = [Record(msg.topic(), msg.partition(), msg.offset(), msg.key(), msg.value(),
                  list(msg.headers() or []))
           for msg in read_to_end(conf, spans, timeout_s=timeout_s)]
    out.sort(key=lambda r: (r.partition, r.offset))
    return out


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"w-{uuid.uuid4()}"})
    metadata = consumer.list_topics(topic, timeout=10)
    deadline = time.monotonic() + HANG_S  # a broker may be restarting (cluster bounce tests)
    ends = {p: watermarks(consumer, TopicPartition(topic, p), deadline)[1]
            for p in metadata.topics[topic].partitions}
    consumer.close()
    return ends


def committed(bootstrap: str, group: str, topic: str, partitions: Iterable[int]) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                         "isolation.level": "read_committed"})
    try:
        for attempt in range(50):
            try:
                result = consumer.committed([TopicPartition(topic, p) for p in partitions],
                                            timeout=10)
                break
            except KafkaException:  # coordinator loading / moving: retriable here
                if attempt == 49:
                    raise
                time.sleep(0.2)
    finally:
        consumer.close()
    return {tp.partition: tp.offset for tp in result}


def wait_committed(bootstrap: str, group: str, topic: str, timeout_s: float = HANG_S,
                   procs: Iterable[ServiceProcess] = ()) -> None:
    """Until the group's committed offsets reach the end of ``topic``."""
    ends = end_offsets(bootstrap, topic)
    deadline = time.monotonic() + timeout_s
    while True:
        got = committed(bootstrap, group, topic, ends)
        if all(got[p] >= ends[p] or ends[p] == 0 for p in ends):
            return
        for proc in procs:
            assert proc.poll() is None or proc.stopped, f"service exited:\n{proc.tail()}"
        assert time.monotonic() < deadline, f"committed {got} never reached {ends}" + "".join(
            f"\n--- {proc.log_path.name}:\n{proc.tail()}" for proc in procs)
        time.sleep(0.2)


class ConsumerProcess(ServiceProcess):
    """``driftline consume`` as a subprocess, with a config file written for the test broker."""

    def __init__(self, tmp: Path, bootstrap: str, topics: TopicNames, *, group: str,
                 instance: str, consumer: dict[str, Any] | None = None,
                 detection: dict[str, Any] | None = None, kafka: dict[str, Any] | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        port = free_port()
        config_path = tmp / f"{instance}.yaml"
        config: dict[str, Any] = {
            "kafka": {"bootstrap.servers": bootstrap, **(kafka or {})},
            "topics": topics.model_dump(),
            "consumer": {"group_id": group, "instance_id": instance, "metrics_port": port,
                         "metrics_host": "127.0.0.1", "commit_interval_ms": 100,
                         "consumer_properties": {"session.timeout.ms": 6000,
                                                 "heartbeat.interval.ms": 500},
                         **(consumer or {})},
            **({"detection": detection} if detection else {}),
            **(extra or {}),
        }
        config_path.write_text(yaml.safe_dump(config))
        super().__init__("consume", config_path, tmp / f"{instance}.log", metrics_port=port)


def consume_all(tmp: Path, bootstrap: str, topics: TopicNames, services: list[ServiceProcess],
                **kwargs: Any) -> ServiceProcess:
    """A service of a fresh group started on ``topics``, once it has committed every input record
    already produced (it keeps running: read its metrics, then terminate it)."""
    group = f"g-{uuid.uuid4().hex[:8]}"
    service = ConsumerProcess(tmp, bootstrap, topics, group=group, instance="a", **kwargs)
    services.append(service.start())
    service.wait_ready()
    wait_committed(bootstrap, group, topics.predictions, procs=[service])
    return service


def drift_view(records: list[Record]) -> list[dict[str, Any]]:
    """Drift events as dicts without ``published_at`` (wall clock), in topic order."""
    out = []
    for r in records:
        assert r.value is not None
        event = json.loads(r.value)
        event.pop("published_at")
        out.append(event)
    return out


def oracle(bootstrap: str, topic: str, detection: dict[str, Any] | None = None
           ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Drift events and labelled records an uninterrupted run must publish: one pipeline per
    partition over the input topic as stored (offset order), sorted for comparison."""
    from detectors.config import DetectionConfig
    from detectors.contracts import DriftEvent, LabelledRecord
    from detectors.pipeline import Pipeline

    config = DetectionConfig.model_validate(detection or {})
    pipelines: dict[int, Pipeline] = {}
    drift: list[dict[str, Any]] = []
    labelled: list[dict[str, Any]] = []
    for record in read_topic(bootstrap, topic):
        pipeline = pipelines.setdefault(record.partition, Pipeline(config))
        source = Source(topic=record.topic, partition=record.partition, offset=record.offset)
        for out in pipeline.process_raw(record.value or b"", source):
            if isinstance(out, DriftEvent):
                drift.append(json.loads(out.model_dump_json()))
            elif isinstance(out, LabelledRecord):
                labelled.append(json.loads(out.model_dump_json()))
    return canonical(drift), canonical(labelled)


def canonical(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Without wall-clock fields, in a stable order."""
    out = []
    for item in items:
        item = dict(item)
        item.pop("published_at", None)
        out.append(item)
    return sorted(out, key=lambda x: json.dumps(x, sort_keys=True))


def topic_values(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    return [json.loads(r.value or b"") for r in read_topic(bootstrap, topic)]


class Trickle:
    """Produces ``items`` (to one partition, or keyed) at about ``rate`` records/s in a background thread.

    ``pause_after=n``: after the first ``n`` items it waits for :meth:`resume` (``paused`` is set
    meanwhile), so a test acts "mid-stream" whatever the machine's speed."""

    def __init__(self, bootstrap: str, topic: str, items: list[tuple[bytes, bytes]],
                 rate: float, partition: int | None = 0, pause_after: int | None = None) -> None:
        import threading

        self._args = (bootstrap, topic, items, rate)
        self._partition = partition
        self._pause_after = pause_after
        self.paused = threading.Event()
        self._resume = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.error: BaseException | None = None

    def resume(self) -> None:
        self._resume.set()

    def _run(self) -> None:
        bootstrap, topic, items, rate = self._args
        try:
            producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5,
                                 "enable.idempotence": True})
            chunk = max(1, int(rate / 20))
            began = time.monotonic()
            for start in range(0, len(items), chunk):
                if self._pause_after is not None and start >= self._pause_after \
                        and not self._resume.is_set():
                    assert producer.flush(HANG_S) == 0
                    self.paused.set()
                    assert self._resume.wait(HANG_S), "never resumed"
                    began = time.monotonic() - start / rate
                for key, value in items[start:start + chunk]:
                    if self._partition is None:
                        producer.produce(topic, value, key)
                    else:
                        producer.produce(topic, value, key, partition=self._partition)
                producer.poll(0)
                target = began + (start + chunk) / rate
                time.sleep(max(0.0, target - time.monotonic()))
            assert producer.flush(30) == 0
        except BaseException as exc:
            self.error = exc

    def start(self) -> Trickle:
        self.thread.start()
        return self

    def join(self, timeout: float = HANG_S) -> None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "producer did not finish"
        assert self.error is None, self.error
