"""Consumer throughput, CPU per event, scale and latency, against a real broker.

One run, one topic, the same events for every reader (each with its own consumer group; all
fetch with ``fetch.queue.backoff.ms`` = 10, see :data:`FETCH_TUNING`). For each reader: events/s
(wall time from its first record to its last) and CPU µs per event (``time.process_time`` of
this process, librdkafka's threads included, over the same span; the Quix app's own
``getrusage``). On a shared, busy machine events/s moves with the neighbours; CPU per event is
the figure to trust.

* **raw_bytes** — ``consume(1000)`` and ``value()``: the Kafka client alone.
* **raw_json** — ``consume(1000)`` + ``json.loads`` per record.
* **raw_msgspec** — ``consume(1000)`` + ``msgspec.json.decode`` (untyped) per record.
* **naive** — written the way the confluent-kafka and River docs suggest: ``poll()`` one message,
  ``json.loads``, a pydantic model, River detectors (:mod:`naive_detection`: ADWIN per numeric
  feature and on the score, a dict join of labels to predictions, DDM on the error),
  ``produce`` the labelled record and any drift event, auto-commit. No exactly-once, no DLQ, no
  state snapshots.
* **floor** — naive's River work fed the cheapest way: ``consume(1000)``, one pydantic-core call
  from bytes to event, no commits.
* **quix** — a Quix Streams application doing naive's work with ``processing_guarantee=
  "exactly-once"`` (:mod:`quix_app`), in its own virtual environment made here on first use
  (``~/.cache/driftline/bench-quix-venv``: Quix Streams pins its own confluent-kafka and
  pydantic), commit interval as Driftline's.
* **driftline** — :class:`consumer.service.ConsumerService` in this process: batches, the msgspec
  decoder, :meth:`~detectors.pipeline.Pipeline.process_batch`, transactional outputs + state
  snapshots + offsets every 200 ms. Timed from ``/readyz`` to the group's committed offset
  reaching the end of the topic.
* **driftline_naive_work** and **pipeline_only_naive_work** — the same with naive's detectors
  only (:data:`NAIVE_WORK_DETECTION`): what the framework costs apart from the default
  detectors' work.

In memory, no Kafka: **pipeline_only** (decode + ``process_batch`` + output encoding on the
bench stream), **scale** (1, 1 000 and 100 000 tracked keys, each with exactly three detectors,
:data:`SCALE_DETECTION`, then with the default configuration: events/s, CPU per event, memory
per key from the resident set, snapshot bytes per key) and the **restore** of the largest
scale's three-detector state from a state topic as the service does it (``StateStore.restore``,
then every model restored lazily): seconds until ready to consume, of which the state topic
read; then the first event of every model (its keys decoded then: p50, max, total), and an
eager decode of the same bytes for comparison.

With ``--processes N``, **scale-out**: one real ``driftline consume`` process on one partition,
then N processes on N partitions, with the CPU cores they and the whole machine kept busy.

Then latency: events produced at a fixed rate (default 10 000/s) into a fresh topic while
Driftline runs in this process; the producer and the measuring reader (``read_committed``,
``fetch.wait.max.ms`` 10, one ``poll`` at a time) run in processes of their own, the producer
warmed up first, the clock started once the service owns its partition. For each drift event
(and each labelled record) read back, the time from the producer's ``CreateTime`` of the
triggering input record to its arrival at the reader, and where it went (:class:`Timeline`):
fetch and batch accumulation, processing of its batch, waiting for the commit, the commit
(snapshots, flush, offsets, ``commit_transaction``), visible to the reader; plus GC pauses and
the service process's CPU per event. ``--latency-consumer JSON`` repeats it with other
``consumer.*`` settings, ``--driftline-consumer JSON`` the Driftline reader: side by side.
An unmeasured pass (``--latency-warm-up-seconds``, default 5) runs first: on a broker fresh
from its start the first transactions took ~1 s each (a cold JVM, the transaction
coordinator's state created), a backlog the measured pass would spend its time draining.
``BENCH_TIMELINE=<path>`` writes each latency pass's raw timeline there (a pickle of batches,
commits, creation times, outputs and consume calls) for a closer look.

Usage::

    .venv/bin/python bench/consumer_throughput.py [--bootstrap HOST:PORT] [--events 200000]
        [--json bench/results/consumer_throughput.json] [--processes 2] [--no-quix]
        [--readers driftline] [--scale 100000] [--latency-seconds 15]
        [--latency-consumer '{"batch_size": 1000}'] [--driftline-consumer '{...}']

Without ``--bootstrap`` a single-node broker is started from the Maven jars (scripts/kafka).
"""

from __future__ import annotations

import argparse
import collections
import gc
import json
import logging
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import msgspec
import river
from bench_env import machine, venv_python
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from naive_detection import BareDetection
from pydantic import TypeAdapter, ValidationError
from pydantic_core import to_json

from consumer.config import ConsumerServiceConfig, TopicLayout, TopicNames
from consumer.gc_policy import tune_gc
from consumer.service import ConsumerService
from consumer.topics import create_topics
from detectors.config import DetectionConfig
from detectors.contracts import InputEvent, Label, Prediction
from driftline.dev.simulator import Drift, Scenario, simulate

log = logging.getLogger("bench")


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


def produce_one(producer: Producer, topic: str, value: bytes | None, key: bytes,
                partition: int) -> None:
    """``produce``, waiting for room in the producer's queue when it is full."""
    while True:
        try:
            producer.produce(topic, value, key, partition=partition)
            return
        except BufferError:
            producer.poll(0.01)


def produce_all(bootstrap: str, topic: str, items: list[tuple[bytes, bytes]],
                partitions: int = 1) -> float:
    """Produce ``items``; model ``model-<i>`` goes to partition ``i % partitions``."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20,
                         "batch.num.messages": 10000, "enable.idempotence": True})
    began = time.perf_counter()
    for key, value in items:
        partition = int(key.rsplit(b"-", 1)[1]) % partitions
        produce_one(producer, topic, value, key, partition)
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

Timing = tuple[float, float]  # (wall seconds, CPU seconds) from the first record to the last


def run_raw(bootstrap: str, topic: str, total: int, decode: Any = None) -> Timing:
    """``consume(1000)`` and, per record, ``decode(value)`` (nothing when ``decode`` is None)."""
    consumer = _consumer(bootstrap, **{"enable.auto.commit": False})
    consumer.subscribe([topic])
    n = 0
    began: Timing | None = None
    while n < total:
        for msg in consumer.consume(1000, timeout=0.5):
            if msg.error():
                continue
            if began is None:
                began = (time.perf_counter(), time.process_time())
            value = msg.value()
            if decode is not None:
                decode(value)
            n += 1
    assert began is not None
    elapsed = (time.perf_counter() - began[0], time.process_time() - began[1])
    consumer.close()
    return elapsed


# -- the detection core alone ------------------------------------------------------------------


def run_pipeline_only(items: list[tuple[bytes, bytes]], batch: int = 1000,
                      config: Any = None) -> Timing:
    """No Kafka: the service's decoder, :meth:`Pipeline.process_batch` in batches of ``batch``
    records and output encoding, in memory. The ceiling of any one-process consumer built on
    this detection core. ``config``: a :class:`~detectors.config.DetectionConfig` (None: the
    defaults)."""
    from consumer.batch import Decoder
    from detectors.contracts import LabelledRecord
    from detectors.encoding import drift_event_json
    from detectors.labelled import labelled_json
    from detectors.pipeline import Pipeline
    from detectors.rejection import Rejection

    tune_gc()  # as the service does
    decode = Decoder().decode
    pipeline = Pipeline(config)
    began = (time.perf_counter(), time.process_time())
    for start in range(0, len(items), batch):
        records = []
        for offset in range(start, min(start + batch, len(items))):
            key, value = items[offset]
            event = decode(value, key, "bench", 0, offset)
            if event.__class__ is not Rejection:
                records.append((event, ("bench", 0, offset), value))
        for _index, out in pipeline.process_batch(records):  # type: ignore[arg-type]
            if out.__class__ is LabelledRecord:
                labelled_json(out)  # type: ignore[arg-type]
            elif out.__class__ is not Rejection:
                drift_event_json(out)  # type: ignore[arg-type]
    return time.perf_counter() - began[0], time.process_time() - began[1]


# -- naive and floor: the same River work, two ways of feeding it --------------------------------

#: Naive's detectors in Driftline's configuration: ADWIN on the score and on each numeric
#: feature, DDM on the error, and no feature watch (no shape, missing-rate or type detectors,
#: no joint signal, no CBPE). What Driftline always does stays on: the label join with its
#: TTL, the alert lifecycle, the rolling performance windows with baseline and threshold
#: alerts, the labelled record, the DLQ and (in the service) exactly-once. The readers
#: ``pipeline_only_naive_work`` and ``driftline_naive_work`` run it, so the cost of the
#: framework and the cost of the default detectors show apart.
NAIVE_WORK_DETECTION: dict[str, Any] = {
    "signals": {"error": [{"type": "ddm"}], "score": [{"type": "adwin"}],
                "feature": [{"type": "adwin"}]},
    "feature_signals": {"numeric": [], "categorical": [], "boolean": [], "joint": None,
                        "cbpe": None},
}



def run_naive(bootstrap: str, topics: TopicNames, total: int) -> Timing:
    """The docs' way: poll one message, json, pydantic, River, produce."""
    adapter: TypeAdapter[Prediction | Label] = TypeAdapter(InputEvent)
    consumer = _consumer(bootstrap)
    consumer.subscribe([topics.predictions])
    producer = Producer({"bootstrap.servers": bootstrap})
    detection = BareDetection()
    n = 0
    began: Timing | None = None
    while n < total:
        msg = consumer.poll(1.0)
        if msg is None or msg.error():
            continue
        if began is None:
            began = (time.perf_counter(), time.process_time())
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
    assert began is not None
    producer.flush(30)
    elapsed = (time.perf_counter() - began[0], time.process_time() - began[1])
    consumer.close()
    return elapsed


def run_floor(bootstrap: str, topics: TopicNames, total: int) -> Timing:
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
    began: Timing | None = None
    while n < total:
        for msg in consumer.consume(1000, timeout=0.5):
            if msg.error():
                continue
            if began is None:
                began = (time.perf_counter(), time.process_time())
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
    assert began is not None
    producer.flush(30)
    elapsed = (time.perf_counter() - began[0], time.process_time() - began[1])
    consumer.close()
    return elapsed


# -- quix streams: naive's work, exactly-once -----------------------------------------------------

QUIX_VENV = Path.home() / ".cache" / "driftline" / "bench-quix-venv"
#: What the Quix venv gets from PyPI (Quix Streams pins its own confluent-kafka and pydantic).
QUIX_PACKAGES = ("quixstreams==3.28.1", f"river=={river.__version__}", "msgspec", "PyYAML")


def quix_python() -> Path:
    """The Python of the Quix Streams venv, made (from PyPI) on first use."""
    return venv_python(QUIX_VENV, QUIX_PACKAGES)


def run_quix(bootstrap: str, topics: TopicNames, total: int, commit_interval_s: float) -> Timing:
    """:mod:`quix_app` in the Quix venv; its own wall and CPU time (getrusage) per run."""
    bench = Path(__file__).resolve().parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(bench), str(bench.parent)])}
    done = subprocess.run(
        [str(quix_python()), str(bench / "quix_app.py"), bootstrap, topics.predictions,
         topics.labelled, topics.drift, topics.dlq, str(total), str(commit_interval_s)],
        env=env, capture_output=True, text=True, timeout=1800, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"quix app failed ({done.returncode}): {done.stderr[-3000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return figures["seconds"], figures["cpu_seconds"]


# -- driftline ---------------------------------------------------------------------------------


def _service(bootstrap: str, topics: TopicNames, detection: dict[str, Any] | None = None,
             consumer: dict[str, Any] | None = None) -> ConsumerService:
    config = ConsumerServiceConfig.model_validate({
        "kafka": {"bootstrap.servers": bootstrap},
        "topics": topics.model_dump(),
        "consumer": {"group_id": f"bench-{uuid.uuid4().hex[:8]}", "instance_id": "bench",
                     "metrics_port": 0, "metrics_host": "127.0.0.1", **(consumer or {})},
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


def run_driftline(bootstrap: str, topics: TopicNames, total: int,
                  consumer: dict[str, Any] | None = None,
                  detection: dict[str, Any] | None = None) -> Timing:
    service = _service(bootstrap, topics, detection=detection, consumer=consumer)
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    while not service.health.ready()[0]:
        _alive(thread)
        time.sleep(0.005)
    began = (time.perf_counter(), time.process_time())
    registry = service.metrics.registry
    while (registry.get_sample_value("driftline_consumer_records_total",
                                     {"partition": "0", "outcome": "consumed"}) or 0) < total:
        _alive(thread)
        time.sleep(0.01)
    while _committed(bootstrap, service.settings.group_id, topics.predictions) < total:
        time.sleep(0.01)
    elapsed = (time.perf_counter() - began[0], time.process_time() - began[1])
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


# -- latency breakdown ---------------------------------------------------------------------------


class Timeline:
    """Where a latency run's time goes, recorded around the service's own steps (patched on the
    classes for the run's duration; every time is ``time.time()``, the clock of ``CreateTime``).

    * per batch: when :meth:`BatchProcessor.process` began (the batch was consumed) and ended,
      and its input offsets;
    * per commit: when :meth:`Checkpointer.commit` began and ended, and when its snapshots, its
      flush, its ``send_offsets`` and its ``commit_transaction`` ended.

    :meth:`stages` maps one output to its path: created → consumed (fetch + batch accumulation)
    → processed → commit begins (waiting for the commit) → committed (the commit's own time) →
    read by the measuring reader (transaction markers + the reader's fetch).
    """

    def __init__(self) -> None:
        self.batches: list[tuple[float, float, int, int]] = []  # began, ended, first, last offset
        self.commits: list[dict[str, float]] = []
        self._current: dict[str, float] | None = None  # the commit under way
        self.consumes: list[tuple[float, float, int]] = []  # began, returned, records
        self.collections: list[tuple[int, float]] = []  # generation, seconds: the GC's pauses
        self._gc_began = 0.0

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_began = time.perf_counter()
        else:
            self.collections.append((info["generation"], time.perf_counter() - self._gc_began))
        self._restore: list[tuple[Any, str, Any]] = []

    def __enter__(self) -> Timeline:
        from consumer.checkpoint import Checkpointer
        from consumer.processing import BatchProcessor
        from consumer.transactions import Transactor

        timeline = self
        process, commit = BatchProcessor.process, Checkpointer.commit

        def timed_process(proc: Any, messages: Any, tasks: Any) -> int:
            began = time.time()
            n = process(proc, messages, tasks)
            offsets = [m.offset() for m in messages if m.error() is None]
            if offsets:
                timeline.batches.append((began, time.time(), min(offsets), max(offsets)))
            return n

        def timed_commit(cp: Any, *args: Any, **kwargs: Any) -> bool:
            record = {"began": time.time()}
            timeline._current = record
            committed = commit(cp, *args, **kwargs)
            record["ended"] = time.time()
            if committed:
                timeline.commits.append(record)
            timeline._current = None
            return committed

        def stamp(name: str, fn: Any) -> Any:
            def stamped(tx: Any, *args: Any, **kwargs: Any) -> Any:
                current = timeline._current
                if current is not None and name == "flushed":
                    current.setdefault("snapshots_done", time.time())
                result = fn(tx, *args, **kwargs)
                if current is not None:
                    current[name] = time.time()
                return result
            return stamped

        import consumer.service as service_module

        make_consumer = service_module.new_consumer

        class TimedConsumer:
            def __init__(self, inner: Any) -> None:
                self._inner = inner

            def __getattr__(self, name: str) -> Any:
                return getattr(self._inner, name)

            def consume(self, *args: Any, **kwargs: Any) -> Any:
                began = time.time()
                messages = self._inner.consume(*args, **kwargs)
                timeline.consumes.append((began, time.time(), len(messages)))
                return messages

        self._restore = [(service_module, "new_consumer", make_consumer),
                         (BatchProcessor, "process", process), (Checkpointer, "commit", commit),
                         (Transactor, "flush", Transactor.flush),
                         (Transactor, "send_offsets", Transactor.send_offsets),
                         (Transactor, "commit", Transactor.commit)]
        service_module.new_consumer = lambda *a, **k: TimedConsumer(  # type: ignore[assignment]
            make_consumer(*a, **k))
        gc.callbacks.append(self._on_gc)
        BatchProcessor.process = timed_process  # type: ignore[method-assign,assignment]
        Checkpointer.commit = timed_commit  # type: ignore[method-assign,assignment]
        Transactor.flush = stamp("flushed", Transactor.flush)  # type: ignore[method-assign]
        Transactor.send_offsets = stamp(  # type: ignore[method-assign]
            "offsets_sent", Transactor.send_offsets)
        Transactor.commit = stamp("committed", Transactor.commit)  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
        for owner, name, fn in self._restore:
            setattr(owner, name, fn)

    def stages(self, offset: int, created: float, arrived: float) -> dict[str, float] | None:
        """Milliseconds of each stage for the output of the input at ``offset``."""
        batch = next((b for b in self.batches if b[2] <= offset <= b[3]), None)
        if batch is None:
            return None
        commit = next((c for c in self.commits if c["began"] >= batch[1]), None)
        if commit is None:
            return None
        snapshots_done = commit.get("snapshots_done", commit["began"])
        return {
            "fetch_and_batch": 1000 * (batch[0] - created),
            "process": 1000 * (batch[1] - batch[0]),
            "wait_for_commit": 1000 * (commit["began"] - batch[1]),
            "commit": 1000 * (commit["ended"] - commit["began"]),
            "commit_snapshots": 1000 * (snapshots_done - commit["began"]),
            "commit_flush": 1000 * (commit.get("flushed", snapshots_done) - snapshots_done),
            "commit_offsets": 1000 * (commit.get("offsets_sent", commit["began"])
                                      - commit.get("flushed", commit["began"])),
            "commit_transaction": 1000 * (commit.get("committed", commit["ended"])
                                          - commit.get("offsets_sent", commit["began"])),
            "visible_to_reader": 1000 * (arrived - commit["ended"]),
        }


# -- latency -----------------------------------------------------------------------------------


def latency_reader(bootstrap: str, topics: list[str], ready: Any, done: Any,
                   arrivals: Any) -> None:
    """(Its own process.) Read ``topics`` ``read_committed`` from the start, one ``poll`` at a
    time (a ``consume(n)`` would wait for n records or its timeout); put the list of (arrival
    time, topic, record) on ``arrivals`` once ``done`` is set."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"lat-{uuid.uuid4().hex}",
                  "isolation.level": "read_committed", "auto.offset.reset": "earliest",
                  "fetch.wait.max.ms": 10})
    c.assign([TopicPartition(topic, 0, 0) for topic in topics])
    seen: list[tuple[float, str | None, Any]] = []
    ready.set()
    while not done.is_set():
        msg = c.poll(0.05)
        if msg is not None and msg.error() is None:
            seen.append((time.time(), msg.topic(), json.loads(msg.value() or b"null")))
    c.close()
    arrivals.put(seen)


def latency_producer(bootstrap: str, topic: str, warm_up_topic: str,
                     items: list[tuple[bytes, bytes]], rate: float, result: Any) -> None:
    """(Its own process.) Produce ``items`` at ``rate`` per second; put the seconds it took.

    First one record to ``warm_up_topic``, flushed: a new idempotent producer holds its first
    records until it has metadata and a producer id (0.5-0.8 s on a busy machine), which
    would be counted as latency (``CreateTime`` is set at ``produce``)."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 1,
                         "enable.idempotence": True})
    producer.produce(warm_up_topic, b"", b"latency-bench-warm-up")
    producer.flush(60)
    began = time.monotonic()
    for i, (key, value) in enumerate(items):
        produce_one(producer, topic, value, key, 0)
        producer.poll(0)
        delay = began + (i + 1) / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    producing_s = time.monotonic() - began
    producer.flush(30)
    result.put(producing_s)


def run_latency(bootstrap: str, rate: float, seconds: float,
                consumer: dict[str, Any] | None = None,
                detection: dict[str, Any] | None = None) -> dict[str, Any]:
    """Latency at ``rate`` events/s for ``seconds``; ``consumer``: ``consumer.*`` settings of
    the service (besides the bench's own), to compare settings side by side; ``detection``:
    ``detection.*`` settings over the pass's own."""
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
    service = _service(bootstrap, topics,
                       {"cooldown_samples": 100, "warmup_samples": 50, **(detection or {})},
                       consumer)
    timeline = Timeline().__enter__()
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    registry = service.metrics.registry
    while not (service.health.ready()[0] and registry.get_sample_value(
            "driftline_consumer_assigned_partitions")):
        _alive(thread)
        time.sleep(0.01)
    time.sleep(1.0)  # its first fetch is positioned: steady state, not the start, is measured
    cpu_began = time.process_time()

    # The producer and the measuring reader run in processes of their own: in this one they
    # took the GIL from the service (the 2026-12-01 runs' p50 of ~280 ms was mostly that).
    spawn = multiprocessing.get_context("spawn")
    done, ready = spawn.Event(), spawn.Event()
    arrivals_queue: Any = spawn.Queue()
    read_process = spawn.Process(target=latency_reader, daemon=True, args=(
        bootstrap, [topics.drift, topics.labelled], ready, done, arrivals_queue))
    read_process.start()
    ready.wait(60)
    producing_queue: Any = spawn.Queue()
    produce_process = spawn.Process(target=latency_producer, daemon=True, args=(
        bootstrap, topics.predictions, topics.dlq, items, rate, producing_queue))
    produce_process.start()
    producing_s = producing_queue.get(timeout=seconds * 4 + 120)
    produce_process.join(30)
    while _committed(bootstrap, service.settings.group_id, topics.predictions) < len(items):
        _alive(thread)
        time.sleep(0.05)
    time.sleep(1.0)
    done.set()
    arrivals: list[tuple[float, str, dict[str, Any]]] = arrivals_queue.get(timeout=60)
    read_process.join(10)
    service.stop()
    thread.join(30)
    cpu_s = time.process_time() - cpu_began
    timeline.__exit__()

    # CreateTime of every input record, by offset and by the label's prediction id.
    c = _consumer(bootstrap, **{"enable.partition.eof": True})
    c.assign([TopicPartition(topics.predictions, 0, 0)])
    created_at: dict[int, float] = {}
    label_at: dict[str, tuple[float, int]] = {}
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
                label_at[json.loads(msg.value())["prediction_id"]] = (ts, msg.offset())
        if eof or not batch:
            break
    c.close()
    # (created, input offset, arrived) of every output read back
    drift = [(created_at[e["source"]["offset"]], e["source"]["offset"], t)
             for t, topic, e in arrivals if topic == topics.drift]
    labelled = [(*label_at[e["prediction_id"]], t)
                for t, topic, e in arrivals if topic == topics.labelled]
    drift_ms = [1000 * (t - c) for c, _, t in drift]
    labelled_ms = [1000 * (t - c) for c, _, t in labelled]

    def pct(values: list[float], q: float) -> float:
        if not values:
            return float("nan")
        return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(
            values) > 1 else values[0]

    def breakdown(outputs: list[tuple[float, int, float]]) -> dict[str, dict[str, float]]:
        """p50 / p99 / max of each stage (:meth:`Timeline.stages`) over ``outputs``."""
        rows = [r for r in (timeline.stages(o, c, t) for c, o, t in outputs) if r is not None]
        if not rows:
            return {}
        return {stage: {"p50": round(pct([r[stage] for r in rows], 50), 1),
                        "p99": round(pct([r[stage] for r in rows], 99), 1),
                        "max": round(max(r[stage] for r in rows), 1)} for stage in rows[0]}

    if os.environ.get("BENCH_TIMELINE"):
        import pickle
        Path(os.environ["BENCH_TIMELINE"]).write_bytes(pickle.dumps(
            (timeline.batches, timeline.commits, created_at, drift, labelled,
             timeline.consumes)))
    commits_ms = [1000 * (c["ended"] - c["began"]) for c in timeline.commits]
    return {"rate": rate, "achieved_rate": len(items) / producing_s, "events": len(items),
            "consumer": consumer or {}, "detection": detection or {},
            "cpu_us_per_event": round(cpu_s / len(items) * 1e6, 2),
            "drift_events": len(drift_ms),
            "drift_p50_ms": pct(drift_ms, 50), "drift_p99_ms": pct(drift_ms, 99),
            "labelled_records": len(labelled_ms),
            "labelled_p50_ms": pct(labelled_ms, 50), "labelled_p99_ms": pct(labelled_ms, 99),
            "commits": len(commits_ms), "commit_p50_ms": round(pct(commits_ms, 50), 1),
            "commit_p99_ms": round(pct(commits_ms, 99), 1),
            "batches": len(timeline.batches),
            "gc_pauses": {f"gen{g}": {"n": sum(1 for gen, _ in timeline.collections if gen == g),
                                      "max_ms": round(1000 * max(
                                          (t for gen, t in timeline.collections if gen == g),
                                          default=0.0), 1)} for g in range(3)},
            "drift_breakdown_ms": breakdown(drift), "labelled_breakdown_ms": breakdown(labelled)}


# -- scale: tracked keys, memory per key, restore ------------------------------------------------


def _rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def scale_records(keys: int, rounds: int = 3, first_round: int = 0,
                  ) -> list[tuple[Any, tuple[str, int, int], None]]:
    """``rounds`` × (a prediction for every key, then its label); keys are (model, v1, segment),
    100 segments per model; each prediction has one numeric feature and a score. Rounds are
    numbered from ``first_round`` (a long stream in pieces: ids, offsets and times go on)."""
    from datetime import UTC, datetime, timedelta

    from detectors.events import InputLabel, InputPrediction

    models = max(1, keys // 100)
    base = datetime(2024, 1, 1, tzinfo=UTC)
    records: list[tuple[Any, tuple[str, int, int], None]] = []
    n = 2 * keys * first_round
    for r in range(first_round, first_round + rounds):
        for k in range(keys):
            records.append((InputPrediction(
                prediction_id=f"{k}-{r}", model_id=f"m{k % models}", model_version="v1",
                segment=f"s{k // models}", timestamp=base + timedelta(milliseconds=n),
                features={"x": (k * 7 + r) % 13 / 13}, score=(k % 10) / 10,
                prediction=k % 2 == 0), ("bench", 0, n), None))
            n += 1
        for k in range(keys):
            records.append((InputLabel(
                prediction_id=f"{k}-{r}", model_id=f"m{k % models}",
                timestamp=base + timedelta(milliseconds=n), label=(k + r) % 3 == 0),
                ("bench", 0, n), None))
            n += 1
    return records


#: Predictions (each then labelled) per key before memory is measured.
MEMORY_ROUNDS = 3
#: Exactly three detectors per key (the issue's scale setup): ADWIN on the feature ``x``, ADWIN
#: on the score, DDM on the error. Everything else that is on by default is off: the feature
#: watch (windowed feature detectors, the joint signal, CBPE) and the F1 baseline alert (the
#: rolling performance window stays: it is not a detector). :data:`SCALE_CONFIGS` also measures
#: the default configuration (``DetectionConfig()``: ADWIN on error, score and each feature,
#: the feature watch, CBPE and the F1 baseline) beside it.
SCALE_DETECTION = {**NAIVE_WORK_DETECTION, "performance_baseline": {"metrics": []}}
SCALE_CONFIGS: dict[str, dict[str, Any]] = {"three_detectors": SCALE_DETECTION, "default": {}}


def _monitors(pipeline: Any) -> list[Any]:
    tracked: list[tuple[str, str, str | None]] = pipeline.keys()
    return [pipeline.monitor(*key) for key in tracked]


def _detectors(monitor: Any) -> int:
    """Detectors of one key: its watchers, CBPE and the baseline alerts."""
    watch = monitor.feature_watch
    alerts = monitor.alerts
    return (len(monitor.watchers()) + (watch is not None and watch.cbpe is not None)
            + (len(alerts.baselines) if alerts is not None else 0))


def deep_size(root: Any, skip: tuple[type, ...] = ()) -> int:
    """Bytes of the Python objects reachable from ``root`` (containers, slots, ``__dict__``),
    each counted once; classes, modules, functions and instances of ``skip`` are not."""
    seen: set[int] = set()
    stack = [root]
    total = 0
    skip = (type, type(sys), type(deep_size), type(len), *skip)
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, skip):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        if isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, list | tuple | set | frozenset | collections.deque):
            stack.extend(obj)
        else:
            for cls in type(obj).__mro__:
                for name in getattr(cls, "__slots__", ()):
                    if hasattr(obj, name) and name not in ("__weakref__", "__dict__"):
                        stack.append(getattr(obj, name))
            if hasattr(obj, "__dict__"):
                stack.append(vars(obj))
    return total


def _join_bytes(pipeline: Any) -> int:
    """Bytes of the join's entries (pending predictions and their tombstones, waiting labels,
    their FIFOs and their per-model segments): what the join keeps, which scales with the predictions within
    ``join_ttl_s``, not with the keys. Strings are left out: the prediction ids are the
    records' (made before the resident set's growth is measured), as in the service they are
    the decoded messages'."""
    join = pipeline.join
    return deep_size([join._pending, join._waiting, join._pending_fifo, join._waiting_fifo,
                      join._models], skip=(str,))


def scale_child(keys: int, bootstrap: str | None, detection: str = "three_detectors",
                rounds: int = MEMORY_ROUNDS) -> dict[str, Any]:
    """One scale point, in a fresh process (so the resident-set growth is this state's).

    ``detection`` names the configuration (:data:`SCALE_CONFIGS`). Memory: every key fed
    ``rounds`` (:data:`MEMORY_ROUNDS`) predictions and their labels (its detectors and windows
    created),
    resident-set growth / keys; the joined predictions' tombstones (kept until ``join_ttl_s``)
    are part of it. Throughput: a fresh pipeline fed at least 200 000 events over the same
    keys. With ``bootstrap``, the restore of the state from a state topic too."""
    from consumer.state_store import StateStore
    from detectors.config import DetectionConfig
    from detectors.pipeline import Pipeline

    tune_gc()
    models = max(1, keys // 100)  # as scale_records
    config = DetectionConfig.model_validate({**SCALE_CONFIGS[detection],
                                             "max_tracked_keys": keys + 1})
    records = scale_records(keys, rounds)
    gc.collect()
    before = _rss()
    pipeline = Pipeline(config)
    for start in range(0, len(records), 1000):
        pipeline.process_batch(records[start:start + 1000])
    gc.collect()
    grown = _rss() - before
    tombstones = len(pipeline.join._pending)
    join_bytes = _join_bytes(pipeline)
    del records
    busy = Pipeline(config)
    records = scale_records(keys, max(rounds, 100_000 // keys))
    began = (time.perf_counter(), time.process_time())
    for start in range(0, len(records), 1000):
        busy.process_batch(records[start:start + 1000])
    wall, cpu = time.perf_counter() - began[0], time.process_time() - began[1]
    n = len(records)
    del busy, records
    snapshots = {m: pipeline.snapshot_model(m) for m in pipeline.model_ids()}
    out: dict[str, Any] = {
        "keys": len(pipeline.keys()), "events": n, "events_per_s": round(n / wall),
        "cpu_us_per_event": round(cpu / n * 1e6, 2),
        "rss_bytes_per_key": round(grown / keys), "join_tombstones": tombstones,
        "join_bytes_per_key": round(join_bytes / keys),
        "rss_bytes_per_key_without_join": round((grown - join_bytes) / keys),
        "snapshot_bytes_per_key": round(sum(map(len, snapshots.values())) / keys),
        "models": len(snapshots), "detection": detection, "rounds": rounds,
        "detectors_per_key": sum(map(_detectors, _monitors(pipeline))) / keys,
        "code": str(Path(sys.modules["detectors"].__file__ or "").parent.parent)}
    out.update(decode_figures(snapshots, config))
    if bootstrap is not None:
        topics = make_topics(bootstrap, f"state{keys}")
        store = StateStore({"bootstrap.servers": bootstrap}, topic=topics.state,
                           group_id="bench-restore", state_partitions=1, timeout_s=300)
        producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20,
                             "message.max.bytes": 1_000_000, "enable.idempotence": True})
        for model_id, payload in snapshots.items():
            for key, value in store.snapshot(0, model_id, payload, {"bench": 0}):
                produce_one(producer, topics.state, value, key, 0)
        producer.flush(120)
        del pipeline, snapshots
        gc.collect()
        out.update(restore_figures(bootstrap, topics.state, config, models))
    return out


def decode_figures(snapshots: dict[str, bytes], config: Any) -> dict[str, Any]:
    """In memory, no broker: CPU seconds to restore every model's snapshot eagerly (every key
    decoded) into a fresh pipeline."""
    from detectors.pipeline import Pipeline

    fresh = Pipeline(config)
    gc.collect()
    began = time.process_time()
    for model_id, payload in snapshots.items():
        fresh.restore_model(model_id, payload)
    return {"decode_cpu_s": round(time.process_time() - began, 3)}


def restore_figures(bootstrap: str, state_topic: str, config: Any, models: int
                    ) -> dict[str, Any]:
    """Restore of a state partition as the service does it (:class:`PartitionRestorer`: the
    state topic read, then every model restored lazily): wall and CPU seconds until ready to
    consume. Then the first event of each model (its keys decoded then: the cost moved out of
    the restore), and, for comparison, an eager restore of the same bytes."""
    from datetime import UTC, datetime

    from consumer.state_store import StateStore
    from detectors.events import InputPrediction
    from detectors.pipeline import Pipeline

    reader = StateStore({"bootstrap.servers": bootstrap}, topic=state_topic,
                        group_id="bench-restore", state_partitions=1, timeout_s=300)
    fresh = Pipeline(config)
    began = (time.perf_counter(), time.process_time())
    restored = reader.restore(0)
    read = (time.perf_counter(), time.process_time())
    for model_id, model in restored.models.items():
        fresh.restore_model(model_id, model.payload, lazy=True)
    ready = (time.perf_counter(), time.process_time())
    out: dict[str, Any] = {
        "restore_s": round(ready[0] - began[0], 2), "restore_cpu_s": round(ready[1] - began[1], 2),
        "restore_read_s": round(read[0] - began[0], 2),
        "restored_keys": len(fresh.keys()), "restored_models": len(restored.models)}
    when = datetime(2024, 1, 2, tzinfo=UTC)
    touches = []
    for i in range(models):  # one prediction of an existing key per model
        record = (InputPrediction(
            prediction_id=f"touch-{i}", model_id=f"m{i}", model_version="v1", segment="s0",
            timestamp=when, features={"x": 0.5}, score=0.5, prediction=True),
            ("bench", 0, i), None)
        t = time.perf_counter()
        fresh.process_batch([record])
        touches.append(time.perf_counter() - t)
    out["first_event_ms_p50"] = round(1000 * statistics.median(touches), 2)
    out["first_event_ms_max"] = round(1000 * max(touches), 2)
    out["first_events_total_s"] = round(sum(touches), 2)
    del fresh
    gc.collect()
    eager = Pipeline(config)
    began = (time.perf_counter(), time.process_time())
    for model_id, model in restored.models.items():
        eager.restore_model(model_id, model.payload)
    out["eager_decode_s"] = round(time.perf_counter() - began[0], 2)
    out["eager_decode_cpu_s"] = round(time.process_time() - began[1], 2)
    return out


def run_scale(keys: int, bootstrap: str | None,
              detection: str = "three_detectors") -> dict[str, Any]:
    bench = Path(__file__).resolve().parent
    args = [sys.executable, str(Path(__file__).resolve()), "--scale-child", str(keys),
            "--scale-detection", detection]
    if bootstrap is not None:
        args += ["--bootstrap", bootstrap]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(bench), str(bench.parent)])}
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=3600,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"scale {keys} failed: {done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", help="existing broker (default: start a local one)")
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--latency-rate", type=float, default=10_000.0)
    parser.add_argument("--latency-seconds", type=float, default=15.0)
    parser.add_argument("--latency-warm-up-seconds", type=float, default=5.0,
                        help="an unmeasured latency pass first, so a fresh broker is warm "
                             "(0: none)")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--processes", type=int, default=0, metavar="N",
                        help="also time N driftline consume processes on N partitions against "
                             "one process on one partition")
    parser.add_argument("--scale", default="1,1000,100000",
                        help="tracked-key counts for the scale runs ('' skips them)")
    parser.add_argument("--no-quix", action="store_true", help="skip the Quix Streams reader")
    parser.add_argument("--readers", default="all",
                        help="comma-separated readers to run (default all; '' none: for "
                             "developing the scale or latency parts)")
    parser.add_argument("--latency-consumer", action="append", type=json.loads, default=[],
                        metavar="JSON",
                        help="also run the latency part with these consumer.* settings, e.g. "
                             "'{\"commit_interval_ms\": 50}' (repeatable; the defaults run first)")
    parser.add_argument("--latency-detection", type=json.loads, default=None, metavar="JSON",
                        help="detection.* settings of the latency passes, e.g. "
                             "'{\"join_ttl_s\": 5}'")
    parser.add_argument("--driftline-consumer", action="append", type=json.loads, default=[],
                        metavar="JSON",
                        help="also run the Driftline reader with these consumer.* settings "
                             "(repeatable), e.g. '{\"commit_on_catch_up\": false}'")
    parser.add_argument("--scale-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--scale-detection", default="three_detectors", choices=SCALE_CONFIGS,
                        help=argparse.SUPPRESS)
    parser.add_argument("--scale-rounds", type=int, default=MEMORY_ROUNDS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.scale_child is not None:
        print(json.dumps(scale_child(args.scale_child, args.bootstrap, args.scale_detection,
                                     args.scale_rounds)))
        return 0
    broker = None
    bootstrap = args.bootstrap
    if bootstrap is None:
        from driftline.dev.local_broker import LocalKafka

        broker = LocalKafka(directory=Path(tempfile.mkdtemp(prefix="bench-kafka-")))
        bootstrap = broker.start()
    try:
        return _run(args, bootstrap)
    finally:
        if broker is not None:
            broker.stop()


def _run(args: argparse.Namespace, bootstrap: str) -> int:
    topics = make_topics(bootstrap, "tput")
    items = events(args.events)
    produce_s = produce_all(bootstrap, topics.predictions, items)
    total = len(items)
    print(f"{total} events ({sum(len(v) for _, v in items) / total:.0f} B avg) produced in "
          f"{produce_s:.1f}s", flush=True)
    print(json.dumps(machine()), flush=True)
    results: dict[str, Any] = {"machine": machine(), "events": total, "readers": {},
                               "load_average_at_start": list(os.getloadavg())}
    interval_s = ConsumerServiceConfig.model_validate(
        {"kafka": {"bootstrap.servers": bootstrap}}).consumer.commit_interval_ms / 1000
    readers: list[tuple[str, Any]] = [
        ("pipeline_only", lambda: run_pipeline_only(items)),
        ("pipeline_only_naive_work", lambda: run_pipeline_only(
            items, config=DetectionConfig.model_validate(NAIVE_WORK_DETECTION))),
        ("raw_bytes", lambda: run_raw(bootstrap, topics.predictions, total)),
        ("raw_json", lambda: run_raw(bootstrap, topics.predictions, total, json.loads)),
        ("raw_msgspec", lambda: run_raw(bootstrap, topics.predictions, total,
                                        msgspec.json.Decoder().decode)),
        ("naive", lambda: run_naive(bootstrap, topics, total)),
        ("floor", lambda: run_floor(bootstrap, topics, total)),
    ]
    if not args.no_quix:
        readers.append(("quix", lambda: run_quix(bootstrap, topics, total, interval_s)))
    readers.append(("driftline", lambda: run_driftline(bootstrap, topics, total)))
    readers.append(("driftline_naive_work", lambda: run_driftline(
        bootstrap, topics, total, detection=NAIVE_WORK_DETECTION)))
    for variant in args.driftline_consumer:
        readers.append((f"driftline {json.dumps(variant)}",
                        lambda v=variant: run_driftline(bootstrap, topics, total, v)))
    if args.readers != "all":
        wanted = set(filter(None, args.readers.split(",")))
        readers = [(name, fn) for name, fn in readers if name.split(" ")[0] in wanted]
    for name, fn in readers:
        gc.collect()
        seconds, cpu = fn()
        figures = {"seconds": round(seconds, 3), "events_per_s": round(total / seconds),
                   "cpu_us_per_event": round(cpu / total * 1e6, 2)}
        results["readers"][name] = figures
        print(f"{name:26s} {figures['events_per_s']:>10,} events/s  "
              f"{figures['cpu_us_per_event']:6.2f} CPU us/event  ({seconds:.2f}s)", flush=True)
    r = results["readers"]
    if {"driftline", "naive", "raw_json", "pipeline_only", "floor"} <= set(r):
        _ratios(results)
    _scale_and_latency(args, bootstrap, items, results)
    results["load_average_at_end"] = list(os.getloadavg())
    print(f"load average at start {results['load_average_at_start']}, at end "
          f"{results['load_average_at_end']}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


def _ratios(results: dict[str, Any]) -> None:
    r = results["readers"]
    ours = r["driftline"]
    ratios = {
        "driftline_vs_naive_events": round(ours["events_per_s"] / r["naive"]["events_per_s"], 2),
        "driftline_vs_naive_cpu": round(ours["cpu_us_per_event"] / r["naive"]["cpu_us_per_event"],
                                        2),
        "driftline_vs_raw_json_events": round(
            ours["events_per_s"] / r["raw_json"]["events_per_s"], 2),
        "driftline_vs_pipeline_only_events": round(
            ours["events_per_s"] / r["pipeline_only"]["events_per_s"], 2),
        "floor_vs_naive_events": round(r["floor"]["events_per_s"] / r["naive"]["events_per_s"],
                                       2),
    }
    if "driftline_naive_work" in r:
        same = r["driftline_naive_work"]
        ratios["driftline_naive_work_vs_naive_events"] = round(
            same["events_per_s"] / r["naive"]["events_per_s"], 2)
        ratios["driftline_naive_work_vs_naive_cpu"] = round(
            same["cpu_us_per_event"] / r["naive"]["cpu_us_per_event"], 2)
    if "quix" in r:
        ratios["driftline_vs_quix_cpu"] = round(
            ours["cpu_us_per_event"] / r["quix"]["cpu_us_per_event"], 2)
    results["ratios"] = ratios
    print(f"driftline / naive: {ratios['driftline_vs_naive_events']}x events/s (goal >= 2.5), "
          f"{ratios['driftline_vs_naive_cpu']}x CPU per event (goal <= 0.4); "
          f"driftline / raw+json.loads: {ratios['driftline_vs_raw_json_events']}x (goal >= 0.8); "
          f"pipeline_only {r['pipeline_only']['cpu_us_per_event']} CPU us/event (goal <= 3)",
          flush=True)
    if "driftline_naive_work_vs_naive_events" in ratios:
        print(f"with naive's detectors only: driftline / naive "
              f"{ratios['driftline_naive_work_vs_naive_events']}x events/s, "
              f"{ratios['driftline_naive_work_vs_naive_cpu']}x CPU per event", flush=True)


def _scale_and_latency(args: argparse.Namespace, bootstrap: str,
                       items: list[tuple[bytes, bytes]], results: dict[str, Any]) -> None:
    total = len(items)
    if args.scale:
        results["scale"] = {}
        counts = [int(k) for k in args.scale.split(",") if k]
        for keys, detection in [(k, d) for d in SCALE_CONFIGS for k in counts]:
            restore = detection == "three_detectors" and keys == max(counts)
            point = run_scale(keys, bootstrap if restore else None, detection)
            results["scale"].setdefault(detection, {})[str(keys)] = point
            print(f"scale {keys:>7,} keys, {detection} ({point['detectors_per_key']:.2f} "
                  f"detectors/key): {point['events_per_s']:>8,} events/s, "
                  f"{point['cpu_us_per_event']} CPU us/event, {point['rss_bytes_per_key']:,} B "
                  f"resident per key, {point['snapshot_bytes_per_key']:,} B snapshot per key"
                  + (f"; restore of {point['restored_keys']:,} keys from the state topic: "
                     f"ready to consume in {point['restore_s']} s ({point['restore_cpu_s']} s "
                     f"CPU; state topic read {point['restore_read_s']} s), then each model's "
                     f"first event {point['first_event_ms_p50']} ms p50, "
                     f"{point['first_event_ms_max']} ms max, {point['first_events_total_s']} s "
                     f"over all {point['restored_models']:,} models; eager decode of the same "
                     f"{point['eager_decode_s']} s ({point['eager_decode_cpu_s']} s CPU)"
                     if "restore_s" in point else ""), flush=True)
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
    if args.latency_seconds > 0:
        if args.latency_warm_up_seconds > 0:
            # A broker fresh from its start (a latency-only run) is a cold JVM, and its first
            # transactions create the coordinator's state: its first commits took 0.8-1.2 s
            # each, a backlog the measured pass then spent its 15 s draining. One unmeasured pass
            # first, as a long-running broker would be.
            warm = run_latency(bootstrap, args.latency_rate, args.latency_warm_up_seconds)
            results["latency_warm_up"] = {k: warm[k] for k in (
                "events", "drift_p50_ms", "drift_p99_ms", "commit_p50_ms", "commit_p99_ms")}
            print(f"latency warm-up pass ({args.latency_warm_up_seconds:g} s, not the "
                  f"measurement): drift events p50={warm['drift_p50_ms']:.0f} ms "
                  f"p99={warm['drift_p99_ms']:.0f} ms", flush=True)
        for consumer in [None, *args.latency_consumer]:
            latency = run_latency(bootstrap, args.latency_rate, args.latency_seconds, consumer,
                                  args.latency_detection)
            if consumer is None:
                results["latency"] = latency
            else:
                results.setdefault("latency_variants", []).append(latency)
            _print_latency(latency)


def _print_latency(latency: dict[str, Any]) -> None:
    print(f"latency at {latency['rate']:.0f} events/s (achieved {latency['achieved_rate']:.0f}), "
          f"consumer {json.dumps(latency['consumer'])}: drift events n={latency['drift_events']} "
          f"p50={latency['drift_p50_ms']:.0f} ms p99={latency['drift_p99_ms']:.0f} ms; labelled "
          f"records n={latency['labelled_records']} p50={latency['labelled_p50_ms']:.0f} ms "
          f"p99={latency['labelled_p99_ms']:.0f} ms; {latency['commits']} commits (p50 "
          f"{latency['commit_p50_ms']} ms, p99 {latency['commit_p99_ms']} ms), "
          f"{latency['batches']} batches, {latency['cpu_us_per_event']} CPU us/event (the "
          f"service's process); GC pauses {json.dumps(latency['gc_pauses'])}", flush=True)
    for what in ("drift", "labelled"):
        stages = latency[f"{what}_breakdown_ms"]
        print(f"  {what} ms, p50 / p99 / max: " + ", ".join(
            f"{stage} {v['p50']:.0f}/{v['p99']:.0f}/{v['max']:.0f}"
            for stage, v in stages.items()), flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
