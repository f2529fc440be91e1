"""Consumer throughput and latency, against a real broker: raw limit, naive consumer, Driftline.

One run, one topic, the same events for every reader (each with its own consumer group; all
fetch with ``fetch.queue.backoff.ms`` = 10, see :data:`FETCH_TUNING`):

* **raw** — ``consume(1000)`` + ``json.loads`` per record: the limit of any Python consumer.
* **naive** — written the way the confluent-kafka and River docs suggest: ``poll()`` one message,
  ``json.loads``, a pydantic model, River detectors (ADWIN per numeric feature and on the score,
  a dict join of labels to predictions, DDM on the error), ``produce`` the labelled record and any
  drift event, auto-commit. No exactly-once, no DLQ, no state snapshots.
* **floor** — the naive consumer's River work (:class:`BareDetection`) fed the cheapest way:
  ``consume(1000)``, one pydantic-core call from bytes to event, no commits. What batching and
  one-call validation alone buy over naive; no consumer running these detectors beats it.
* **driftline** — :class:`consumer.service.ConsumerService` in this process: batches, validation,
  the detection pipeline, transactional outputs + state snapshots + offsets every 200 ms.
  Timed from ``/readyz`` to the group's committed offset reaching the end of the topic.

For scale, **pipeline_only** runs the same decoding, detection core and output serialization in
memory without Kafka: no one-process consumer on this core can beat it.

With ``--processes N``, **scale-out**: one real ``driftline consume`` process on one partition,
then N processes on N partitions, with the CPU cores they and the whole machine kept busy.

Then latency: events produced at a fixed rate into a fresh topic while Driftline runs; for each
drift event (and each labelled record) read back with ``read_committed``, the time from the
producer's ``CreateTime`` of the triggering input record to its arrival at the reader.

Usage::

    .venv/bin/python bench/consumer_throughput.py [--bootstrap HOST:PORT] [--events 200000]
                                                  [--processes 2]

Without ``--bootstrap`` a single-node broker is started from the Maven jars (scripts/kafka).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import confluent_kafka
import river
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from pydantic import TypeAdapter, ValidationError
from pydantic_core import to_json
from river import drift

from consumer.config import ConsumerServiceConfig, TopicLayout, TopicNames
from consumer.service import ConsumerService
from consumer.topics import create_topics
from detectors.contracts import InputEvent, Label, Prediction
from driftline.dev.simulator import Drift, Scenario, simulate

log = logging.getLogger("bench")


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "librdkafka": confluent_kafka.libversion()[0], "river": river.__version__}


def make_topics(bootstrap: str, tag: str, partitions: int = 1) -> TopicNames:
    prefix = f"bench-{tag}-{uuid.uuid4().hex[:6]}"
    names = TopicNames(**{f: f"{prefix}.{f}" for f in TopicNames.model_fields})
    names = names.model_copy(update={"labels": names.predictions})
    create_topics({"bootstrap.servers": bootstrap}, names, TopicLayout(partitions=partitions))
    return names


def events(n: int, models: int = 10, seed: int = 1) -> list[tuple[bytes, bytes]]:
    per_model = max(1, n // (2 * models))
    scenario = Scenario(
        models=tuple(f"model-{i}" for i in range(models)), samples=per_model, rate=100.0,
        label_delay_ms=2000,
        drifts=(Drift(kind="sudden", start=per_model // 2, feature_shift=3.0,
                      concept_rotation=60.0),),
    )
    return [(e.model_id.encode(), e.model_dump_json().encode())
            for e in simulate(scenario, seed=seed)]


def produce_all(bootstrap: str, topic: str, items: list[tuple[bytes, bytes]],
                partitions: int = 1) -> float:
    """Produce ``items``; model ``model-<i>`` goes to partition ``i % partitions``."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20,
                         "batch.num.messages": 10000, "enable.idempotence": True})
    began = time.perf_counter()
    for key, value in items:
        partition = int(key.rsplit(b"-", 1)[1]) % partitions
        while True:
            try:
                producer.produce(topic, value, key, partition=partition)
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush(60)
    return time.perf_counter() - began


#: Every reader here, Driftline included (its consumer sets the same), fetches with this: with
#: librdkafka's default (1 s) a reader faster than ~100 000 records/s stalls for a second each
#: time ``queued.min.messages`` (100 000) records are queued, which capped "raw" at ~105 000/s.
FETCH_TUNING = {"fetch.queue.backoff.ms": 10}


def _consumer(bootstrap: str, **extra: Any) -> Consumer:
    return Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex}",
                     "auto.offset.reset": "earliest", **FETCH_TUNING, **extra})


# -- raw ---------------------------------------------------------------------------------------


def run_raw(bootstrap: str, topic: str, total: int) -> float:
    consumer = _consumer(bootstrap, **{"enable.auto.commit": False})
    consumer.subscribe([topic])
    n = 0
    began: float | None = None
    loads = json.loads
    while n < total:
        for msg in consumer.consume(1000, timeout=0.5):
            if msg.error():
                continue
            if began is None:
                began = time.perf_counter()
            loads(msg.value())
            n += 1
    elapsed = time.perf_counter() - (began or time.perf_counter())
    consumer.close()
    return elapsed


# -- the detection core alone ------------------------------------------------------------------


def run_pipeline_only(items: list[tuple[bytes, bytes]]) -> float:
    """No Kafka: decode + :class:`~detectors.pipeline.Pipeline` + serialize outputs, in memory.
    The ceiling of any one-process consumer built on this detection core."""
    from consumer.batch import Decoder, make_source
    from detectors.pipeline import Pipeline
    from detectors.rejection import Rejection

    decoder = Decoder()
    pipeline = Pipeline()
    began = time.perf_counter()
    for offset, (key, value) in enumerate(items):
        event = decoder.decode(value, key, "bench", 0, offset)
        if isinstance(event, Rejection):
            continue
        for out in pipeline.process(event, make_source("bench", 0, offset), raw=value):
            if not isinstance(out, Rejection):
                out.model_dump_json()
    return time.perf_counter() - began


# -- naive and floor: the same River work, two ways of feeding it --------------------------------


class BareDetection:
    """River as its docs use it, and nothing else: ADWIN per numeric feature and on the score,
    a dict join of labels to predictions, DDM on the error. No lifecycle, no windows, no state."""

    def __init__(self) -> None:
        self.detectors: dict[tuple[str, str], Any] = {}
        self.pending: dict[str, Prediction] = {}

    def prediction(self, event: Prediction) -> list[str]:
        """Feed one prediction; the signals whose detector fired."""
        self.pending[event.prediction_id] = event
        signals = {f"feature:{k}": v for k, v in event.features.items()
                   if isinstance(v, int | float) and not isinstance(v, bool)}
        if event.score is not None:
            signals["score"] = event.score
        fired = []
        for signal, value in signals.items():
            det = self.detectors.get((event.model_id, signal))
            if det is None:
                det = self.detectors[(event.model_id, signal)] = drift.ADWIN()
            det.update(value)
            if det.drift_detected:
                fired.append(signal)
        return fired

    def label(self, event: Label) -> tuple[dict[str, Any] | None, list[str]]:
        """Feed one label; the joined record (None for an orphan) and the signals that fired."""
        prediction = self.pending.pop(event.prediction_id, None)
        if prediction is None:
            return None, []
        det = self.detectors.get((event.model_id, "error"))
        if det is None:
            det = self.detectors[(event.model_id, "error")] = drift.binary.DDM()
        det.update(int(prediction.prediction != event.label))
        record = {"prediction_id": prediction.prediction_id, "model_id": prediction.model_id,
                  "features": prediction.features, "prediction": prediction.prediction,
                  "label": event.label}
        return record, ["error"] if det.drift_detected else []


def run_naive(bootstrap: str, topics: TopicNames, total: int) -> float:
    """The docs' way: poll one message, json, pydantic, River, produce."""
    adapter: TypeAdapter[Prediction | Label] = TypeAdapter(InputEvent)
    consumer = _consumer(bootstrap)
    consumer.subscribe([topics.predictions])
    producer = Producer({"bootstrap.servers": bootstrap})
    detection = BareDetection()
    n = 0
    began: float | None = None
    while n < total:
        msg = consumer.poll(1.0)
        if msg is None or msg.error():
            continue
        if began is None:
            began = time.perf_counter()
        n += 1
        try:
            event = adapter.validate_python(json.loads(msg.value()))
        except Exception:
            producer.produce(topics.dlq, msg.value())
            continue
        if isinstance(event, Prediction):
            fired = detection.prediction(event)
        else:
            record, fired = detection.label(event)
            if record is not None:
                producer.produce(topics.labelled, json.dumps(record), event.model_id)
        for signal in fired:
            producer.produce(topics.drift, json.dumps({
                "model_id": event.model_id, "signal": signal, "offset": msg.offset()}),
                event.model_id)
        producer.poll(0)
    elapsed = time.perf_counter() - (began or time.perf_counter())
    producer.flush(30)
    consumer.close()
    return elapsed


def run_floor(bootstrap: str, topics: TopicNames, total: int) -> float:
    """The naive consumer's work with the per-record overheads cut: ``consume(1000)``, one
    pydantic-core call per record from bytes to event, outputs serialized by pydantic-core, no
    commits at all. The same River work as naive, so this is what batching and one-call
    validation alone can buy over naive: a ceiling for any consumer that runs these detectors."""
    validate = TypeAdapter(InputEvent).validator.validate_json
    consumer = _consumer(bootstrap, **{"enable.auto.commit": False})
    consumer.subscribe([topics.predictions])
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    detection = BareDetection()
    n = 0
    began: float | None = None
    while n < total:
        for msg in consumer.consume(1000, timeout=0.5):
            if msg.error():
                continue
            if began is None:
                began = time.perf_counter()
            n += 1
            try:
                event = validate(msg.value())
            except ValidationError:
                producer.produce(topics.dlq, msg.value())
                continue
            if event.type == "prediction":
                fired = detection.prediction(event)
            else:
                record, fired = detection.label(event)
                if record is not None:
                    producer.produce(topics.labelled, to_json(record), msg.key())
            for signal in fired:
                producer.produce(topics.drift, to_json({
                    "model_id": event.model_id, "signal": signal, "offset": msg.offset()}),
                    msg.key())
        producer.poll(0)
    elapsed = time.perf_counter() - (began or time.perf_counter())
    producer.flush(30)
    consumer.close()
    return elapsed


# -- driftline ---------------------------------------------------------------------------------


def _service(bootstrap: str, topics: TopicNames, detection: dict[str, Any] | None = None
             ) -> ConsumerService:
    config = ConsumerServiceConfig.model_validate({
        "kafka": {"bootstrap.servers": bootstrap},
        "topics": topics.model_dump(),
        "consumer": {"group_id": f"bench-{uuid.uuid4().hex[:8]}", "instance_id": "bench",
                     "metrics_port": 0, "metrics_host": "127.0.0.1"},
        **({"detection": detection} if detection else {}),
    })
    return ConsumerService(config, install_signal_handlers=False)


def _committed(bootstrap: str, group: str, topic: str) -> int:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                  "isolation.level": "read_committed"})
    try:
        return int(c.committed([TopicPartition(topic, 0)], timeout=10)[0].offset)
    finally:
        c.close()


def _alive(thread: threading.Thread) -> None:
    if not thread.is_alive():
        raise RuntimeError("the Driftline service stopped; see its log above")


def run_driftline(bootstrap: str, topics: TopicNames, total: int) -> float:
    service = _service(bootstrap, topics)
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    while not service.health.ready()[0]:
        _alive(thread)
        time.sleep(0.005)
    began = time.perf_counter()
    registry = service.metrics.registry
    while (registry.get_sample_value("driftline_consumer_records_total",
                                     {"partition": "0", "outcome": "consumed"}) or 0) < total:
        _alive(thread)
        time.sleep(0.01)
    while _committed(bootstrap, service.settings.group_id, topics.predictions) < total:
        time.sleep(0.01)
    elapsed = time.perf_counter() - began
    service.stop()
    thread.join(30)
    return elapsed


# -- scale-out: N processes over N partitions ---------------------------------------------------


def _assigned(port: int) -> float | None:
    from prometheus_client.parser import text_string_to_metric_families

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return None
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "driftline_consumer_assigned_partitions":
                return sample.value
    return None


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_jiffies() -> tuple[int, int]:
    """(busy, total) CPU time of the whole machine so far, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def run_processes(bootstrap: str, items: list[tuple[bytes, bytes]], processes: int
                  ) -> tuple[float, float, float]:
    """``processes`` × ``driftline consume`` (real processes) on a topic of as many partitions,
    each holding one. Timed from the first record produced to every partition's committed
    offset at its end (the produce overlaps the consume; one process is timed the same way).
    Returns the seconds, the CPU cores the consumer processes kept busy meanwhile, and the
    cores the whole machine (broker, this process's producer, consumers) kept busy."""
    from driftline.dev.services import ServiceProcess, free_port

    topics = make_topics(bootstrap, f"x{processes}", partitions=processes)
    group = f"bench-scale-{uuid.uuid4().hex[:8]}"
    workdir = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    procs, ports = [], []
    try:
        for i in range(processes):
            ports.append(free_port())
            config = workdir / f"c{i}.yaml"
            config.write_text(json.dumps({
                "kafka": {"bootstrap.servers": bootstrap}, "topics": topics.model_dump(),
                "consumer": {"group_id": group, "instance_id": f"c{i}", "metrics_port": ports[-1],
                             "metrics_host": "127.0.0.1"}}))
            procs.append(ServiceProcess("consume", config, workdir / f"c{i}.log").start())
        deadline = time.monotonic() + 120
        while not all(_assigned(port) == 1 for port in ports):
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise RuntimeError(f"consumers not each assigned one partition; logs in {workdir}")
            time.sleep(0.2)
        cpu_before = sum(_cpu_seconds(p.pid) for p in procs)
        machine_before = _machine_jiffies()
        began = time.perf_counter()
        produce_all(bootstrap, topics.predictions, items, partitions=processes)
        ends = _ends(bootstrap, topics.predictions, processes)
        while _committed_all(bootstrap, group, topics.predictions, processes) != ends:
            if any(p.poll() is not None for p in procs):
                raise RuntimeError(f"a consumer exited; logs in {workdir}")
            time.sleep(0.02)
        elapsed = time.perf_counter() - began
        busy, total = (after - before for after, before in zip(
            _machine_jiffies(), machine_before, strict=True))
        return (elapsed, (sum(_cpu_seconds(p.pid) for p in procs) - cpu_before) / elapsed,
                (os.cpu_count() or 1) * busy / max(1, total))
    finally:
        for proc in procs:
            proc.stop(timeout_s=30)


def _ends(bootstrap: str, topic: str, partitions: int) -> list[int]:
    c = _consumer(bootstrap)
    try:
        return [c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in range(partitions)]
    finally:
        c.close()


def _committed_all(bootstrap: str, group: str, topic: str, partitions: int) -> list[int]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        return [int(tp.offset) for tp in c.committed(
            [TopicPartition(topic, p) for p in range(partitions)], timeout=10)]
    finally:
        c.close()


# -- latency -----------------------------------------------------------------------------------


def run_latency(bootstrap: str, rate: float, seconds: float) -> dict[str, Any]:
    topics = make_topics(bootstrap, "latency")
    n = int(rate * seconds)
    models = 10
    per_model = n // (2 * models)
    scenario = Scenario(
        models=tuple(f"model-{i}" for i in range(models)), samples=per_model, rate=100.0,
        label_delay_ms=500,
        drifts=(Drift(kind="seasonal", start=100, width=400, feature_shift=4.0),),
    )
    items = [(e.model_id.encode(), e.model_dump_json().encode())
             for e in simulate(scenario, seed=3)]
    detection = {"cooldown_samples": 100, "warmup_samples": 50}
    service = _service(bootstrap, topics, detection)
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    while not service.health.ready()[0]:
        _alive(thread)
        time.sleep(0.01)

    arrivals: list[tuple[float, str, dict[str, Any]]] = []
    done = threading.Event()

    def reader() -> None:
        c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"lat-{uuid.uuid4().hex}",
                      "isolation.level": "read_committed", "auto.offset.reset": "earliest",
                      "fetch.wait.max.ms": 10})
        c.assign([TopicPartition(topics.drift, p, 0) for p in range(1)]
                 + [TopicPartition(topics.labelled, 0, 0)])
        while not done.is_set():
            for msg in c.consume(1000, timeout=0.05):
                if msg.error() is None:
                    arrivals.append((time.time(), msg.topic(), json.loads(msg.value())))
        c.close()

    read_thread = threading.Thread(target=reader, daemon=True)
    read_thread.start()
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 1,
                         "enable.idempotence": True})
    began = time.monotonic()
    for i, (key, value) in enumerate(items):
        producer.produce(topics.predictions, value, key, partition=0)
        producer.poll(0)
        delay = began + (i + 1) / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    producer.flush(30)
    while _committed(bootstrap, service.settings.group_id, topics.predictions) < len(items):
        _alive(thread)
        time.sleep(0.05)
    time.sleep(1.0)
    done.set()
    read_thread.join(10)
    service.stop()
    thread.join(30)

    # CreateTime of every input record, by offset and by the label's prediction id.
    c = _consumer(bootstrap, **{"enable.partition.eof": True})
    c.assign([TopicPartition(topics.predictions, 0, 0)])
    created_at: dict[int, float] = {}
    label_at: dict[str, float] = {}
    while True:
        batch = c.consume(5000, timeout=1.0)
        eof = False
        for msg in batch:
            if msg.error() is not None:
                eof = eof or msg.error().code() == KafkaError._PARTITION_EOF
                continue
            ts = msg.timestamp()[1] / 1000.0
            created_at[msg.offset()] = ts
            if b'"type":"label"' in msg.value():
                label_at[json.loads(msg.value())["prediction_id"]] = ts
        if eof or not batch:
            break
    c.close()
    drift_ms = [1000 * (t - created_at[e["source"]["offset"]])
                for t, topic, e in arrivals if topic == topics.drift]
    labelled_ms = [1000 * (t - label_at[e["prediction_id"]])
                   for t, topic, e in arrivals if topic == topics.labelled]

    def pct(values: list[float], q: float) -> float:
        if not values:
            return float("nan")
        return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(
            values) > 1 else values[0]

    return {"rate": rate, "events": len(items), "drift_events": len(drift_ms),
            "drift_p50_ms": pct(drift_ms, 50), "drift_p99_ms": pct(drift_ms, 99),
            "labelled_records": len(labelled_ms),
            "labelled_p50_ms": pct(labelled_ms, 50), "labelled_p99_ms": pct(labelled_ms, 99)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", help="existing broker (default: start a local one)")
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--latency-rate", type=float, default=2000.0)
    parser.add_argument("--latency-seconds", type=float, default=15.0)
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--processes", type=int, default=0, metavar="N",
                        help="also time N driftline consume processes on N partitions against "
                             "one process on one partition")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    broker = None
    bootstrap = args.bootstrap
    if bootstrap is None:
        from driftline.dev.local_broker import LocalKafka

        broker = LocalKafka(directory=Path(tempfile.mkdtemp(prefix="bench-kafka-")))
        bootstrap = broker.start()
    try:
        topics = make_topics(bootstrap, "tput")
        items = events(args.events)
        produce_s = produce_all(bootstrap, topics.predictions, items)
        total = len(items)
        print(f"{total} events ({sum(len(v) for _, v in items) / total:.0f} B avg) produced in "
              f"{produce_s:.1f}s", flush=True)
        results: dict[str, Any] = {"machine": machine(), "events": total}
        for name, fn in (("pipeline_only", lambda: run_pipeline_only(items)),
                         ("raw", lambda: run_raw(bootstrap, topics.predictions, total)),
                         ("naive", lambda: run_naive(bootstrap, topics, total)),
                         ("floor", lambda: run_floor(bootstrap, topics, total)),
                         ("driftline", lambda: run_driftline(bootstrap, topics, total))):
            seconds = fn()
            results[name] = {"seconds": round(seconds, 3), "events_per_s": round(total / seconds)}
            print(f"{name:14s} {total / seconds:>10,.0f} events/s  ({seconds:.2f}s)", flush=True)
        raw, naive, ours = (results[k]["events_per_s"] for k in ("raw", "naive", "driftline"))
        results["driftline_vs_naive"] = round(ours / naive, 2)
        results["driftline_vs_raw"] = round(ours / raw, 2)
        core = results["pipeline_only"]["events_per_s"]
        results["driftline_vs_pipeline_only"] = round(ours / core, 2)
        floor = results["floor"]["events_per_s"]
        results["floor_vs_naive"] = round(floor / naive, 2)
        results["floor_vs_raw"] = round(floor / raw, 2)
        print(f"driftline / naive = {ours / naive:.2f}x (goal >= 3x); "
              f"driftline / raw = {ours / raw:.2f} (goal >= 0.5); "
              f"driftline / pipeline only = {ours / core:.2f}; "
              f"floor / naive = {floor / naive:.2f}x, floor / raw = {floor / raw:.2f}", flush=True)
        if args.processes:
            runs = {n: run_processes(bootstrap, items, n) for n in (1, args.processes)}
            results["processes"] = {
                str(n): {"events_per_s": round(total / seconds), "consumer_cores": round(mine, 2),
                         "machine_cores": round(box, 2)}
                for n, (seconds, mine, box) in runs.items()}
            for n, (seconds, mine, box) in runs.items():
                print(f"driftline x{n} processes on {n} partitions {total / seconds:>10,.0f} "
                      f"events/s; CPU cores busy: consumers {mine:.2f}, machine {box:.2f}",
                      flush=True)
        latency = run_latency(bootstrap, args.latency_rate, args.latency_seconds)
        results["latency"] = latency
        print(f"latency at {latency['rate']:.0f} events/s: drift events n={latency['drift_events']}"
              f" p50={latency['drift_p50_ms']:.0f} ms p99={latency['drift_p99_ms']:.0f} ms; "
              f"labelled records n={latency['labelled_records']} "
              f"p50={latency['labelled_p50_ms']:.0f} ms p99={latency['labelled_p99_ms']:.0f} ms")
        print(json.dumps(results["machine"]))
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    finally:
        if broker is not None:
            broker.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
