"""Simulated inference traffic with known drift: predictions and delayed labels (SPEC §6).

Pure generation, no Kafka and no clock: the same :class:`Scenario` and seed always yield the same
events, byte for byte. ``driftline simulate`` writes them to a file, stdout or Kafka.

The world of one model
----------------------

Each sample has numeric features ``f0`` … ``f{n-1}``, each standard normal. The *true concept* is
a linear boundary through the origin in the (``f0``, ``f1``) plane at 45°; the label is the side
of the boundary, flipped with probability ``label_noise`` (so a perfect model errs that often).
The deployed model learned the *old* concept: its score is ``sigmoid(2·w·x + offset)`` and its
prediction is ``score >= 0.5``. Before any drift its error rate is ``label_noise``.

A :class:`Drift` moves the world from the old concept (intensity 0) to a new one (intensity 1):

* ``feature_shift`` — the mean of the ``shifted_features`` moves by that many standard deviations
  (data drift: ``feature:<name>`` signals);
* ``score_shift`` — the model's logit gains that offset (prediction drift: ``score``, and through
  the predictions also ``error``);
* ``concept_rotation`` — the true boundary turns by that many degrees (concept drift: ``error``
  and ``metric:*`` signals; 90° makes the model wrong on half of the samples).

How the intensity evolves with the sample index ``i`` of that model is the drift's ``kind``:

=============  ===============================================================================
sudden         0 before ``start``, 1 from ``start`` on
gradual        in ``[start, start + width)`` each sample comes from the new concept with
               probability rising linearly from 0 to 1 (old and new concepts mix); 1 afterwards
incremental    rises linearly from 0 at ``start`` to 1 at ``start + width``: a slow continuous
               shift where every sample is a little further
recurrent      1 in ``[start, start + width)``, then 0 again: the old concept returns
seasonal       ``(1 - cos(2π (i - start) / width)) / 2`` from ``start`` on: a cycle of period
               ``width`` samples
=============  ===============================================================================

Time and labels
---------------

Predictions of one model are spaced ``1000 / rate`` ms of event time apart from ``start_ms``.
Each prediction gets a label with probability ``label_coverage``, ``label_delay_ms`` later (plus a
uniform jitter up to ``label_delay_jitter_ms``). :func:`simulate` yields all events of all models
merged in event-time order (ties: predictions before labels, then by model, then by index), so a
label always comes after its prediction.

>>> scenario = Scenario(models=("fraud",), samples=4, rate=10, label_delay_ms=250,
...                     label_coverage=0.5, n_features=2)
>>> for event in simulate(scenario, seed=7):
...     print(event.model_dump_json(exclude={"schema_version"}))
{"type":"prediction","prediction_id":"fraud-00000000","model_id":"fraud","model_version":"v1","timestamp":"2024-01-01T00:00:00.000Z","features":{"f0":0.9075,"f1":0.6047},"prediction":1,"score":0.8946,"segment":null}
{"type":"prediction","prediction_id":"fraud-00000001","model_id":"fraud","model_version":"v1","timestamp":"2024-01-01T00:00:00.100Z","features":{"f0":-1.0336,"f1":-2.0048},"prediction":0,"score":0.0134,"segment":null}
{"type":"prediction","prediction_id":"fraud-00000002","model_id":"fraud","model_version":"v1","timestamp":"2024-01-01T00:00:00.200Z","features":{"f0":1.326,"f1":1.1415},"prediction":1,"score":0.9704,"segment":null}
{"type":"label","prediction_id":"fraud-00000000","model_id":"fraud","timestamp":"2024-01-01T00:00:00.250Z","label":1}
{"type":"prediction","prediction_id":"fraud-00000003","model_id":"fraud","model_version":"v1","timestamp":"2024-01-01T00:00:00.300Z","features":{"f0":-0.7224,"f1":-0.1971},"prediction":0,"score":0.2141,"segment":null}
{"type":"label","prediction_id":"fraud-00000001","model_id":"fraud","timestamp":"2024-01-01T00:00:00.350Z","label":0}

A sudden 90° concept rotation at sample 2000 takes the model's error rate from about
``label_noise`` to one half, while the features stay put:

>>> from detectors.contracts import Prediction
>>> scenario = Scenario(samples=4000, label_delay_ms=0,
...                     drifts=(Drift("sudden", start=2000, concept_rotation=90),))
>>> predictions, errors = {}, ([], [])
>>> for event in simulate(scenario, seed=1):
...     if isinstance(event, Prediction):
...         predictions[event.prediction_id] = event
...     else:
...         index = int(event.prediction_id.rsplit("-", 1)[1])
...         errors[index >= 2000].append(predictions[event.prediction_id].prediction != event.label)
>>> [round(sum(e) / len(e), 3) for e in errors]
[0.086, 0.5]

The intensity of each kind, sampled every 250 samples around a drift at 500 of width 500:

>>> for kind in DRIFT_KINDS:
...     drift = Drift(kind=kind, start=500, width=500, concept_rotation=90)
...     print(f"{kind:<12}", [round(drift.intensity(i, random.Random(0)), 2) for i in range(0, 1751, 250)])
sudden       [0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
gradual      [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]
incremental  [0.0, 0.0, 0.0, 0.5, 1.0, 1.0, 1.0, 1.0]
recurrent    [0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]
seasonal     [0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0]
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal, get_args

if TYPE_CHECKING:  # imported where events are made: `driftline --help` needs no pydantic/River
    from detectors.contracts import Label, Prediction

__all__ = [
    "DRIFT_KINDS",
    "Drift",
    "DriftKindName",
    "Scenario",
    "simulate",
]

DriftKindName = Literal["sudden", "gradual", "incremental", "recurrent", "seasonal"]
DRIFT_KINDS: tuple[str, ...] = get_args(DriftKindName)

#: 2024-01-01T00:00:00Z in epoch milliseconds: the default start of simulated time.
DEFAULT_START_MS = 1_704_067_200_000
_BASE_ANGLE = math.pi / 4
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Drift:
    """One drift episode: when (``kind``, ``start``, ``width``, in samples of each model) and what
    moves (at least one of ``feature_shift``, ``score_shift``, ``concept_rotation``)."""

    kind: DriftKindName
    #: Index of the first drifted sample of each model.
    start: int
    #: Transition window (gradual), ramp length (incremental), duration before the old concept
    #: returns (recurrent), period (seasonal); ignored by sudden.
    width: int = 500
    #: Mean shift of ``shifted_features``, in standard deviations.
    feature_shift: float = 0.0
    #: Offset added to the model's logit.
    score_shift: float = 0.0
    #: Rotation of the true boundary, in degrees.
    concept_rotation: float = 0.0
    shifted_features: tuple[str, ...] = ("f0",)

    def __post_init__(self) -> None:
        if self.kind not in DRIFT_KINDS:
            raise ValueError(
                f"drift kind must be one of {', '.join(DRIFT_KINDS)}, got {self.kind!r}"
            )
        if self.start < 0:
            raise ValueError(f"drift start must be >= 0, got {self.start}")
        if self.width < 1 and self.kind != "sudden":
            raise ValueError(f"{self.kind} drift needs width >= 1, got {self.width}")
        if not (self.feature_shift or self.score_shift or self.concept_rotation):
            raise ValueError(
                "a drift must move something: set feature_shift, score_shift or concept_rotation"
            )

    def intensity(self, i: int, rng: random.Random) -> float:
        """How far sample ``i`` is in the new concept, 0..1 (``rng`` draws the gradual mix)."""
        offset = i - self.start
        if offset < 0:
            return 0.0
        if self.kind == "sudden":
            return 1.0
        if self.kind == "gradual":
            if offset >= self.width:
                return 1.0
            return 1.0 if rng.random() < offset / self.width else 0.0
        if self.kind == "incremental":
            return min(1.0, offset / self.width)
        if self.kind == "recurrent":
            return 1.0 if offset < self.width else 0.0
        return (1.0 - math.cos(2.0 * math.pi * offset / self.width)) / 2.0


@dataclass(frozen=True)
class Scenario:
    """What to simulate: models, volume, pace, label delivery, and the drifts every model sees."""

    models: tuple[str, ...] = ("model-0",)
    #: Predictions per model.
    samples: int = 5000
    #: Predictions per second of event time, per model.
    rate: float = 50.0
    drifts: tuple[Drift, ...] = ()
    model_version: str = "v1"
    n_features: int = 3
    label_noise: float = 0.1
    label_delay_ms: int = 60_000
    label_delay_jitter_ms: int = 0
    label_coverage: float = 1.0
    start_ms: int = DEFAULT_START_MS
    segment: str | None = None
    feature_decimals: int = 4

    def __post_init__(self) -> None:
        if not self.models or len(set(self.models)) != len(self.models):
            raise ValueError("models must be a non-empty list of distinct model ids")
        if self.samples < 0:
            raise ValueError(f"samples must be >= 0, got {self.samples}")
        if not self.rate > 0:
            raise ValueError(f"rate must be > 0 events/s, got {self.rate}")
        if self.n_features < 2:
            raise ValueError(
                f"n_features must be >= 2 (the concept uses f0 and f1), got {self.n_features}"
            )
        if not 0.0 <= self.label_noise <= 0.5:
            raise ValueError(f"label_noise must be in [0, 0.5], got {self.label_noise}")
        if not 0.0 <= self.label_coverage <= 1.0:
            raise ValueError(f"label_coverage must be in [0, 1], got {self.label_coverage}")
        if self.label_delay_ms < 0 or self.label_delay_jitter_ms < 0:
            raise ValueError("label_delay_ms and label_delay_jitter_ms must be >= 0")
        names = {f"f{k}" for k in range(self.n_features)}
        for drift in self.drifts:
            unknown = set(drift.shifted_features) - names
            if drift.feature_shift and unknown:
                raise ValueError(f"drift shifts unknown features {sorted(unknown)}")

    def timestamp_ms(self, i: int) -> int:
        """Event time of each model's ``i``-th prediction."""
        return self.start_ms + round(i * 1000.0 / self.rate)


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def _model_stream(
    scenario: Scenario, model_index: int, seed: int
) -> Iterator[tuple[int, int, int, Prediction | Label]]:
    """One model's events as ``(timestamp_ms, order, index, event)``, in event-time order."""
    from detectors.contracts import Label, Prediction

    model_id = scenario.models[model_index]
    rng = random.Random(f"{seed}:{model_id}")
    mix_rng = random.Random(f"{seed}:{model_id}:mix")
    label_rng = random.Random(f"{seed}:{model_id}:labels")
    pending: list[tuple[int, int, Label]] = []
    d = scenario.feature_decimals
    for i in range(scenario.samples):
        ts = scenario.timestamp_ms(i)
        while pending and pending[0][0] <= ts:
            due, index, label = heapq.heappop(pending)
            yield due, 1, index, label
        features = {f"f{k}": rng.gauss(0.0, 1.0) for k in range(scenario.n_features)}
        score_offset = 0.0
        rotation = 0.0
        for drift in scenario.drifts:
            level = drift.intensity(i, mix_rng)
            if not level:
                continue
            for name in drift.shifted_features:
                features[name] += drift.feature_shift * level
            score_offset += drift.score_shift * level
            rotation += math.radians(drift.concept_rotation) * level
        features = {name: round(value, d) for name, value in features.items()}
        x0, x1 = features["f0"], features["f1"]
        old_margin = math.cos(_BASE_ANGLE) * x0 + math.sin(_BASE_ANGLE) * x1
        true_margin = math.cos(_BASE_ANGLE + rotation) * x0 + math.sin(_BASE_ANGLE + rotation) * x1
        score = round(_sigmoid(2.0 * old_margin + score_offset), d)
        truth = int(true_margin > 0)
        if rng.random() < scenario.label_noise:
            truth = 1 - truth
        prediction_id = f"{model_id}-{i:08d}"
        yield (
            ts,
            0,
            i,
            Prediction(
                prediction_id=prediction_id,
                model_id=model_id,
                model_version=scenario.model_version,
                timestamp=_EPOCH + timedelta(milliseconds=ts),
                features=dict(features),
                prediction=int(score >= 0.5),
                score=score,
                segment=scenario.segment,
            ),
        )
        if label_rng.random() < scenario.label_coverage:
            delay = scenario.label_delay_ms
            if scenario.label_delay_jitter_ms:
                delay += label_rng.randint(0, scenario.label_delay_jitter_ms)
            due = ts + delay
            label = Label(
                prediction_id=prediction_id,
                model_id=model_id,
                timestamp=_EPOCH + timedelta(milliseconds=due),
                label=truth,
            )
            heapq.heappush(pending, (due, i, label))
    while pending:
        due, index, label = heapq.heappop(pending)
        yield due, 1, index, label


def simulate(scenario: Scenario, seed: int = 0) -> Iterator[Prediction | Label]:
    """All events of all models of ``scenario``, merged in event-time order; lazy and bounded
    in memory by the labels in flight."""
    streams = [
        (
            (ts, order, m, index, event)
            for ts, order, index, event in _model_stream(scenario, m, seed)
        )
        for m in range(len(scenario.models))
    ]
    for _ts, _order, _m, _index, event in heapq.merge(*streams, key=lambda t: t[:4]):
        yield event
