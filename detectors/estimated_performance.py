"""Performance without labels: CBPE for binary classifiers with scores, streaming.

Confidence-based performance estimation (CBPE, as NannyML does it in batch): a calibrated
probability ``p`` of the positive class says how likely each prediction is right, so the
confusion matrix a window of predictions *expects* is ``TP = sum(p | ŷ=1)``,
``FP = sum(1-p | ŷ=1)``, ``FN = sum(p | ŷ=0)``, ``TN = sum(1-p | ŷ=0)``, and accuracy,
precision, recall and F1 follow from it. It holds while P(label | score) holds, i.e. under
covariate shift; a concept change shows once labels arrive and refresh the calibration.

* :class:`ScoreCalibration`: equal-width score bins, each with a correction
  ``(sum(label) - sum(score)) / (count + prior)`` added to the raw score (histogram
  recalibration that keeps the score's resolution within a bin; with no labels it is the raw
  score). It remembers the last ``calibration_window`` labelled pairs, so it is fitted on
  labelled reference data and refreshed as labels arrive.
* :class:`EstimatedPerformance`: the last ``window_size`` predictions (score, predicted class);
  every ``stride`` predictions it re-estimates the metrics with the current calibration. The
  estimate over its first ``reference_size`` predictions is the baseline; a watched metric
  fires (edge-triggered, :class:`~detectors.performance.ThresholdWatcher`) when its estimate
  drops below ``thresholds[metric]`` or, by default, below the baseline minus a margin: the
  estimate's own sampling noise (delta method over the window, baseline's included) at the
  level ``false_alarms_per_100k`` sets, and at least ``min_drop``.
* Once labels arrive, :meth:`EstimatedPerformance.observe_label` scores each labelled
  prediction with the calibration *before* learning from it (prequential) and keeps the last
  ``window_size`` of them: :meth:`EstimatedPerformance.gap` is estimated minus realized metric
  on those same predictions.

>>> import random, math
>>> rng = random.Random(6)
>>> def sample(spread):
...     x = rng.gauss(0.0, spread)
...     p = 1 / (1 + math.exp(-3 * x))          # the true P(y=1 | x)
...     score = 1 / (1 + math.exp(-4 * x))      # an over-confident model
...     return score, score >= 0.5, rng.random() < p
>>> cbpe = EstimatedPerformance(CBPESpec())
>>> for _ in range(3000):
...     score, predicted, label = sample(1.5)
...     cbpe.observe_label(score, predicted, label)  # labelled reference data
>>> fired = []
>>> for i in range(6000):
...     score, predicted, label = sample(1.5 if i < 3000 else 0.5)  # closer to the boundary
...     if cbpe.update(score, predicted):
...         fired.append((i, cbpe.breached))
>>> fired
[(3123, ['accuracy', 'f1'])]
>>> stats = cbpe.evidence()
>>> stats["metric"], round(stats["baseline"], 3), round(stats["threshold"], 3), round(stats["estimate"], 3)
('accuracy', 0.885, 0.854, 0.848)
>>> {k: round(v, 3) for k, v in cbpe.estimates.items()}  # at the end: the true accuracy is 0.75
{'accuracy': 0.75, 'precision': 0.756, 'recall': 0.76, 'f1': 0.758}
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import Field
from scipy.stats import norm

from detectors.performance import ThresholdWatcher
from detectors.streaming import LastFiring, StatValue, WindowTestFields, per_test_alpha

__all__ = [
    "ESTIMATED_METRICS",
    "CBPESpec",
    "EstimatedPerformance",
    "ScoreCalibration",
    "confusion_metrics",
]

EstimatedMetric = Literal["accuracy", "precision", "recall", "f1"]
ESTIMATED_METRICS: tuple[str, ...] = ("accuracy", "precision", "recall", "f1")


class CBPESpec(WindowTestFields):
    """Streaming CBPE: calibration, rolling window, thresholds.

    ``window_size`` predictions make the rolling estimate (and the gap window of labelled
    ones); the estimate after ``reference_size`` predictions is the baseline;
    ``false_alarms_per_100k`` sets the margin below it.
    """

    type: Literal["cbpe"] = "cbpe"
    #: The estimate is refreshed every ``stride`` predictions once the window is full.
    stride: int = Field(default=25, ge=1)
    #: Equal-width score bins of the calibration.
    calibration_bins: int = Field(default=20, ge=1, le=1000)
    #: Labelled pairs the calibration remembers (the most recent).
    calibration_window: int = Field(default=5000, ge=10)
    #: Pseudo-count of each bin pulling its correction toward 0 (the raw score).
    calibration_prior: float = Field(default=20.0, ge=0)
    #: The metrics that fire (all four are estimated).
    metrics: tuple[EstimatedMetric, ...] = ("accuracy", "f1")
    #: Absolute thresholds per metric; a metric without one uses baseline − margin.
    thresholds: dict[EstimatedMetric, float] = Field(default_factory=dict)
    #: The margin below the baseline is at least this.
    min_drop: float = Field(default=0.02, ge=0)


def confusion_metrics(
    tp: float, predicted_pos: float, actual_pos: float, n: float
) -> dict[str, float]:
    """Accuracy, precision, recall and F1 from (expected or counted) confusion totals.

    >>> confusion_metrics(tp=40, predicted_pos=50, actual_pos=60, n=100)
    {'accuracy': 0.7, 'precision': 0.8, 'recall': 0.6666666666666666, 'f1': 0.7272727272727273}
    """
    tp, predicted_pos, actual_pos, n = float(tp), float(predicted_pos), float(actual_pos), float(n)
    return {
        "accuracy": (n - predicted_pos - actual_pos + 2 * tp) / n if n else 0.0,
        "precision": tp / predicted_pos if predicted_pos else 0.0,
        "recall": tp / actual_pos if actual_pos else 0.0,
        "f1": 2 * tp / (predicted_pos + actual_pos) if predicted_pos + actual_pos else 0.0,
    }


class ScoreCalibration:
    """Histogram recalibration of scores, refreshed by a sliding window of labelled pairs.

    >>> calibration = ScoreCalibration(bins=10, window=100, prior=0.0)
    >>> for score, label in [(0.9, 1), (0.9, 0), (0.92, 1), (0.1, 0)]:
    ...     calibration.learn(score, label)
    >>> round(calibration.probability(0.95), 4), calibration.probability(0.5)
    (0.71, 0.5)
    """

    __slots__ = (
        "bins",
        "count",
        "label_sum",
        "labels",
        "pos",
        "prior",
        "ring",
        "score_sum",
        "scores",
    )

    def __init__(self, *, bins: int, window: int, prior: float) -> None:
        self.bins = bins
        self.prior = prior
        self.count = [0] * bins
        self.score_sum = [0.0] * bins
        self.label_sum = [0] * bins
        self.ring = array("i", [-1]) * window
        self.scores = array("d", [0.0]) * window
        self.labels = bytearray(window)
        self.pos = 0

    def _bin(self, score: float) -> int:
        b = int(score * self.bins)
        return 0 if b < 0 else (self.bins - 1 if b >= self.bins else b)

    def learn(self, score: float, label: bool) -> None:
        """Remember one labelled pair (forgetting the oldest once the window is full)."""
        pos = self.pos
        old = self.ring[pos]
        if old >= 0:
            self.count[old] -= 1
            self.score_sum[old] -= self.scores[pos]
            self.label_sum[old] -= self.labels[pos]
        b = self._bin(score)
        y = 1 if label else 0
        self.ring[pos], self.scores[pos], self.labels[pos] = b, score, y
        self.count[b] += 1
        self.score_sum[b] += score
        self.label_sum[b] += y
        self.pos = (pos + 1) % len(self.ring)

    def corrections(self) -> np.ndarray:
        """Per-bin correction added to the raw score."""
        count = np.array(self.count, dtype=float)
        diff = np.array(self.label_sum, dtype=float) - np.array(self.score_sum)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = diff / (count + self.prior)
        return np.where(count > 0, out, 0.0)

    def probabilities(self, scores: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of many scores."""
        bins = np.clip((scores * self.bins).astype(int), 0, self.bins - 1)
        return np.clip(scores + self.corrections()[bins], 0.0, 1.0)

    def probability(self, score: float) -> float:
        """The calibrated probability of one score."""
        b = self._bin(score)
        n = self.count[b]
        if not n:
            return min(max(score, 0.0), 1.0)
        p = score + (self.label_sum[b] - self.score_sum[b]) / (n + self.prior)
        return min(max(p, 0.0), 1.0)

    @property
    def labelled(self) -> int:
        return sum(self.count)


def _totals(p: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Per-sample (ŷ·p, ŷ, p): the columns whose means give every metric."""
    return np.stack([predicted * p, predicted, p], axis=1)


def _metrics_of_means(m: Sequence[float]) -> dict[str, float]:
    return confusion_metrics(m[0], m[1], m[2], 1.0)


def _noise(columns: np.ndarray, metric: str) -> float:
    """Delta-method standard deviation of ``metric`` over a window of these samples."""
    means = columns.mean(axis=0)
    cov = np.cov(columns, rowvar=False) / len(columns)
    base = _metrics_of_means(means)[metric]
    grad = np.zeros(3)
    for j in range(3):
        step = 1e-6
        bumped = means.copy()
        bumped[j] += step
        grad[j] = (_metrics_of_means(bumped)[metric] - base) / step
    return math.sqrt(max(float(grad @ cov @ grad), 0.0))


class EstimatedPerformance(LastFiring):
    """Rolling CBPE estimate with threshold firing and the estimated-vs-realized gap."""

    __slots__ = (
        "baseline",
        "breached",
        "calibration",
        "estimates",
        "filled",
        "gap_filled",
        "gap_labels",
        "gap_pos",
        "gap_predicted",
        "gap_probs",
        "margins",
        "n",
        "pos",
        "predicted",
        "scores",
        "spec",
        "tick",
        "watchers",
    )

    def __init__(self, spec: CBPESpec) -> None:
        super().__init__()
        self.spec = spec
        self.calibration = ScoreCalibration(
            bins=spec.calibration_bins, window=spec.calibration_window, prior=spec.calibration_prior
        )
        size = spec.window_size
        self.scores = array("d", [0.0]) * size
        self.predicted = bytearray(size)
        self.pos = 0
        self.filled = 0
        self.tick = 0
        self.n = 0
        self.estimates: dict[str, float] = {}
        self.baseline: dict[str, float] = {}
        self.margins: dict[str, float] = {}
        self.watchers: dict[str, ThresholdWatcher] = {}
        self.breached: list[str] = []
        self.gap_probs = array("d", [0.0]) * size
        self.gap_predicted = bytearray(size)
        self.gap_labels = bytearray(size)
        self.gap_pos = 0
        self.gap_filled = 0

    def fit(self, scores: Sequence[float], labels: Sequence[bool]) -> None:
        """Fit the calibration on labelled reference data."""
        for score, label in zip(scores, labels, strict=True):
            self.calibration.learn(score, label)

    def update(self, score: float, predicted: bool) -> bool:
        """Feed one scored prediction; True when a watched estimate newly drops below its threshold
        (the metrics are in :attr:`breached`)."""
        self.n += 1
        pos = self.pos
        self.scores[pos] = score
        self.predicted[pos] = 1 if predicted else 0
        pos += 1
        size = len(self.scores)
        self.pos = 0 if pos == size else pos
        if self.filled < size:
            self.filled += 1
            if self.filled < size:
                return False
        self.tick += 1
        if self.tick < self.spec.stride:
            return False
        self.tick = 0
        return self._estimate()

    def _estimate(self) -> bool:
        scores = np.frombuffer(self.scores, dtype=float)
        predicted = np.frombuffer(self.predicted, dtype=np.uint8).astype(float)
        p = self.calibration.probabilities(scores)
        columns = _totals(p, predicted)
        self.estimates = _metrics_of_means(columns.mean(axis=0))
        if not self.watchers:
            if self.n < self.spec.reference_size:
                return False
            self._arm(columns)
        self.breached = [m for m, w in self.watchers.items() if w.check(self.estimates[m])]
        if not self.breached:
            return False
        metric = self.breached[0]
        stats: dict[str, StatValue] = {
            "metric": metric,
            "estimate": self.estimates[metric],
            "threshold": self.watchers[metric].threshold,
            "baseline": self.baseline.get(metric),
            "margin": self.margins.get(metric),
            "window_size": len(self.scores),
            "calibration_labels": self.calibration.labelled,
            **{f"estimated_{name}": value for name, value in self.estimates.items()},
        }
        self._record(stats, None)  # a threshold crossing has no change point of its own
        return True

    def _arm(self, columns: np.ndarray) -> None:
        spec = self.spec
        z = float(norm.isf(per_test_alpha(spec.false_alarms_per_100k, stride=spec.stride)))
        self.baseline = dict(self.estimates)
        for metric in spec.metrics:
            if metric in spec.thresholds:
                threshold = spec.thresholds[metric]
            else:
                # the window's noise, and the baseline's (itself one window's estimate)
                margin = max(spec.min_drop, z * math.sqrt(2) * _noise(columns, metric))
                self.margins[metric] = margin
                threshold = self.baseline[metric] - margin
            self.watchers[metric] = ThresholdWatcher(metric, threshold, cooldown=0)

    def observe_label(self, score: float, predicted: bool, label: bool) -> None:
        """A labelled prediction: scored for the gap first, then learnt by the calibration."""
        pos = self.gap_pos
        self.gap_probs[pos] = self.calibration.probability(score)
        self.gap_predicted[pos] = 1 if predicted else 0
        self.gap_labels[pos] = 1 if label else 0
        self.gap_pos = (pos + 1) % len(self.gap_probs)
        self.gap_filled = min(self.gap_filled + 1, len(self.gap_probs))
        self.calibration.learn(score, label)

    def gap(self) -> dict[str, float]:
        """Estimated minus realized metric over the last labelled predictions ({} before any)."""
        n = self.gap_filled
        if not n:
            return {}
        p = np.frombuffer(self.gap_probs, dtype=float)[:n]
        yhat = np.frombuffer(self.gap_predicted, dtype=np.uint8)[:n].astype(float)
        y = np.frombuffer(self.gap_labels, dtype=np.uint8)[:n].astype(float)
        estimated = _metrics_of_means(_totals(p, yhat).mean(axis=0))
        realized = _metrics_of_means(_totals(y, yhat).mean(axis=0))
        return {name: estimated[name] - realized[name] for name in ESTIMATED_METRICS}
