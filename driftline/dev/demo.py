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
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse
from urllib.request import url2pathname

import yaml

if TYPE_CHECKING:
    from detectors.contracts import DriftEvent

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
        features, truth, flipped = self._draw(i)
        return features, 1 - truth if flipped else truth

    def flipped(self, i: int) -> bool:
        """Whether sample ``i``'s label is flipped (the noise no model can learn)."""
        return self._draw(i)[2]

    def _draw(self, i: int) -> tuple[dict[str, float], int, bool]:
        rng = random.Random(f"{self.seed}:{i}")
        features = {name: round(rng.gauss(0.0, 1.0), 4) for name in FEATURES}
        angle = _BASE_ANGLE + (math.radians(self.rotation) if i >= self.drift_at else 0.0)
        truth = int(math.cos(angle) * features["f0"] + math.sin(angle) * features["f1"] > 0)
        return features, truth, rng.random() < self.noise


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
    #: Each baseline alarm (``detector == "baseline"``) with what caused it: :func:`explain_alarm`.
    baseline_alarms: list[dict[str, Any]] = field(default_factory=list)

    def accuracy(self, start: int, stop: int) -> float:
        window = self.correct[start:stop]
        return sum(window) / len(window) if window else float("nan")

    def served_from(self, version: str) -> int:
        """The sample from which ``version`` served (0 for the first model)."""
        return next((i for i, v in self.swaps if v == version), 0)


def explain_alarm(world: World, correct: list[bool], served_from: int, last: int, *,
                  baseline_samples: int, window: int) -> dict[str, Any]:
    """Why a baseline alarm fired: a version served from sample ``served_from`` has its baseline
    on its first ``baseline_samples`` labelled samples, and the alarm's rolling window ends at
    the label of sample ``last``. The demo knows which labels the world flipped, so it can tell
    the two apart: the model's accuracy against the noise-free labels (its own skill) and the
    share of flipped labels (the world's noise), in the baseline samples and in the window.
    ``cause`` is ``"model"`` when the noise-free accuracy fell by 0.02 or more (about 2.5
    standard errors over 500 samples at 0.97), else ``"label noise"``.

    The demo's own world (seed 0), served by the best possible model of the new concept from
    sample 3300: its baseline falls on a stretch with 2.6% flipped labels (the world flips 5%),
    and the window up to sample 5682 holds 7.2%; the model is right on every noise-free label:

    >>> world = World(drift_at=2000)
    >>> def best(i: int) -> bool:  # the new concept's own boundary
    ...     features, label = world.sample(i)
    ...     return int(features["f1"] > features["f0"]) == label
    >>> correct = [best(i) for i in range(5700)]
    >>> explain_alarm(world, correct, 3300, 5682, baseline_samples=1000, window=500)
    ... # doctest: +NORMALIZE_WHITESPACE
    {'labels_flipped_in_baseline': 0.026, 'labels_flipped_in_window': 0.072,
     'noise_free_accuracy_in_baseline': 1.0, 'noise_free_accuracy_in_window': 1.0,
     'cause': 'label noise'}
    """
    baseline = range(served_from, served_from + baseline_samples)
    recent = range(max(served_from, last - window + 1), last + 1)

    def flipped(samples: range) -> float:
        return sum(world.flipped(i) for i in samples) / len(samples)

    def noise_free(samples: range) -> float:  # right against the label before its flip
        return sum(correct[i] != world.flipped(i) for i in samples) / len(samples)

    skill_before, skill_now = noise_free(baseline), noise_free(recent)
    return {
        "labels_flipped_in_baseline": round(flipped(baseline), 3),
        "labels_flipped_in_window": round(flipped(recent), 3),
        "noise_free_accuracy_in_baseline": round(skill_before, 3),
        "noise_free_accuracy_in_window": round(skill_now, 3),
        "cause": "model" if skill_before - skill_now >= 0.02 else "label noise",
    }


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


def _remember_offset(labelled: dict[int, int], sample: int) -> Any:
    def delivered(error: Any, message: Any) -> None:
        if error is None:
            labelled[message.offset()] = sample
    return delivered


def _alarm_summary(world: World, result: DemoResult, seen_at: int, drift: DriftEvent,
                   labelled: dict[int, int]) -> dict[str, Any]:
    """One baseline alarm for the summary: where, its figures and :func:`explain_alarm`'s."""
    stats: dict[str, Any] = dict(drift.stats)
    summary: dict[str, Any] = {
        "sample": seen_at, "signal": drift.signal, "model_version": drift.model_version,
        "value": round(stats["value"], 3), "baseline": round(stats["baseline"], 3),
        "threshold": round(stats["threshold"], 3)}
    last = labelled.get(drift.source.offset)
    if last is not None:
        summary.update(explain_alarm(
            world, result.correct, result.served_from(drift.model_version), last,
            baseline_samples=stats["baseline_samples"], window=stats["window"]))
    return summary


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
        #: labels-topic offset -> the sample it labels (to place a baseline alarm's window)
        labelled: dict[int, int] = {}
        alarms: list[tuple[int, DriftEvent]] = []
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
                due, label = pending.popleft()
                label = label.model_copy(update={"timestamp": datetime.now(UTC)})
                producer.produce(names.labels, key=model_id, value=label.model_dump_json(),
                                 on_delivery=_remember_offset(labelled, due - label_delay))
            producer.poll(0)
            for msg in reader.consume(100, timeout=0):
                if msg.error() is not None or msg.value() is None:
                    continue
                if msg.topic() == names.drift:
                    drift = DriftEvent.model_validate_json(msg.value() or b"")
                    if drift.severity == "drift":
                        result.detections.append((i, drift.signal))
                        if drift.detector == "baseline":
                            alarms.append((i, drift))
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
        for seen_at, drift in alarms:
            result.baseline_alarms.append(_alarm_summary(world, result, seen_at, drift, labelled))
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
            # metric drops against a version's own baseline, and whether the model or the
            # world's label noise made them (a retrained model's baseline can fall on a stretch
            # with few flipped labels; see the README's demo paragraph)
            "baseline_alarms": result.baseline_alarms,
        }
        print(json.dumps(summary), file=out)
        return result
    finally:
        for service in services:
            service.stop(timeout_s=30)
        if broker is not None:
            broker.stop()


__all__ = ["DemoResult", "ModelServer", "World", "explain_alarm", "plot_accuracy", "run_demo",
           "stack_config"]
