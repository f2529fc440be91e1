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
* :class:`EstimatedPerformance`: the last ``window_size`` predictions (score, predicted class,
  calibrated probability at arrival) and their running sums; every ``stride`` predictions it
  re-estimates the metrics from the sums (O(1)), and every ``window_size`` predictions it scores
  the whole window again with the current calibration (labels refresh it meanwhile). The
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

    The window is kept as per-bin sums of two halves of ``window // 2`` pairs each: the current
    half, and the one before it, dropped whole when the current one fills. So the calibration
    reads the last ``window // 2`` to ``window`` pairs, in memory of a few numbers per bin
    (not one entry per pair).

    >>> calibration = ScoreCalibration(bins=10, window=100, prior=0.0)
    >>> for score, label in [(0.9, 1), (0.9, 0), (0.92, 1), (0.1, 0)]:
    ...     calibration.learn(score, label)
    >>> round(calibration.probability(0.95), 4), calibration.probability(0.5)
    (0.71, 0.5)
    >>> for _ in range(60):
    ...     calibration.learn(0.3, 1)
    >>> calibration.labelled  # the first half (50 pairs) and 14 of the current one
    64
    >>> for _ in range(37):
    ...     calibration.learn(0.3, 1)
    >>> calibration.labelled, round(calibration.probability(0.95), 4)  # the first half dropped
    (51, 0.95)
    """

    __slots__ = (
        "bins",
        "count",
        "half",
        "in_half",
        "label_sum",
        "older",
        "prior",
        "score_sum",
    )

    def __init__(self, *, bins: int, window: int, prior: float) -> None:
        self.bins = bins
        self.prior = prior
        self.half = max(1, window // 2)
        #: Per-bin sums over both halves (what the calibration reads).
        self.count = [0] * bins
        self.score_sum = [0.0] * bins
        self.label_sum = [0] * bins
        #: The older half's per-bin (count, score sum, label sum), dropped whole.
        self.older: tuple[list[int], list[float], list[int]] = ([0] * bins, [0.0] * bins,
                                                                [0] * bins)
        self.in_half = 0

    def _bin(self, score: float) -> int:
        b = int(score * self.bins)
        return 0 if b < 0 else (self.bins - 1 if b >= self.bins else b)

    def learn(self, score: float, label: bool) -> None:
        """Remember one labelled pair (forgetting the older half once the current one is full)."""
        if self.in_half == self.half:
            count, score_sum, label_sum = self.older
            current = (
                [a - b for a, b in zip(self.count, count, strict=True)],
                [a - b for a, b in zip(self.score_sum, score_sum, strict=True)],
                [a - b for a, b in zip(self.label_sum, label_sum, strict=True)],
            )
            self.count, self.score_sum, self.label_sum = (
                list(current[0]), list(current[1]), list(current[2]))
            self.older = current
            self.in_half = 0
        b = self._bin(score)
        self.count[b] += 1
        self.score_sum[b] += score
        self.label_sum[b] += 1 if label else 0
        self.in_half += 1

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
        bins = self.bins
        b = int(score * bins)  # _bin, inline: per prediction and per label
        b = 0 if b < 0 else (bins - 1 if b >= bins else b)
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
        "probs",
        "reference",
        "scores",
        "since_refresh",
        "spec",
        "sum_p",
        "sum_pp",
        "sum_y",
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
        #: Window arrays in single precision (scores and probabilities need no more): half the
        #: memory of a key's estimator.
        self.scores = array("f", [0.0]) * size
        #: Each window prediction's calibrated probability (the calibration of its arrival, or
        #: of the last refresh) and the window's sums of p, ŷ and ŷ·p.
        self.probs = array("f", [0.0]) * size
        self.sum_p = 0.0
        self.sum_y = 0
        self.sum_pp = 0.0
        self.since_refresh = 0
        self.predicted = bytearray(size)
        self.pos = 0
        self.filled = 0
        self.tick = 0
        self.n = 0
        self.estimates: dict[str, float] = {}
        self.baseline: dict[str, float] = {}
        self.margins: dict[str, float] = {}
        self.watchers: dict[str, ThresholdWatcher] = {}
        #: The reference window by calibration bin: counts and score sums of ŷ=0, then ŷ=1.
        self.reference = np.zeros((4, spec.calibration_bins))
        self.breached: list[str] = []
        #: The last labelled predictions (for the gap): grown with the labels up to ``size``,
        #: then a ring (a snapshot from before holds them ``size`` long from the start).
        self.gap_probs = array("f")
        self.gap_predicted = bytearray()
        self.gap_labels = bytearray()
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
        size = len(self.scores)
        p = self.calibration.probability(score)
        y = 1 if predicted else 0
        if self.filled < size:
            self.filled += 1
        else:  # the oldest leaves the sums
            old_p, old_y = self.probs[pos], self.predicted[pos]
            self.sum_p -= old_p
            self.sum_y -= old_y
            if old_y:
                self.sum_pp -= old_p
        self.scores[pos] = score
        self.probs[pos] = p
        p = self.probs[pos]  # as stored, so the sums add and remove the same number
        self.predicted[pos] = y
        self.sum_p += p
        self.sum_y += y
        if y:
            self.sum_pp += p
        pos += 1
        self.pos = 0 if pos == size else pos
        if self.filled < size:
            return False
        self.tick += 1
        if self.tick < self.spec.stride:
            return False
        self.tick = 0
        self.since_refresh += self.spec.stride
        if self.since_refresh >= size or not self.watchers:
            self.since_refresh = 0
            columns = self._refresh()
            if not self.watchers and self.n >= self.spec.reference_size:
                self._arm(columns)
            elif self.watchers:
                self._rebaseline()
        return self._estimate()

    def _refresh(self) -> np.ndarray:
        """Every window prediction scored again with the current calibration; exact sums."""
        scores = np.frombuffer(self.scores, dtype=np.float32).astype(float)
        predicted = np.frombuffer(self.predicted, dtype=np.uint8).astype(float)
        p = self.calibration.probabilities(scores)
        self.probs[:] = array("f", p.astype(np.float32).tobytes())
        columns = _totals(p, predicted)
        self.sum_pp, y, self.sum_p = (float(x) for x in columns.sum(axis=0))
        self.sum_y = round(y)
        return columns

    def _estimate(self) -> bool:
        """The metrics from the window's sums; checked against the thresholds once armed."""
        size = float(len(self.scores))
        self.estimates = _metrics_of_means(
            (self.sum_pp / size, self.sum_y / size, self.sum_p / size))
        if not self.watchers:
            return False
        self.breached = [m for m, w in self.watchers.items() if w.check(self.estimates[m])]
        if not self.breached:
            return False
        self._record(self.evidence_for(self.breached[0]), None)  # no change point of its own
        return True

    def evidence_for(self, metric: str) -> dict[str, StatValue]:
        """The stats of ``metric``'s estimate against its threshold, right now."""
        return {
            "metric": metric,
            "estimate": self.estimates[metric],
            "threshold": self.watchers[metric].threshold,
            "baseline": self.baseline.get(metric),
            "margin": self.margins.get(metric),
            "window_size": len(self.scores),
            "calibration_labels": self.calibration.labelled,
            **{f"estimated_{name}": value for name, value in self.estimates.items()},
        }

    def _arm(self, columns: np.ndarray) -> None:
        spec = self.spec
        z = float(norm.isf(per_test_alpha(spec.false_alarms_per_100k, stride=spec.stride)))
        scores = np.frombuffer(self.scores, dtype=np.float32).astype(float)
        predicted = np.frombuffer(self.predicted, dtype=np.uint8)
        bins = np.clip((scores * spec.calibration_bins).astype(int), 0, spec.calibration_bins - 1)
        for row, (cls, weights) in enumerate(
            ((0, None), (0, scores), (1, None), (1, scores))
        ):
            mask = predicted == cls
            self.reference[row] = np.bincount(
                bins[mask], weights=None if weights is None else weights[mask],
                minlength=spec.calibration_bins)
        for metric in spec.metrics:
            threshold = spec.thresholds.get(metric)
            if threshold is None:
                # the window's noise, and the baseline's (itself one window's estimate)
                self.margins[metric] = max(
                    spec.min_drop, z * math.sqrt(2) * _noise(columns, metric))
                threshold = 0.0  # set by _rebaseline
            self.watchers[metric] = ThresholdWatcher(metric, threshold, cooldown=0)
        self._rebaseline()

    def _rebaseline(self) -> None:
        """The baseline: the reference window's metrics under the *current* calibration.

        Labels refresh the calibration, which moves every estimate alike; re-scoring the
        reference with it keeps a recalibration from reading as a drop (only the inputs moving
        do). Scores are kept by calibration bin, so this is exact up to the clipping of
        probabilities to [0, 1]."""
        count0, sum0, count1, sum1 = self.reference
        correction = self.calibration.corrections()
        total = float(count0.sum() + count1.sum())
        p1 = float((sum1 + correction * count1).sum())
        p0 = float((sum0 + correction * count0).sum())
        self.baseline = _metrics_of_means(
            (p1 / total, float(count1.sum()) / total, (p0 + p1) / total))
        for metric, margin in self.margins.items():
            self.watchers[metric].threshold = self.baseline[metric] - margin

    def observe_label(self, score: float, predicted: bool, label: bool) -> None:
        """A labelled prediction: scored for the gap first, then learnt by the calibration."""
        # Per label: ScoreCalibration.probability and .learn inline (the same operations; learn
        # itself when its current half is full and the older one is dropped).
        calibration = self.calibration
        bins = calibration.bins
        b = int(score * bins)
        b = 0 if b < 0 else (bins - 1 if b >= bins else b)
        counts = calibration.count
        n = counts[b]
        if not n:
            probability = min(max(score, 0.0), 1.0)
        else:
            probability = min(max(score + (calibration.label_sum[b] - calibration.score_sum[b])
                                  / (n + calibration.prior), 0.0), 1.0)
        pos = self.gap_pos
        size = self.spec.window_size
        if pos < len(self.gap_probs):
            self.gap_probs[pos] = probability
            self.gap_predicted[pos] = 1 if predicted else 0
            self.gap_labels[pos] = 1 if label else 0
        else:  # still growing: pos == len
            self.gap_probs.append(probability)
            self.gap_predicted.append(1 if predicted else 0)
            self.gap_labels.append(1 if label else 0)
        pos += 1
        self.gap_pos = 0 if pos == size else pos
        if self.gap_filled < size:
            self.gap_filled += 1
        if calibration.in_half == calibration.half:
            calibration.learn(score, label)
        else:
            counts[b] = n + 1
            calibration.score_sum[b] += score
            calibration.label_sum[b] += 1 if label else 0
            calibration.in_half += 1

    def gap(self) -> dict[str, float]:
        """Estimated minus realized metric over the last labelled predictions ({} before any)."""
        n = self.gap_filled
        if not n:
            return {}
        p = np.frombuffer(self.gap_probs, dtype=np.float32)[:n].astype(float)
        yhat = np.frombuffer(self.gap_predicted, dtype=np.uint8)[:n].astype(float)
        y = np.frombuffer(self.gap_labels, dtype=np.uint8)[:n].astype(float)
        estimated = _metrics_of_means(_totals(p, yhat).mean(axis=0))
        realized = _metrics_of_means(_totals(y, yhat).mean(axis=0))
        return {name: estimated[name] - realized[name] for name in ESTIMATED_METRICS}
