"""The closed-loop demo: a model serves, drift hits, the worker retrains, the server hot-swaps.

Contract of :func:`run_demo`:

1. Kafka is the one given (``bootstrap``) or a local single-node broker started from the Maven
   jars (:class:`driftline.dev.local_broker.LocalKafka`) and stopped at the end.
2. Topics get a fresh prefix per run; ``driftline consume`` and ``driftline retrain-worker`` run
   as child processes on a generated config file, and are stopped with SIGTERM at the end.
3. The demo's :class:`ModelServer` serves a model trained on the *old* concept (version ``v1``)
   to a :class:`World` whose true concept turns by ``rotation`` degrees at ``drift_at``. It
   produces each prediction (event time = now) and its label ``label_delay`` samples later.
4. It reads the drift and retrain topics; on a ``promoted`` retrain event it loads the new
   artifact from the registry and serves it from the next prediction on, under the new
   ``model_version`` (so the consumer re-baselines that version's detectors).
5. Serving goes on past ``samples`` (up to ``max_samples``, 3 × ``samples`` by default) until a
   promoted model has served ``tail`` predictions, so the recovery is on the plot however slow
   the machine is (the pipeline runs at its own pace; the demo serves at ``rate``).
6. A live line shows progress, version, rolling accuracy, drift events and retrains; at the end a
   PNG plots rolling accuracy over time with markers for the injected drift, the detections and
   the promotions. :class:`DemoResult` says what happened.

The world and the first model (pure, seeded):

>>> world, server = World(drift_at=100, seed=3), ModelServer()
>>> before = [server.predict(world.sample(i)[0])[0] == world.sample(i)[1] for i in range(100)]
>>> after = [server.predict(world.sample(i)[0])[0] == world.sample(i)[1] for i in range(100, 200)]
>>> sum(before), sum(after)
(98, 46)
"""

from __future__ import annotations

import json
import math
import pickle
import random
import sys
import tempfile
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

import yaml

_BASE_ANGLE = math.pi / 4
FEATURES = ("f0", "f1", "f2")


@dataclass
class World:
    """The population the model serves: f0, f1, f2 ~ N(0, 1); the label is the side of a line in
    the (f0, f1) plane, which turns by ``rotation`` degrees at sample ``drift_at``; labels are
    flipped with probability ``noise``. Sample ``i`` is the same on every call."""

    drift_at: int
    rotation: float = 90.0
    noise: float = 0.05
    seed: int = 0

    def sample(self, i: int) -> tuple[dict[str, float], int]:
        rng = random.Random(f"{self.seed}:{i}")
        features = {name: round(rng.gauss(0.0, 1.0), 4) for name in FEATURES}
        angle = _BASE_ANGLE + (math.radians(self.rotation) if i >= self.drift_at else 0.0)
        truth = int(math.cos(angle) * features["f0"] + math.sin(angle) * features["f1"] > 0)
        if rng.random() < self.noise:
            truth = 1 - truth
        return features, truth


class ModelServer:
    """Serves one model at a time; :meth:`swap` replaces it (between two predictions).

    Version ``v1`` is the old concept's own boundary; later versions are the retrain worker's
    artifacts (a pickled model with ``predict_proba`` or ``predict`` over ``feature_names``)."""

    def __init__(self) -> None:
        self.version = "v1"
        self._model: Any = None

    def swap(self, version: str, artifact: bytes) -> None:
        self._model = pickle.loads(artifact)
        self.version = version

    def predict(self, features: dict[str, float]) -> tuple[int, float]:
        if self._model is None:
            margin = math.cos(_BASE_ANGLE) * features["f0"] + math.sin(_BASE_ANGLE) * features["f1"]
            score = 1.0 / (1.0 + math.exp(-2.0 * margin))
            return int(score >= 0.5), round(score, 4)
        import numpy as np

        names = list(getattr(self._model, "feature_names", FEATURES))
        row = np.array([[float(features.get(n, 0.0)) for n in names]])
        if hasattr(self._model, "predict_proba"):
            classes = [int(c) for c in getattr(self._model, "classes", [0, 1])]
            proba = self._model.predict_proba(row)[0]
            score = float(proba[classes.index(1)]) if 1 in classes else float(max(proba))
            return int(score >= 0.5), round(score, 4)
        prediction = int(self._model.predict(row)[0])
        return prediction, float(prediction)


@dataclass
class DemoResult:
    samples: int
    drift_at: int
    #: Sample index at which the demo saw each drift event (from the drift topic).
    detections: list[tuple[int, str]] = field(default_factory=list)
    #: (sample index, new version) of each hot swap.
    swaps: list[tuple[int, str]] = field(default_factory=list)
    retrain_statuses: list[str] = field(default_factory=list)
    correct: list[bool] = field(default_factory=list)
    plot: Path | None = None

    def accuracy(self, start: int, stop: int) -> float:
        window = self.correct[start:stop]
        return sum(window) / len(window) if window else float("nan")


def stack_config(bootstrap: str, prefix: str, workdir: Path) -> dict[str, Any]:
    """The demo stack's ``driftline.yaml`` as a dict: topics named ``<prefix>.<name>``, one
    partition, ephemeral metrics ports, a worker policy tuned to retrain within seconds."""
    topics = {name: f"{prefix}.{name}" for name in
              ("predictions", "labels", "drift", "triggers", "retrain", "labelled", "state", "dlq")}
    return {
        "kafka": {"bootstrap.servers": bootstrap},
        "topics": topics,
        "topic_layout": {"partitions": 1, "replication_factor": 1},
        "consumer": {"group_id": f"{prefix}-consumer", "metrics_port": 0, "commit_interval_ms": 200,
                     "model_gauges_interval_s": 1.0},
        "worker": {
            "group_id": f"{prefix}-retrain",
            "metrics_port": 0,
            "registry_root": str(workdir / "models"),
            "commit_interval_s": 1.0,
            "policy": {
                "episode_window_s": 2.0,
                "cooldown_s": 60.0,
                "min_new_samples": 100,
                "checks": {"min_samples": 500},
                # the window starts at the change point; the retrain waits for its labels and
                # is followed up as they grow (checked every second or two, for the demo)
                "deferral": {"recheck_s": 1.0},
                "follow_up": {"recheck_s": 2.0},
            },
        },
    }


def _status_line(i: int, result: DemoResult, version: str, total: int) -> str:
    recent = result.accuracy(max(0, i - 200), i)
    return (f"sample {i:>6}/{total}  model {version:<24}  accuracy(last 200) {recent:5.1%}  "
            f"drift events {len(result.detections):>2}  retrains {len(result.swaps):>2}")


def plot_accuracy(result: DemoResult, path: Path, window: int = 200) -> Path:
    """Rolling accuracy over the sample index, with drift and retrain markers, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    acc: list[float] = []
    running: deque[bool] = deque(maxlen=window)
    for ok in result.correct:
        running.append(ok)
        acc.append(sum(running) / len(running))
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.plot(range(len(acc)), acc, color="tab:blue", label=f"accuracy (last {window})")
    ax.axvline(result.drift_at, color="gray", linestyle="--", label="drift injected")
    for n, (i, _signal) in enumerate(result.detections):
        ax.axvline(i, color="tab:red", linestyle=":", label="drift detected" if n == 0 else None)
    for n, (i, version) in enumerate(result.swaps):
        ax.axvline(i, color="tab:green", label="retrained model served" if n == 0 else None)
        ax.annotate(version, (i, 0.02), rotation=90, fontsize=7, color="tab:green")
    ax.set_ylim(0, 1)
    ax.set_xlabel("prediction")
    ax.set_ylabel("accuracy")
    ax.set_title("Driftline demo: drift, detection, retrain, recovery")
    ax.legend(loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def run_demo(
    *,
    bootstrap: str | None = None,
    samples: int = 6000,
    drift_at: int = 2000,
    rate: float = 100.0,
    label_delay: int = 50,
    model_id: str = "demo",
    plot: Path | None = Path("driftline-demo.png"),
    workdir: Path | None = None,
    seed: int = 0,
    out: Any = sys.stderr,
    tail: int = 1500,
    max_samples: int | None = None,
) -> DemoResult:
    """Run the closed loop; see the module docstring."""
    max_samples = max(samples, max_samples if max_samples is not None else 3 * samples)
    from confluent_kafka import Consumer, Producer

    from consumer.config import TopicLayout, TopicNames
    from consumer.topics import create_topics
    from detectors.contracts import DriftEvent, Label, Prediction
    from driftline.dev.local_broker import LocalKafka
    from driftline.dev.services import ServiceProcess
    from retrain_worker.contracts import RetrainEvent

    workdir = Path(workdir or tempfile.mkdtemp(prefix="driftline-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    broker = None
    if bootstrap is None:
        broker = LocalKafka(directory=workdir / "kafka")
        print("starting a local Kafka broker ...", file=out)
        bootstrap = broker.start()
    services: list[ServiceProcess] = []
    try:
        prefix = f"driftline-demo-{uuid.uuid4().hex[:8]}"
        config = stack_config(bootstrap, prefix, workdir)
        config_path = workdir / "driftline.yaml"
        config_path.write_text(yaml.safe_dump(config))
        names = TopicNames(**config["topics"])
        create_topics({"bootstrap.servers": bootstrap}, names, TopicLayout(partitions=1))
        services.append(ServiceProcess("consume", config_path, workdir / "consumer.log").start())
        services.append(
            ServiceProcess("retrain-worker", config_path, workdir / "worker.log").start())
        print(f"consumer and retrain worker started (logs in {workdir})", file=out)

        producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
        reader = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{prefix}-demo",
                           "auto.offset.reset": "earliest", "isolation.level": "read_committed"})
        reader.subscribe([names.drift, names.retrain])
        world, server = World(drift_at=drift_at, seed=seed), ModelServer()
        result = DemoResult(samples=samples, drift_at=drift_at)
        pending: deque[tuple[int, Label]] = deque()
        tty = hasattr(out, "isatty") and out.isatty()
        began = time.monotonic()
        served = samples  # grows while the loop has not closed yet (see ``tail``)
        closing = False  # serving is over: the last labels go out, then the demo ends
        i = -1
        while True:
            i += 1
            if i >= served and not closing:
                closing = served >= max_samples or bool(
                    result.swaps and served - result.swaps[-1][0] >= tail)
                if not closing:
                    served += 1  # no promoted model has served ``tail`` samples yet: go on
            if closing and i >= served + label_delay:
                break
            if i < served:
                features, truth = world.sample(i)
                prediction, score = server.predict(features)
                now = datetime.now(UTC)
                pid = f"{model_id}-{i:08d}"
                event = Prediction(prediction_id=pid, model_id=model_id,
                                   model_version=server.version, timestamp=now,
                                   features=dict(features), prediction=prediction, score=score)
                producer.produce(names.predictions, key=model_id, value=event.model_dump_json())
                result.correct.append(prediction == truth)
                pending.append((i + label_delay, Label(prediction_id=pid, model_id=model_id,
                                                       timestamp=now, label=truth)))
            while pending and pending[0][0] <= i:
                _, label = pending.popleft()
                label = label.model_copy(update={"timestamp": datetime.now(UTC)})
                producer.produce(names.labels, key=model_id, value=label.model_dump_json())
            producer.poll(0)
            for msg in reader.consume(100, timeout=0):
                if msg.error() is not None or msg.value() is None:
                    continue
                if msg.topic() == names.drift:
                    drift = DriftEvent.model_validate_json(msg.value() or b"")
                    if drift.severity == "drift":
                        result.detections.append((i, drift.signal))
                        print(f"\n[drift] sample {i}: {drift.signal} ({drift.detector}) on "
                              f"{drift.model_version}", file=out)
                else:
                    retrain = RetrainEvent.model_validate_json(msg.value() or b"")
                    result.retrain_statuses.append(retrain.status)
                    print(f"\n[retrain] sample {i}: {retrain.status} {retrain.new_version or ''} "
                          f"({retrain.reason})", file=out)
                    if retrain.status == "promoted" and retrain.artifact_uri and retrain.new_version:
                        path = Path(url2pathname(urlparse(retrain.artifact_uri).path))
                        server.swap(retrain.new_version, path.read_bytes())
                        result.swaps.append((i, retrain.new_version))
            if i % 100 == 0 and i <= served:
                line = _status_line(min(i, served), result, server.version, served)
                print(("\r" + line) if tty else line, end="" if tty else "\n", file=out, flush=True)
                for service in services:
                    if service.poll() is not None:
                        raise RuntimeError(f"driftline {service.command} exited with "
                                           f"{service.poll()}; see the logs in {workdir}")
            delay = began + (i + 1) / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        result.samples = served
        producer.flush(10)
        reader.close()
        del producer, reader  # release the clients before the broker stops
        print("", file=out)
        if plot is not None:
            result.plot = plot_accuracy(result, plot)
            print(f"plot written to {plot}", file=out)
        summary = {
            # the whole span before the drift: a 500-prediction window's label noise alone
            # moves it by about 0.01 (the pre-drift level, not a lucky or unlucky window)
            "accuracy_before_drift": round(result.accuracy(0, drift_at), 3),
            "accuracy_after_drift": round(result.accuracy(drift_at, drift_at + 200), 3),
            "accuracy_at_end": round(result.accuracy(served - 500, served), 3),
            "samples": served,
            "drift_detected_at": [i for i, _ in result.detections],
            "swaps": result.swaps,
        }
        print(json.dumps(summary), file=out)
        return result
    finally:
        for service in services:
            service.stop(timeout_s=30)
        if broker is not None:
            broker.stop()


__all__ = ["DemoResult", "ModelServer", "World", "plot_accuracy", "run_demo", "stack_config"]
