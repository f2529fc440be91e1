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

An absolute threshold is a promise the model once kept: :meth:`ThresholdWatcher.verdict` says
``crossed`` when the metric falls below a threshold it met before, and ``never_met`` once when the
first full window is already below it (a model that never met the bar, not a drift):

>>> [ThresholdWatcher("f1", 0.7, cooldown=0).verdict(v) for v in (0.6,)]
['never_met']
>>> watcher = ThresholdWatcher("f1", 0.7, cooldown=0)
>>> [watcher.verdict(value) for value in (0.6, 0.5, 0.8, 0.6, 0.65, 0.9, 0.5)]
['never_met', None, None, 'crossed', None, None, 'crossed']

:class:`BaselineWatcher` compares the rolling metric with the model version's *own* baseline: the
metric on its first ``baseline_samples`` labelled samples (or a holdout metric recorded for it),
and fires when the rolling metric falls below ``baseline - z * SE``, where SE is the standard
error of the difference between the baseline and a window of ``window`` samples drawn from the
baseline's population (delta method on confusion counts: the way NannyML derives its thresholds
from a reference period's sampling noise). It re-arms once the metric is back above
``baseline - margin / 2`` and the cooldown has passed.

The variance in SE is estimated from the version's labelled pairs, not from the baseline's alone:
a baseline that happened to fall on a lucky stretch (fewer errors than the model makes) is
optimistic, and its own confusion counts also understate the noise, narrowing the margin exactly
when the baseline is too high. The estimate uses all the version's pairs so far, and once twice
``baseline_samples`` of them have left the rolling window, only those (a real drop inside the
window must not widen its own margin). ``bench/baseline_margin.py``, 1,000 healthy 6,000-label
lives per error rate (50% positives): from the baseline's counts alone 35, 17 and 12 of them
fired at 5%, 10% and 22% errors; so estimated, 19, 6 and 9. A real F1 drop from 0.9 to 0.8 is
caught as fast as before (within 500 labels in 470 of 500 runs, against 465; median 335 labels,
against 333.5).

>>> import random
>>> rng = random.Random(4)
>>> def pair(error_rate):
...     actual = rng.random() < 0.5
...     return (not actual if rng.random() < error_rate else actual), actual
>>> window = ClassificationWindow(size=500)
>>> watcher = BaselineWatcher("f1", baseline_samples=1000, window=500, cooldown=1000)
>>> fired = []
>>> for i in range(6000):
...     predicted, actual = pair(0.1 if i < 3000 else 0.2)  # F1 0.9 -> 0.8 at 3000
...     window.update(predicted, actual)
...     watcher.update(predicted, actual)
...     if window.full and watcher.check(window.metric("f1"), window):
...         fired.append((i, round(watcher.margin, 3)))
>>> round(watcher.baseline, 3), fired
(0.902, [(3242, 0.07)])
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from typing import Any

__all__ = [
    "Alert",
    "BaselineWatcher",
    "ClassificationWindow",
    "PerformanceAlerts",
    "RegressionWindow",
    "ThresholdWatcher",
    "metric_variance",
]

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


#: Kinds of pairs a window finds by searching its list; from the next on, by a dict.
_FEW_KINDS = 8
#: :attr:`ClassificationWindow.classes_read` before the window's classes are read again.
_UNREAD = object()
#: The kinds of a window of bits (every prediction and label a bool, 0 or 1): the code of
#: (p, a) is ``2 * p + a``. Shared by every such window (never written).
_BIT_KINDS: tuple[tuple[bool, bool], ...] = ((False, False), (False, True), (True, False),
                                             (True, True))
#: The fields of a window of bits (:meth:`ClassificationWindow.__getstate__`).
_BIT_STATE = ("actual_ones", "codes", "correct", "positive", "predicted_ones", "size", "start",
              "tp_ones")


def _is_bit(value: Any) -> bool:
    """A bool, or an int 0 or 1 (the classes :meth:`ClassificationWindow.metric` reads as
    binary)."""
    cls = value.__class__
    return cls is bool or (cls is int and (value == 0 or value == 1))


class ClassificationWindow(_SlotState):
    """Accuracy, precision, recall and F1 over the last ``size`` (prediction, label) pairs.

    The pairs are kept as one byte each (``codes``, a ring once ``size`` long, oldest at
    ``start``): the index of the pair's kind. While every prediction and label has been a bit (a
    bool, 0 or 1) the kinds are the four of :data:`_BIT_KINDS` (code ``2 * p + a``), shared, and
    the counts are four integers: correct pairs, predicted ones, actual ones and true positives
    (the positive class is 1 unless another is configured; the 0 class's counts are the rest).
    From the first other class on, the kinds are the window's own list (first-seen order after
    the four; a window that meets more than 255 kinds keeps 4-byte codes) and the per-class
    counts are dicts (``tp``, ``predicted``, ``actual``, made from the four integers then), as
    they always were. Every metric is the same float either way: the binary metrics read the
    same integers, and the macro averages' class order (the set of both dicts' keys) does not
    depend on the order the two bit classes, which take their own slots 0 and 1, came in.
    A snapshot from before (a ``pairs`` deque, or kinds with dicts) restores into this layout
    (:meth:`__setstate__`).

    >>> window = ClassificationWindow(size=2)
    >>> for predicted, actual in [(True, True), (True, False), (False, False)]:
    ...     window.update(predicted, actual)
    >>> window.pairs, list(window.codes), window.start, window.predicted_ones, window.correct
    ([(True, False), (False, False)], [0, 2], 1, 1, 1)
    >>> window.update("a", False)  # a class that is not a bit: per-class counts from now on
    >>> window.pairs, window.predicted, window.actual, window.tp
    ([(False, False), ('a', False)], {False: 1, 'a': 1}, {False: 2}, {False: 1})
    """

    __slots__ = ("actual", "actual_ones", "classes_read", "codes", "correct", "kind_of",
                 "kinds", "positive", "predicted", "predicted_ones", "size", "start", "tp",
                 "tp_ones")

    def __init__(self, size: int, positive: Any = None) -> None:
        self.size = size
        self.positive = positive
        self.codes: bytearray | array[int] = bytearray()
        self.start = 0
        self.correct = 0
        #: The kinds: :data:`_BIT_KINDS` while the window holds bits, then its own list.
        self.kinds: Sequence[tuple[Any, Any]] = _BIT_KINDS
        #: Bits: the pairs predicting 1, labelled 1, both (None once classes are counted).
        self.predicted_ones: int | None = 0
        self.actual_ones: int | None = 0
        self.tp_ones: int | None = 0
        #: Code of each kind, once there are more than :data:`_FEW_KINDS` (None: ``kinds`` is
        #: searched, which finds the same code: kinds are distinct under ``==``).
        self.kind_of: dict[tuple[Any, Any], int] | None = None
        #: Per-class counts, once a class is not a bit (None until then).
        self.tp: dict[Any, int] | None = None
        self.predicted: dict[Any, int] | None = None
        self.actual: dict[Any, int] | None = None
        #: :meth:`_positive` of the current classes (:data:`_UNREAD` once a class came or went).
        self.classes_read: Any = _UNREAD

    @property
    def bits(self) -> bool:
        """Whether every prediction and label so far was a bit (four integers count them)."""
        return self.kinds is _BIT_KINDS

    def __getstate__(self) -> dict[str, Any]:
        if self.kinds is _BIT_KINDS:
            return {name: getattr(self, name) for name in _BIT_STATE}
        return {name: getattr(self, name) for name in (
            "actual", "codes", "correct", "kinds", "positive", "predicted", "size", "start", "tp")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        pairs = state.pop("pairs", None)
        self.kind_of = self.tp = self.predicted = self.actual = None
        self.predicted_ones = self.actual_ones = self.tp_ones = None
        super().__setstate__(state)
        self.classes_read = _UNREAD
        if "predicted_ones" in state:  # a window of bits
            self.kinds = _BIT_KINDS
            return
        if pairs is not None:  # a snapshot from before the codes: the same pairs, coded
            self.codes, self.start, self.kinds = bytearray(), 0, []
            for pair in pairs:
                self._append(self._code_of(pair))
        elif len(self.kinds) > _FEW_KINDS:
            self.kind_of = {pair: code for code, pair in enumerate(self.kinds)}
        if all(_is_bit(p) and _is_bit(a) for p, a in self.kinds):  # bits: four integers
            self._to_bits()

    def _to_bits(self) -> None:
        """Per-class counts of bits (a snapshot's) to the four integers and bit codes."""
        assert self.predicted is not None and self.actual is not None and self.tp is not None
        recode = bytes(2 * bool(p) + bool(a) for p, a in self.kinds).ljust(256, b"\0")
        self.codes = bytearray(self.codes).translate(recode)
        self.predicted_ones = self.predicted.get(1, 0)
        self.actual_ones = self.actual.get(1, 0)
        self.tp_ones = self.tp.get(1, 0)
        self.kinds, self.kind_of = _BIT_KINDS, None
        self.tp = self.predicted = self.actual = None

    def _to_classes(self) -> None:
        """A class that is not a bit came: the four integers become per-class counts."""
        n, correct = len(self.codes), self.correct
        ones_p, ones_a, ones_tp = self.predicted_ones, self.actual_ones, self.tp_ones
        assert ones_p is not None and ones_a is not None and ones_tp is not None
        self.predicted = {c: k for c, k in ((False, n - ones_p), (True, ones_p)) if k}
        self.actual = {c: k for c, k in ((False, n - ones_a), (True, ones_a)) if k}
        self.tp = {c: k for c, k in ((False, correct - ones_tp), (True, ones_tp)) if k}
        self.kinds = list(_BIT_KINDS)
        self.predicted_ones = self.actual_ones = self.tp_ones = None
        self.classes_read = _UNREAD

    @property
    def pairs(self) -> list[tuple[Any, Any]]:
        """The (prediction, label) pairs in the window, oldest first (a copy)."""
        kinds, codes, start = self.kinds, self.codes, self.start
        return [kinds[c] for c in codes[start:]] + [kinds[c] for c in codes[:start]]

    def __len__(self) -> int:
        return len(self.codes)

    @property
    def full(self) -> bool:
        return len(self.codes) >= self.size

    def _code_of(self, pair: tuple[Any, Any]) -> int:
        """The code of ``pair``'s kind, a new one (the next) when it is new."""
        kinds, kind_of = self.kinds, self.kind_of
        assert isinstance(kinds, list)
        if kind_of is not None:
            code = kind_of.get(pair)
            if code is not None:
                return code
        elif pair in kinds:
            return kinds.index(pair)
        code = len(kinds)
        kinds.append(pair)
        if kind_of is not None:
            kind_of[pair] = code
        elif code >= _FEW_KINDS:  # from now on a dict finds the code
            self.kind_of = {kind: c for c, kind in enumerate(kinds)}
        if code == 256 and self.codes.__class__ is bytearray:  # wider codes from now on
            self.codes = array("L", list(self.codes))
        return code

    def _append(self, code: int) -> None:
        codes = self.codes
        if len(codes) < self.size:
            codes.append(code)
        else:
            codes[self.start] = code
            self.start = (self.start + 1) % self.size

    def update(self, predicted: Any, actual: Any) -> None:
        if self.kinds is _BIT_KINDS:
            cls_p, cls_a = predicted.__class__, actual.__class__
            if ((cls_p is bool or (cls_p is int and (predicted == 0 or predicted == 1)))
                    and (cls_a is bool or (cls_a is int and (actual == 0 or actual == 1)))):
                self._update_bits(predicted, actual)
                return
            self._to_classes()
        self._update_classes(predicted, actual)

    def _update_bits(self, predicted: Any, actual: Any) -> None:
        """:meth:`update` of a window of bits with a bit pair: the four integers."""
        code = (2 if predicted else 0) + (1 if actual else 0)
        codes = self.codes
        if len(codes) >= self.size:
            i = self.start
            old = codes[i]
            codes[i] = code
            i += 1
            self.start = 0 if i == self.size else i
            if old >= 2:
                self.predicted_ones -= 1  # type: ignore[operator]
            if old & 1:
                self.actual_ones -= 1  # type: ignore[operator]
            if old == 3:
                self.tp_ones -= 1  # type: ignore[operator]
                self.correct -= 1
            elif not old:
                self.correct -= 1
        else:
            codes.append(code)
        if predicted:
            self.predicted_ones += 1  # type: ignore[operator]
        if actual:
            self.actual_ones += 1  # type: ignore[operator]
        if predicted == actual:
            self.correct += 1
            if actual:
                self.tp_ones += 1  # type: ignore[operator]

    def _update_classes(self, predicted: Any, actual: Any) -> None:
        """:meth:`update` with per-class counts."""
        pair = (predicted, actual)
        kind_of = self.kind_of
        if kind_of is None:
            try:
                code = self.kinds.index(pair)
            except ValueError:
                code = self._code_of(pair)
        else:
            code = kind_of.get(pair)  # type: ignore[assignment]
            if code is None:
                code = self._code_of(pair)
        codes = self.codes
        counts_p, counts_a = self.predicted, self.actual
        assert counts_p is not None and counts_a is not None
        if len(codes) >= self.size:
            i = self.start
            old_p, old_a = self.kinds[codes[i]]
            codes[i] = code
            i += 1
            self.start = 0 if i == self.size else i
            left = counts_p[old_p] - 1
            if left:
                counts_p[old_p] = left
            else:
                del counts_p[old_p]
                self.classes_read = _UNREAD
            left = counts_a[old_a] - 1
            if left:
                counts_a[old_a] = left
            else:
                del counts_a[old_a]
                self.classes_read = _UNREAD
            if old_p == old_a:
                self.correct -= 1
                _dec(self.tp, old_a)  # type: ignore[arg-type]
        else:
            codes.append(code)
        n = counts_p.get(predicted, 0)
        counts_p[predicted] = n + 1
        if not n:
            self.classes_read = _UNREAD
        n = counts_a.get(actual, 0)
        counts_a[actual] = n + 1
        if not n:
            self.classes_read = _UNREAD
        if predicted == actual:
            self.correct += 1
            tp = self.tp
            tp[actual] = tp.get(actual, 0) + 1  # type: ignore[index, union-attr]

    def counts(self, positive: Any) -> tuple[int, int, int]:
        """(true positives, predicted, actual) of class ``positive`` in the window."""
        if self.kinds is _BIT_KINDS:
            ones_p, ones_a, ones_tp = self.predicted_ones, self.actual_ones, self.tp_ones
            assert ones_p is not None and ones_a is not None and ones_tp is not None
            if not isinstance(positive, str):  # as a dict of bool keys finds it (1.0 is 1)
                if positive == 1:
                    return ones_tp, ones_p, ones_a
                if positive == 0:
                    n = len(self.codes)
                    return self.correct - ones_tp, n - ones_p, n - ones_a
            return 0, 0, 0
        assert self.tp is not None and self.predicted is not None and self.actual is not None
        return (self.tp.get(positive, 0), self.predicted.get(positive, 0),
                self.actual.get(positive, 0))

    def class_counts(self) -> tuple[dict[Any, int], dict[Any, int], dict[Any, int]]:
        """(true positives, predicted, actual) per class present (bits: keys False, True)."""
        if self.kinds is not _BIT_KINDS:
            return dict(self.tp or {}), dict(self.predicted or {}), dict(self.actual or {})
        found = [{c: k for c in (False, True) if (k := self.counts(c)[i])} for i in range(3)]
        return found[0], found[1], found[2]

    def _positive(self) -> Any:
        if self.positive is not None:
            return self.positive
        if self.kinds is _BIT_KINDS:  # every class a bit: binary
            return True
        found = self.classes_read
        if found is _UNREAD:  # read once per change of the classes in the window
            found = self.classes_read = self._binary_positive()
        return found

    def _binary_positive(self) -> bool | None:
        """True when every class in the window is a boolean or 0/1, else None (macro)."""
        for counts in (self.predicted or {}, self.actual or {}):
            for c in counts:
                if c is True or c is False:
                    continue
                if not isinstance(c, int) or c not in _BINARY_CLASSES:
                    return None
        return True

    def metric(self, name: str) -> float:
        """The metric over the current window (``accuracy``, ``precision``, ``recall``, ``f1``)."""
        n = len(self.codes)
        if name == "accuracy":
            return self.correct / n if n else 0.0
        positive = self._positive()
        if positive is not None:  # one class: the loop below once, the same float operations
            tp, predicted, actual = self.counts(positive)
            if name == "f1":
                denominator = predicted + actual
                return (0.0 + (2 * tp / denominator if denominator else 0.0)) / 1
            if name == "precision":
                return (0.0 + (tp / predicted if predicted else 0.0)) / 1
            if name == "recall":
                return (0.0 + (tp / actual if actual else 0.0)) / 1
            raise ValueError(f"unknown classification metric {name!r}")
        assert self.tp is not None and self.predicted is not None and self.actual is not None
        classes = self.predicted.keys() | self.actual.keys()
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
    """Mean absolute error over the last ``size`` residuals (8 bytes each: an ``array("d")``,
    a ring once ``size`` long, oldest at ``start``; a snapshot from before, a deque, restores
    into it)."""

    __slots__ = ("residuals", "size", "start", "total")

    def __init__(self, size: int) -> None:
        self.size = size
        self.residuals: array[float] = array("d")
        self.start = 0
        self.total = 0.0

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        if "start" not in state:  # a snapshot from before the ring: a deque, oldest first
            self.residuals = array("d", state["residuals"])
            self.start = 0

    def __len__(self) -> int:
        return len(self.residuals)

    @property
    def full(self) -> bool:
        return len(self.residuals) >= self.size

    def update(self, residual: float) -> None:
        residuals = self.residuals
        if len(residuals) >= self.size:
            i = self.start
            self.total -= residuals[i]
            residuals[i] = residual
            i += 1
            self.start = 0 if i == self.size else i
        else:
            residuals.append(residual)
        self.total += residual

    def metric(self, name: str) -> float:
        if name != "mae":
            raise ValueError(f"unknown regression metric {name!r}")
        n = len(self.residuals)
        return self.total / n if n else 0.0


def _newly_breached(watcher: Any) -> bool:
    """The metric is on the wrong side now: True on the edge (once per breach) unless the
    cooldown since the last published breach is still running (then counted as suppressed)."""
    if watcher.breached:
        return False
    watcher.breached = True
    if watcher.n <= watcher.quiet_until:
        watcher.suppressed_cooldown += 1
        return False
    watcher.quiet_until = watcher.n + watcher.cooldown
    return True


class ThresholdWatcher(_SlotState):
    """Edge-triggered threshold alert on one metric, with cooldown in labelled samples."""

    __slots__ = (
        "breached",
        "cooldown",
        "higher_is_better",
        "met",
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
        #: None until the first evaluation; then whether the metric ever met the threshold.
        self.met: bool | None = None

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        if "met" not in state:  # a snapshot from before ``verdict``: it fired on crossing
            self.met = True

    def verdict(self, value: float) -> str | None:
        """Count one evaluation: ``"crossed"`` when the metric newly falls on the wrong side of a
        threshold it met before (and the cooldown allows), ``"never_met"`` once when the first
        evaluation is already on the wrong side, else None."""
        first = self.met is None
        fired = self.check(value)
        bad = self.breached
        if first:
            self.met = not bad
            return "never_met" if bad else None
        if not bad:
            self.met = True
        elif fired and not self.met:
            return None  # still below a threshold it never met: said once already
        return "crossed" if fired else None

    def check(self, value: float) -> bool:
        """Count one evaluation; True when this value newly breaches and should be published."""
        self.n += 1
        bad = value < self.threshold if self.higher_is_better else value > self.threshold
        if not bad:
            self.breached = False
            return False
        return _newly_breached(self)


def metric_variance(metric: str, tp: int, fp: int, fn: int, tn: int) -> float:
    """``n · Var`` of a binary metric estimated from ``n`` samples with these confusion shares
    (delta method under multinomial sampling); divide by a sample size for its variance.

    Accuracy ``a+d``: ``f(1-f)``; precision ``a/(a+b)``: ``f(1-f)/(a+b)``; recall ``a/(a+c)``:
    ``f(1-f)/(a+c)``; F1 ``2a/(2a+b+c)``: ``4a(b+c)(a+b+c)/(2a+b+c)^4`` (shares, not counts).

    >>> round(metric_variance("accuracy", 45, 5, 5, 45), 4)
    0.09
    >>> round(metric_variance("f1", 45, 5, 5, 45), 4)
    0.099
    >>> metric_variance("recall", 0, 0, 0, 10)  # no positives: the metric is undefined
    inf
    """
    n = tp + fp + fn + tn
    if n <= 0:
        return math.inf
    a, b, c, d = tp / n, fp / n, fn / n, tn / n
    if metric == "accuracy":
        f = a + d
        return f * (1 - f)
    if metric == "precision":
        return _ratio_variance(a, a + b)
    if metric == "recall":
        return _ratio_variance(a, a + c)
    if metric == "f1":
        denominator = 2 * a + b + c
        if denominator <= 0:
            return math.inf
        return 4 * a * (b + c) * (a + b + c) / denominator**4
    raise ValueError(f"unknown classification metric {metric!r}")


def _ratio_variance(numerator: float, share: float) -> float:
    if share <= 0:
        return math.inf
    f = numerator / share
    return f * (1 - f) / share


class BaselineWatcher(_SlotState):
    """A score metric (accuracy, precision, recall, F1) against the version's own baseline.

    Feed every labelled pair to :meth:`update` (it builds the baseline from the first
    ``baseline_samples``) and each rolling-window value to :meth:`check`, which returns True when
    the value newly falls below ``baseline - margin`` and should be published. ``margin`` is
    ``z`` standard errors of the difference between a ``window``-sample rolling metric and the
    baseline, both drawn from the baseline's population.

    The variance comes from the confusion counts of the pairs fed so far (:attr:`seen`): those
    older than the rolling window passed to :meth:`check` once there are twice
    ``baseline_samples`` of them, else all of them (all of them too when no window is passed).
    The margin follows it: it is re-estimated whenever a checked value is more than half the
    current margin below the baseline (where the margin decides).

    A recorded baseline (e.g. the holdout metric the worker measured at promotion) replaces the
    first-samples value: :meth:`set_baseline` ``(value, n)``; the confusion shares of the pairs
    still give the metric's variance. Binary metrics need the positive class to be seen
    (``positive`` or ``True``/``1``); otherwise, and for multiclass windows, the variance is the
    binomial one of the metric's value, ``f(1-f)``. When a window is expected to hold fewer than
    ``min_positives`` positives, precision, recall and F1 are too noisy to judge: the watcher
    stays silent (:attr:`inert`).
    """

    __slots__ = (
        "baseline",
        "baseline_n",
        "baseline_samples",
        "breached",
        "confusion",
        "cooldown",
        "counts",
        "first",
        "inert",
        "margin",
        "metric",
        "min_positives",
        "n",
        "positive",
        "quiet_until",
        "recorded",
        "seen",
        "suppressed_cooldown",
        "window",
        "z",
    )

    def __init__(
        self,
        metric: str,
        *,
        baseline_samples: int,
        window: int,
        cooldown: int,
        z: float = 4.0,
        min_positives: int = 20,
        positive: Any = None,
    ) -> None:
        if metric not in ("accuracy", "precision", "recall", "f1"):
            raise ValueError(f"BaselineWatcher watches score metrics, not {metric!r}")
        self.metric = metric
        self.baseline_samples = baseline_samples
        self.window = window
        self.cooldown = cooldown
        self.z = z
        self.min_positives = min_positives
        self.positive = positive
        #: The first samples while they are collected (None once measured).
        self.counts: ClassificationWindow | None = ClassificationWindow(baseline_samples, positive)
        #: Their metric and (tp, fp, fn, tn) for the positive class (None: multiclass).
        self.first: float | None = None
        self.confusion: tuple[int, int, int, int] | None = None
        #: (tp, fp, fn, tn) of every pair fed so far, once the baseline is measured (None:
        #: multiclass): the sample the metric's variance is estimated from.
        self.seen: list[int] | None = None
        self.baseline: float | None = None
        self.baseline_n = 0
        self.recorded: float | None = None
        self.margin = math.inf
        self.inert = False
        self.breached = False
        self.n = 0
        self.quiet_until = 0
        self.suppressed_cooldown = 0

    @property
    def threshold(self) -> float | None:
        """The value below which the metric fires (None until the baseline is known)."""
        if self.baseline is None or self.inert:
            return None
        return self.baseline - self.margin

    def set_baseline(self, value: float, n: int) -> None:
        """Use a recorded baseline (a holdout metric over ``n`` samples) instead of the first
        samples' value; takes effect once the first samples have given the variance."""
        self.recorded = value
        self.baseline_n = n
        if self.baseline is not None:
            self._fix()

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        if "seen" not in state:  # a snapshot from before ``seen``: the baseline's counts
            self.seen = None if self.confusion is None else list(self.confusion)

    def update(self, predicted: Any, actual: Any) -> None:
        """One labelled pair; only the first ``baseline_samples`` are kept, and once they are
        measured only confusion counts stay (O(1) afterwards)."""
        seen = self.seen
        if seen is not None:
            # a binary confusion exists only with a configured positive class or True/1
            positive = True if self.positive is None else self.positive
            if predicted == positive:
                seen[0 if actual == positive else 1] += 1
            else:
                seen[2 if actual == positive else 3] += 1
            return
        if self.baseline is not None:
            return
        counts = self.counts
        assert counts is not None
        counts.update(predicted, actual)
        if counts.full:
            self._measure(counts)
            self._fix()

    def _measure(self, counts: ClassificationWindow) -> None:
        """The first samples' metric and confusion counts (None: multiclass); the pairs go."""
        n = len(counts.codes)
        self.first = counts.metric(self.metric)
        positive = counts._positive()
        if positive is None:
            self.confusion = None
        else:
            tp, predicted, actual = counts.counts(positive)
            fp = predicted - tp
            fn = actual - tp
            self.confusion = (tp, fp, fn, n - tp - fp - fn)
            self.seen = list(self.confusion)
        self.counts = None

    def _fix(self) -> None:
        first, confusion = self.first, self.confusion
        assert first is not None
        n = self.baseline_samples
        self.baseline = first if self.recorded is None else self.recorded
        if confusion is None:  # multiclass (macro): the binomial variance of the value
            variance = self.baseline * (1 - self.baseline)
            positives_share = 1.0
        else:
            tp, _, fn, _ = confusion
            variance = metric_variance(self.metric, *(self.seen or confusion))
            positives_share = (tp + fn) / n if n else 0.0
        if self.metric != "accuracy" and positives_share * self.window < self.min_positives:
            self.inert = True
            return
        self.inert = False
        self._set_margin(variance)

    def _set_margin(self, variance: float) -> None:
        n_baseline = max(1, self.baseline_n) if self.recorded is not None else self.baseline_samples
        self.margin = self.z * math.sqrt(variance / n_baseline + variance / self.window)

    def _noise_sample(self, window: ClassificationWindow | None) -> list[int]:
        """(tp, fp, fn, tn) the variance is estimated from: the version's pairs older than the
        rolling ``window`` once there are twice ``baseline_samples`` of them (so a real drop in
        the window does not widen its own margin), else all its pairs so far."""
        seen = self.seen
        assert seen is not None
        if window is None:
            return seen
        positive = True if self.positive is None else self.positive
        tp, predicted, actual = window.counts(positive)
        fp = predicted - tp
        fn = actual - tp
        tn = len(window.codes) - tp - fp - fn
        s_tp, s_fp, s_fn, s_tn = seen
        older = [s_tp - tp, s_fp - fp, s_fn - fn, s_tn - tn]
        return older if (s_tp + s_fp + s_fn + s_tn) - (tp + fp + fn + tn) >= \
            2 * self.baseline_samples else seen

    def check(self, value: float, window: ClassificationWindow | None = None) -> bool:
        """One rolling-window value (of ``window``, whose pairs were fed to :meth:`update`):
        True when it newly breaches and should be published."""
        self.n += 1
        baseline = self.baseline
        if baseline is None or self.inert:
            return False
        if value >= baseline - self.margin / 2:
            self.breached = False  # recovered: re-armed (subject to the cooldown)
            return False
        if self.seen is not None:  # the margin matters now: re-estimated from the pairs
            self._set_margin(metric_variance(self.metric, *self._noise_sample(window)))
            if value >= baseline - self.margin / 2:
                self.breached = False
                return False
        if value >= baseline - self.margin:
            return False
        return _newly_breached(self)


#: The watchers of a key without baseline (or threshold) alerts: one empty dict for all keys.
_NO_WATCHERS: dict[str, Any] = {}

#: (signal, detector, severity, stats) of one performance alert, for the monitor to publish.
Alert = tuple[str, str, str, dict[str, Any]]
_NO_ALERTS: tuple[Alert, ...] = ()


class PerformanceAlerts(_SlotState):
    """Every metric alert of one key: score metrics against the version's own baseline
    (:class:`BaselineWatcher`, detector ``baseline``) and absolute thresholds
    (:class:`ThresholdWatcher`, detector ``threshold``: ``drift`` on crossing below a threshold
    the model met, one ``warning`` with ``never_met`` when it never met it).

    The monitor feeds each joined pair after updating its rolling window and publishes what
    :meth:`observe` returns; ``window`` is that rolling window (its size is the
    ``metric_window``). Regression keys watch ``mae`` thresholds only.

    >>> import random
    >>> rng = random.Random(2)
    >>> window = ClassificationWindow(500)
    >>> alerts = PerformanceAlerts(baseline_metrics=("f1",), baseline_samples=1000, z=4.0,
    ...                            min_positives=20, thresholds={"f1": 0.95}, cooldown=1000)
    >>> for i in range(6000):
    ...     actual = rng.random() < 0.5
    ...     predicted = (not actual) if rng.random() < (0.1 if i < 3000 else 0.3) else actual
    ...     window.update(predicted, actual)
    ...     for signal, detector, severity, stats in alerts.observe(predicted, actual, window):
    ...         print(i, signal, detector, severity, sorted(stats))
    499 metric:f1 threshold warning ['direction', 'never_met', 'threshold', 'value', 'window']
    3185 metric:f1 baseline drift ['baseline', 'baseline_samples', 'margin', 'threshold', 'value', 'window', 'z']
    """

    __slots__ = ("baselines", "thresholds")

    def __init__(
        self,
        *,
        baseline_metrics: tuple[str, ...] | list[str],
        baseline_samples: int,
        z: float,
        min_positives: int,
        thresholds: dict[str, float],
        cooldown: int,
        window: int = 500,
        positive: Any = None,
    ) -> None:
        # An empty dict is the shared, never written :data:`_NO_WATCHERS` (no dict per key).
        self.baselines: dict[str, BaselineWatcher] = {
            name: BaselineWatcher(name, baseline_samples=baseline_samples, window=window,
                                  cooldown=cooldown, z=z, min_positives=min_positives,
                                  positive=positive)
            for name in baseline_metrics
        } or _NO_WATCHERS
        self.thresholds: dict[str, ThresholdWatcher] = {
            name: ThresholdWatcher(name, value, cooldown=cooldown)
            for name, value in thresholds.items()
        } or _NO_WATCHERS

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self.baselines = self.baselines or _NO_WATCHERS
        self.thresholds = self.thresholds or _NO_WATCHERS

    @property
    def suppressed_cooldown(self) -> int:
        return sum(w.suppressed_cooldown for w in self.baselines.values()) + sum(
            w.suppressed_cooldown for w in self.thresholds.values())

    @classmethod
    def restored(cls, thresholds: dict[str, ThresholdWatcher]) -> PerformanceAlerts:
        """A key's alerts restored from a snapshot taken before baselines existed: its threshold
        watchers as they were (a watcher from then restores as ``met``); no baseline until the
        model's next version."""
        alerts = cls.__new__(cls)
        alerts.baselines = _NO_WATCHERS
        alerts.thresholds = dict(thresholds) or _NO_WATCHERS
        return alerts

    def observe(self, predicted: Any, actual: Any, window: Any) -> Sequence[Alert]:
        """One joined pair (already in ``window``); the alerts to publish (an empty tuple,
        not allocated, when there are none)."""
        regression = window.__class__ is RegressionWindow
        if not regression:
            for watcher in self.baselines.values():
                watcher.update(predicted, actual)
        if len(window) < window.size:  # not full yet
            return _NO_ALERTS
        out: list[Alert] | None = None
        if not regression:
            for name, watcher in self.baselines.items():
                if watcher.inert:
                    continue
                value = window.metric(name)
                if watcher.check(value, window):
                    out = out or []
                    out.append(("metric:" + name, "baseline", "drift", {
                        "value": value, "baseline": watcher.baseline, "margin": watcher.margin,
                        "threshold": watcher.threshold, "z": watcher.z,
                        "baseline_samples": watcher.baseline_samples, "window": window.size}))
        for name, threshold in self.thresholds.items():
            if regression != (name == "mae"):
                continue
            value = window.metric(name)
            verdict = threshold.verdict(value)
            if verdict is None:
                continue
            stats: dict[str, Any] = {
                "value": value, "threshold": threshold.threshold,
                "direction": "below" if threshold.higher_is_better else "above",
                "window": window.size}
            if verdict == "never_met":
                stats["never_met"] = True
            out = out or []
            out.append(("metric:" + name, "threshold",
                        "warning" if verdict == "never_met" else "drift", stats))
        return out or _NO_ALERTS
