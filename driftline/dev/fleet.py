"""A stationary fleet of binary classifiers, and the same models with a planted shift.

Each model's world never changes (unless ``shift``): one informative feature ``x``, positive rate
1%, 5%, 20% or 50% (:data:`FLEET_POSITIVE_RATES`), 10% of the labels flipped (noise the model
cannot learn). Its score is the calibrated probability of its noise-free world, its prediction
``score >= 0.5``. Labels arrive late (exponential delay, mean 30 s of event time at 10
predictions/s: arrival order is shuffled over ~300 predictions), 5% of them twice, 2% never.
Used by ``bench/default_false_alarms.py``, ``bench/river_streams.py`` and the tests of the
default detection config (``tests/detectors/test_default_detection.py``).

>>> events = fleet_events("m", 0.5, 100, seed=1)
>>> sum(1 for _, e in events if isinstance(e, Prediction)), sum(1 for _, e in events if isinstance(e, Label))
(100, 106)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from detectors import DetectionConfig, DriftEvent, Label, Pipeline, Prediction, Source

__all__ = [
    "FLEET_POSITIVE_RATES",
    "detection_delay",
    "fleet_events",
    "new_regime_samples",
    "run_pipeline",
    "stationary_error_stream",
]

FIXED = datetime(2030, 1, 1, tzinfo=UTC)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _at(epoch_ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=epoch_ms)
BASE_MS = 1_700_000_000_000
FLEET_POSITIVE_RATES = (0.01, 0.05, 0.20, 0.50)
LABEL_NOISE = 0.10
RATE_PER_S = 10.0
MEAN_LABEL_DELAY_S = 30.0
DUPLICATE_SHARE = 0.05
MISSING_SHARE = 0.02
#: The logit's slope on the model's one informative feature (a fairly good model).
SLOPE = 3.0
#: Share of predictions inverted by the ``f1`` shift (F1 0.78 → about 0.68 at 50% positives).
F1_FLIP = 0.18


def _intercept(rate: float) -> float:
    """The logit intercept b with E[sigmoid(b + SLOPE·x)] = rate, x ~ N(0, 1) (bisection)."""
    x = np.random.default_rng(0).standard_normal(200_000)
    lo, hi = -20.0, 20.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if float(np.mean(1 / (1 + np.exp(-(mid + SLOPE * x))))) < rate:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


_INTERCEPTS: dict[float, float] = {}


def _world(rate: float, n: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """(x, score, prediction, observed label) of n stationary samples."""
    b = _INTERCEPTS.setdefault(rate, _intercept(rate))
    x = rng.standard_normal(n)
    score = 1 / (1 + np.exp(-(b + SLOPE * x)))
    truth = rng.random(n) < score
    observed = truth ^ (rng.random(n) < LABEL_NOISE)
    return x, score, score >= 0.5, observed


def _arrivals(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(label arrival times in s, prediction index of each label), in arrival order: delayed,
    shuffled, some duplicated, some missing."""
    predicted_at = np.arange(n) / RATE_PER_S
    keep = rng.random(n) >= MISSING_SHARE
    index = np.flatnonzero(keep)
    twice = index[rng.random(index.size) < DUPLICATE_SHARE]
    index = np.concatenate([index, twice])
    arrival = predicted_at[index] + rng.exponential(MEAN_LABEL_DELAY_S, index.size)
    order = np.argsort(arrival, kind="stable")
    return arrival[order], index[order]


def stationary_error_stream(rate: float, n_labels: int, seed: int) -> np.ndarray:
    """The ``error`` signal (uint8, label-arrival order, duplicates dropped as the join drops
    them) of one stationary model with about ``n_labels`` joined labels."""
    rng = np.random.default_rng(seed)
    n = int(n_labels / (1 - MISSING_SHARE)) + 1
    _, _, predicted, observed = _world(rate, n, rng)
    _, index = _arrivals(n, rng)
    seen = np.zeros(n, dtype=bool)
    first = np.zeros(index.size, dtype=bool)
    for i, k in enumerate(index.tolist()):  # a second label of a prediction is a duplicate
        if not seen[k]:
            seen[k] = first[i] = True
    errors = (predicted[index] != observed[index])[first].astype(np.uint8)
    return errors[:n_labels]


def fleet_events(
    model: str, rate: float, n: int, seed: int, shift: str | None = None, shift_at: int = 0
) -> list[tuple[float, Prediction | Label]]:
    """(event time in s, event) of one model; predictions in order, labels late and shuffled.

    ``shift`` from prediction ``shift_at``: ``error`` (the prediction is wrong with probability
    0.4 instead of following the model), ``feature`` (``amount`` +3 σ), ``score`` (+0.3) or
    ``f1`` (the model's prediction is inverted with probability ``F1_FLIP``: its F1 falls by
    about 0.1).
    """
    rng = np.random.default_rng(seed)
    x, score, predicted, observed = _world(rate, n, rng)
    other = rng.standard_normal(n)
    flip = rng.random(n) < 0.4
    rng_f1 = rng.random(n)
    events: list[tuple[float, Prediction | Label]] = []
    for i in range(n):
        shifted = shift is not None and i >= shift_at
        p = bool(predicted[i])
        s = float(score[i])
        amount = float(other[i])
        if shifted and shift == "error":
            p = (not bool(observed[i])) if flip[i] else bool(observed[i])
        elif shifted and shift == "feature":
            amount += 3.0
        elif shifted and shift == "score":
            s = min(1.0, s + 0.3)
        elif shifted and shift == "f1" and flip[i] and rng_f1[i] < F1_FLIP / 0.4:
            p = not p
        t = i / RATE_PER_S
        events.append((t, Prediction(
            prediction_id=f"{model}-{i}", model_id=model, model_version="v1",
            timestamp=_at(BASE_MS + int(t * 1000)), prediction=p, score=round(s, 6),
            features={"x": round(float(x[i]), 6), "amount": round(amount, 6)})))
    arrival, index = _arrivals(n, rng)
    for t, k in zip(arrival.tolist(), index.tolist(), strict=True):
        events.append((t, Label(prediction_id=f"{model}-{k}", model_id=model,
                                timestamp=_at(BASE_MS + int(t * 1000)), label=bool(observed[k]))))
    return events


def run_pipeline(
    config: DetectionConfig, streams: list[list[tuple[float, Any]]]
) -> tuple[list[DriftEvent], list[Any]]:
    """All models' events merged in event-time order through one Pipeline: (drift events, the
    events in feed order, so ``source.offset`` indexes it)."""
    order = sorted((t, j, i) for j, s in enumerate(streams) for i, (t, _) in enumerate(s))
    fed = [streams[j][i][1] for _, j, i in order]
    pipeline = Pipeline(config, clock=lambda: FIXED)
    out: list[DriftEvent] = []
    for offset, event in enumerate(fed):
        src = Source.model_construct(topic="bench", partition=0, offset=offset)
        out.extend(o for o in pipeline.process(event, src) if isinstance(o, DriftEvent))
    return out, fed


def _index(event: Prediction | Label) -> int:
    return int(event.prediction_id.rsplit("-", 1)[1])


def new_regime_samples(fed: list[Any], offset: int, model: str, shift_at: int) -> int:
    """Samples of the shifted regime the detector had read when it fired at ``offset``: shifted
    predictions (prediction-fed signals) or labels of shifted predictions (label-fed ones)."""
    trigger = fed[offset]
    kind = type(trigger)
    return sum(1 for e in fed[: offset + 1]
               if type(e) is kind and e.model_id == model and _index(e) >= shift_at)


def detection_delay(
    events: list[DriftEvent], fed: list[Any], model: str, shift_at: int,
    signal: str | None = None,
) -> int | None:
    """Samples of ``model``'s shifted regime its first drift event (of ``signal``, or of any
    signal; severity ``drift``) after the shift had read; None when none came."""
    hits = sorted(e.source.offset for e in events if e.model_id == model
                  and (signal is None or e.signal == signal) and e.severity == "drift")
    for offset in hits:
        read = new_regime_samples(fed, offset, model, shift_at)
        if read > 0:
            return read
    return None
