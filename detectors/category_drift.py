"""A change in a categorical (or boolean) feature's category distribution vs its reference.

:class:`CategoryDriftDetector` counts the first ``reference_size`` values it is fed (at most
``max_reference_categories`` distinct names; more are pooled), then keeps the
``max_categories`` most frequent categories whose expected count in a window is at least
``min_expected`` as bins of their own and pools the rest in one *other* bin (bounded memory:
a ring of ``window_size`` bin numbers and one count per bin). Every ``stride`` samples, once
the window is full, it runs the two-sample chi-square test of the window's counts against the
reference's and fires when the statistic exceeds the chi-square quantile at
``false_alarms_per_100k * stride / 100_000`` (a union bound over the tests a stationary stream
gets in 100k samples). A category first seen after the reference lands in *other*, so a new
category with enough mass moves the test too (:mod:`detectors.new_category` watches the rate
of new names on its own).

The reference can instead be a recorded distribution (e.g. the training data's category counts
that the retrain worker recorded): :meth:`CategoryDriftDetector.from_counts`. Counts are
scaled to ``reference_size`` samples, so a large training set does not turn negligible
differences into alarms.

The evidence names the categories whose share moved most, with their reference and recent
shares; ``change_lag`` is the CUSUM estimate over the window's per-sample log-likelihood
ratios. Names that land in *other* after the reference are counted (at most ``4 * top`` of
them, the first seen), so the evidence also names the most frequent ones
(``other_category_<rank>``, ``other_count_<rank>``: counts since the reference). After a firing
the detector re-baselines from the samples that follow.

>>> import random
>>> rng = random.Random(11)
>>> detector = CategoryDriftDetector(CategoryDriftSpec())
>>> before = rng.choices(["DE", "FR", "US"], weights=[60, 30, 10], k=3000)
>>> after = rng.choices(["DE", "FR", "US"], weights=[40, 30, 30], k=1000)
>>> [i for i, value in enumerate(before + after) if detector.update(value)]
[3248]
>>> stats = detector.evidence()
>>> stats["category_1"], stats["reference_share_1"], stats["recent_share_1"]
('DE', 0.587, 0.506)
>>> stats["category_2"], round(stats["change_2"], 3), stats["df"], round(stats["p_value"], 6)
('US', 0.075, 2, 0.000141)
>>> 3248 - detector.change_lag  # the change came at 3000
3004
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import Field
from scipy.stats import chi2

from detectors.streaming import (
    LastFiring,
    StatValue,
    WindowTestFields,
    count_capped,
    per_test_alpha,
    suffix_change_start,
)

__all__ = ["OTHER", "CategoryDriftDetector", "CategoryDriftSpec"]

#: The name of the pooled bin in the evidence.
OTHER = "(other)"
_MAX_NAME = 64


class CategoryDriftSpec(WindowTestFields):
    """Two-sample chi-square test of a sliding window's categories against a reference."""

    type: Literal["category_drift"] = "category_drift"
    #: The test runs every ``stride`` samples once the window is full.
    stride: int = Field(default=50, ge=1)
    #: Categories with a bin of their own (the most frequent ones); the rest share *other*.
    max_categories: int = Field(default=20, ge=1, le=254)
    #: A category gets its own bin only if a window expects at least this many of it.
    min_expected: float = Field(default=5.0, ge=0)
    #: Distinct names counted during the reference phase; later ones count as *other*.
    max_reference_categories: int = Field(default=1000, ge=1)
    #: Categories listed in the evidence (largest change of share first).
    top: int = Field(default=3, ge=1, le=20)


def _label(name: Any) -> str:
    text = name if isinstance(name, str) else repr(name)
    return text if len(text) <= _MAX_NAME else text[: _MAX_NAME - 1] + "…"


class CategoryDriftDetector(LastFiring):
    """Fires when the window's category distribution differs from the reference's."""

    __slots__ = (
        "counts",
        "filled",
        "index",
        "n",
        "names",
        "other",
        "other_names",
        "pos",
        "ref_counts",
        "ref_overflow",
        "reference",
        "ring",
        "spec",
        "thresholds",
        "tick",
    )

    def __init__(self, spec: CategoryDriftSpec) -> None:
        self.spec = spec
        super().__init__()
        self._restart()

    @classmethod
    def from_counts(
        cls, spec: CategoryDriftSpec, counts: Mapping[Any, float]
    ) -> CategoryDriftDetector:
        """A detector whose reference is ``counts`` (category → count or share), armed at once."""
        detector = cls(spec)
        detector._arm(dict(counts), 0)
        return detector

    def _restart(self) -> None:
        self.n = 0
        self.ref_counts: dict[Any, int] = {}
        self.ref_overflow = 0
        self.reference: list[float] = []
        self.index: dict[Any, int] = {}
        self.names: list[str] = []
        self.other = 0
        self.other_names: dict[Any, int] = {}
        self.counts: list[int] = []
        self.ring = bytearray(self.spec.window_size)
        self.pos = 0
        self.filled = 0
        self.tick = 0
        self.thresholds: list[float] = []

    @property
    def armed(self) -> bool:
        """Whether the reference is known (the test runs)."""
        return bool(self.reference)

    def _arm(self, counts: dict[Any, float], overflow: float) -> None:
        spec = self.spec
        total = sum(counts.values()) + overflow
        if total <= 0:
            raise ValueError("a reference distribution needs a positive total count")
        scale = spec.reference_size / total
        min_count = spec.min_expected * total / spec.window_size
        ranked = sorted(counts.items(), key=lambda item: -item[1])[: spec.max_categories]
        tracked = [(name, count) for name, count in ranked if count >= min_count and count > 0]
        self.index = {name: i for i, (name, _) in enumerate(tracked)}
        self.names = [_label(name) for name, _ in tracked] + [OTHER]
        self.other = len(tracked)
        kept = sum(count for _, count in tracked)
        self.reference = [count * scale for _, count in tracked] + [(total - kept) * scale]
        self.counts = [0] * len(self.reference)
        alpha = per_test_alpha(spec.false_alarms_per_100k, stride=spec.stride)
        self.thresholds = [float(chi2.isf(alpha, df)) for df in range(1, len(self.reference))]
        self.ref_counts = {}

    def update(self, value: Any) -> bool:
        """Feed one category; True when this sample's test fires."""
        self.n += 1
        if not self.reference:
            if not count_capped(self.ref_counts, value, self.spec.max_reference_categories):
                self.ref_overflow += 1
            if self.n >= self.spec.reference_size:
                self._arm(dict(self.ref_counts), self.ref_overflow)
            return False
        b = self.index.get(value, self.other)
        if b == self.other:
            count_capped(self.other_names, value, 4 * self.spec.top)
        ring = self.ring
        pos = self.pos
        counts_ = self.counts
        size = len(ring)
        if self.filled < size:
            self.filled += 1
        else:
            counts_[ring[pos]] -= 1
        ring[pos] = b
        counts_[b] += 1
        pos += 1
        self.pos = 0 if pos == size else pos
        if self.filled < size:
            return False
        self.tick += 1
        if self.tick < self.spec.stride:
            return False
        self.tick = 0
        return self._test()

    def quiet_for(self) -> int:
        """How many next updates cannot fire, whatever their values (the test runs only once
        the window is full, every ``stride`` samples)."""
        if not self.reference:
            return self.spec.reference_size - self.n  # the last of them arms the test
        size = len(self.ring)
        if self.filled < size:  # the test runs at the ``stride``-th update after the filling one
            return size - self.filled + self.spec.stride - 2
        return self.spec.stride - 1 - self.tick

    def feed_run(self, values: Sequence[Any]) -> None:
        """Feed a run of at most :meth:`quiet_for` values: exactly :meth:`update` per value
        (none of which fires), in one call.

        >>> a, b = CategoryDriftDetector(CategoryDriftSpec()), CategoryDriftDetector(CategoryDriftSpec())
        >>> stream = ["DE", "FR", "US", "IT"] * 400
        >>> for v in stream[:1300]:
        ...     _ = a.update(v), b.update(v)
        >>> run = stream[1300:1300 + a.quiet_for()]
        >>> a.feed_run(run); [b.update(v) for v in run].count(True)
        0
        >>> (a.n, a.pos, a.filled, a.tick, a.counts, a.ring) == (b.n, b.pos, b.filled, b.tick, b.counts, b.ring)
        True
        """
        if not self.reference:  # the reference phase: rare, one update per value
            for value in values:
                if self.update(value):
                    raise AssertionError("feed_run: a run longer than quiet_for() fired")
            return
        index = self.index
        other = self.other
        other_names = self.other_names
        cap = 4 * self.spec.top
        ring = self.ring
        counts_ = self.counts
        size = len(ring)
        pos = self.pos
        filled = self.filled
        tick = self.tick
        for value in values:
            b = index.get(value, other)
            if b == other:
                count_capped(other_names, value, cap)
            if filled < size:
                filled += 1
            else:
                counts_[ring[pos]] -= 1
            ring[pos] = b
            counts_[b] += 1
            pos += 1
            if pos == size:
                pos = 0
            if filled == size:
                tick += 1
        self.n += len(values)
        self.pos = pos
        self.filled = filled
        self.tick = tick
        if tick >= self.spec.stride:
            raise AssertionError("feed_run: a run longer than quiet_for() reached a test")

    def _statistic(self) -> tuple[float, int]:
        """The two-sample chi-square statistic and its degrees of freedom."""
        window = float(self.filled)
        reference = self.spec.reference_size
        k1 = math.sqrt(window / reference)
        k2 = math.sqrt(reference / window)
        statistic = 0.0
        bins = 0
        for a, b in zip(self.reference, self.counts, strict=True):
            pooled = a + b
            if pooled > 0:
                d = a * k1 - b * k2
                statistic += d * d / pooled
                bins += 1
        return statistic, bins - 1

    def _test(self) -> bool:
        statistic, df = self._statistic()
        if df < 1 or statistic <= self.thresholds[df - 1]:
            return False
        self._fire(statistic, df)
        return True

    def _shares(self) -> tuple[list[float], list[float]]:
        ref_total = sum(self.reference)
        window = float(self.filled)
        return [a / ref_total for a in self.reference], [b / window for b in self.counts]

    def _fire(self, statistic: float, df: int) -> None:
        p, q = self._shares()
        moved = sorted(range(len(p)), key=lambda i: -abs(q[i] - p[i]))[: self.spec.top]
        stats: dict[str, StatValue] = {
            "statistic": statistic,
            "threshold": self.thresholds[df - 1],
            "df": df,
            "p_value": float(chi2.sf(statistic, df)),
            "js_distance": _js_distance(p, q),
            "window_size": self.filled,
            "reference_size": self.spec.reference_size,
            "categories": len(p) - 1,
        }
        for rank, i in enumerate(moved, start=1):
            stats[f"category_{rank}"] = self.names[i]
            stats[f"reference_share_{rank}"] = p[i]
            stats[f"recent_share_{rank}"] = q[i]
            stats[f"change_{rank}"] = q[i] - p[i]
        pooled = sorted(self.other_names.items(), key=lambda item: -item[1])[: self.spec.top]
        for rank, (name, count) in enumerate(pooled, start=1):
            stats[f"other_category_{rank}"] = _label(name)
            stats[f"other_count_{rank}"] = count
        self._record(stats, self._lag(p, q))
        self._restart()

    def _lag(self, p: list[float], q: list[float]) -> int:
        bins = len(p)
        ref_total, window = sum(self.reference), float(self.filled)
        llr = [
            math.log((self.counts[i] + 0.5) / (window + 0.5 * bins))
            - math.log((self.reference[i] + 0.5) / (ref_total + 0.5 * bins))
            for i in range(bins)
        ]
        ring, pos = self.ring, self.pos
        ordered = list(ring[pos:]) + list(ring[:pos])
        start = suffix_change_start([llr[b] for b in ordered], rate=0.0)
        return len(ordered) - 1 - start


def _js_distance(p: list[float], q: list[float]) -> float:
    """Jensen-Shannon distance (base 2, in [0, 1]) between two distributions."""
    total = 0.0
    for a, b in zip(p, q, strict=True):
        m = (a + b) / 2
        if a > 0:
            total += a * math.log2(a / m)
        if b > 0:
            total += b * math.log2(b / m)
    return math.sqrt(max(total / 2, 0.0))
