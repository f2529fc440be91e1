"""Rolling performance metrics over the last N labelled samples, compared with thresholds.

:class:`ClassificationWindow` keeps running counts (correct, true positives, predicted and actual
counts per class) so each update is O(1) and each metric O(classes). Precision, recall and F1
are binary (for the positive class) when the window's classes are booleans or 0/1, or when a
positive label is configured; otherwise they are macro averages over the classes seen in
either predictions or labels (scikit-learn's convention, with 0 for an undefined ratio).
:class:`RegressionWindow` keeps the mean absolute error.

:class:`ThresholdWatcher` turns a metric into an alert: it fires when the window is full and the
metric crosses its threshold (below for scores, above for ``mae``), and re-arms once the metric
is back on the right side and the cooldown has passed.

>>> window = ClassificationWindow(size=4)
>>> for predicted, actual in [(1, 1), (1, 0), (0, 0), (1, 1), (0, 1)]:
...     window.update(predicted, actual)
>>> window.full, window.metric("accuracy"), window.metric("precision"), window.metric("recall")
(True, 0.5, 0.5, 0.5)
>>> round(window.metric("f1"), 4)
0.5
>>> multi = ClassificationWindow(size=10)
>>> for predicted, actual in [("a", "a"), ("b", "a"), ("c", "c"), ("b", "b")]:
...     multi.update(predicted, actual)
>>> round(multi.metric("f1"), 4)  # macro over a, b, c
0.7778
>>> watcher = ThresholdWatcher("f1", 0.7, cooldown=0)
>>> [watcher.check(value) for value in (0.8, 0.6, 0.5, 0.9, 0.65)]
[False, True, False, False, True]
"""

from __future__ import annotations

from collections import deque
from typing import Any

__all__ = ["ClassificationWindow", "RegressionWindow", "ThresholdWatcher"]

_BINARY_CLASSES = frozenset({True, False})  # 1 == True and 0 == False hash alike


class _SlotState:
    """Pickles a slotted object as a plain dict of its slots (the snapshot format since v1)."""

    __slots__: tuple[str, ...] = ()

    def __getstate__(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            setattr(self, name, value)


def _inc(counts: dict[Any, int], key: Any) -> None:
    counts[key] = counts.get(key, 0) + 1


def _dec(counts: dict[Any, int], key: Any) -> None:
    left = counts[key] - 1
    if left:
        counts[key] = left
    else:
        del counts[key]


class ClassificationWindow(_SlotState):
    """Accuracy, precision, recall and F1 over the last ``size`` (prediction, label) pairs."""

    __slots__ = ("actual", "correct", "pairs", "positive", "predicted", "size", "tp")

    def __init__(self, size: int, positive: Any = None) -> None:
        self.size = size
        self.positive = positive
        self.pairs: deque[tuple[Any, Any]] = deque()
        self.correct = 0
        self.tp: dict[Any, int] = {}
        self.predicted: dict[Any, int] = {}
        self.actual: dict[Any, int] = {}

    @property
    def full(self) -> bool:
        return len(self.pairs) >= self.size

    def update(self, predicted: Any, actual: Any) -> None:
        pairs = self.pairs
        if len(pairs) >= self.size:
            old_p, old_a = pairs.popleft()
            _dec(self.predicted, old_p)
            _dec(self.actual, old_a)
            if old_p == old_a:
                self.correct -= 1
                _dec(self.tp, old_a)
        pairs.append((predicted, actual))
        _inc(self.predicted, predicted)
        _inc(self.actual, actual)
        if predicted == actual:
            self.correct += 1
            _inc(self.tp, actual)

    def _positive(self) -> Any:
        if self.positive is not None:
            return self.positive
        # Once per label when thresholds are set: no set union, no generator.
        for counts in (self.predicted, self.actual):
            for c in counts:
                if c is True or c is False:
                    continue
                if not isinstance(c, int) or c not in _BINARY_CLASSES:
                    return None
        return True

    def metric(self, name: str) -> float:
        """The metric over the current window (``accuracy``, ``precision``, ``recall``, ``f1``)."""
        n = len(self.pairs)
        if name == "accuracy":
            return self.correct / n if n else 0.0
        positive = self._positive()
        classes = [positive] if positive is not None else self.predicted.keys() | self.actual.keys()
        total = 0.0
        for c in classes:
            tp = self.tp.get(c, 0)
            if name == "precision":
                denominator = self.predicted.get(c, 0)
                total += tp / denominator if denominator else 0.0
            elif name == "recall":
                denominator = self.actual.get(c, 0)
                total += tp / denominator if denominator else 0.0
            elif name == "f1":
                denominator = self.predicted.get(c, 0) + self.actual.get(c, 0)
                total += 2 * tp / denominator if denominator else 0.0
            else:
                raise ValueError(f"unknown classification metric {name!r}")
        return total / len(classes) if classes else 0.0


class RegressionWindow(_SlotState):
    """Mean absolute error over the last ``size`` residuals."""

    __slots__ = ("residuals", "size", "total")

    def __init__(self, size: int) -> None:
        self.size = size
        self.residuals: deque[float] = deque()
        self.total = 0.0

    @property
    def full(self) -> bool:
        return len(self.residuals) >= self.size

    def update(self, residual: float) -> None:
        if len(self.residuals) >= self.size:
            self.total -= self.residuals.popleft()
        self.residuals.append(residual)
        self.total += residual

    def metric(self, name: str) -> float:
        if name != "mae":
            raise ValueError(f"unknown regression metric {name!r}")
        n = len(self.residuals)
        return self.total / n if n else 0.0


class ThresholdWatcher(_SlotState):
    """Edge-triggered threshold alert on one metric, with cooldown in labelled samples."""

    __slots__ = (
        "breached",
        "cooldown",
        "higher_is_better",
        "metric",
        "n",
        "quiet_until",
        "suppressed_cooldown",
        "threshold",
    )

    def __init__(self, metric: str, threshold: float, *, cooldown: int) -> None:
        self.metric = metric
        self.threshold = threshold
        self.higher_is_better = metric != "mae"
        self.cooldown = cooldown
        self.breached = False
        self.n = 0
        self.quiet_until = 0
        self.suppressed_cooldown = 0

    def check(self, value: float) -> bool:
        """Count one evaluation; True when this value newly breaches and should be published."""
        self.n += 1
        bad = value < self.threshold if self.higher_is_better else value > self.threshold
        if not bad:
            self.breached = False
            return False
        if self.breached:
            return False
        self.breached = True
        if self.n <= self.quiet_until:
            self.suppressed_cooldown += 1
            return False
        self.quiet_until = self.n + self.cooldown
        return True
