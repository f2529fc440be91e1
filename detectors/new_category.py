"""A rise in the rate of categories the reference never saw.

:class:`NewCategoryDetector` remembers the names in its first ``reference_size`` values (at
most ``max_known``; a feature with more distinct values pools the rest), and from then on
feeds "this value is new" to a :class:`~detectors.rate_shift.RateShiftDetector`. The baseline
is the reference's own Good-Turing estimate of the unseen mass: the share of names seen once
(plus values past ``max_known``), raised to its upper Wilson bound, so a feature with a long
tail of rare names does not alarm on every rare name. The evidence lists the most frequent new
names since the reference (at most ``top``, counted in a dict of at most ``4 * top`` names).
After a firing it re-baselines: the names of the next ``reference_size`` values become known.

>>> import random
>>> rng = random.Random(4)
>>> detector = NewCategoryDetector(NewCategorySpec())
>>> before = rng.choices(["a", "b", "c", "d"], k=3000)
>>> after = [("e" if rng.random() < 0.05 else rng.choice("abcd")) for _ in range(1000)]
>>> [i for i, value in enumerate(before + after) if detector.update(value)]
[3253]
>>> stats = detector.evidence()
>>> stats["new_category_1"], stats["new_count_1"], stats["threshold_count"]
('e', 14, 14)
>>> 3253 - detector.change_lag  # "e" appeared from 3000 on
3006
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, Literal

from pydantic import Field

from detectors.rate_shift import RateShiftDetector, RateTestFields
from detectors.streaming import LastFiring, count_capped, wilson_upper

__all__ = ["NewCategoryDetector", "NewCategorySpec"]

_MAX_NAME = 64


class NewCategorySpec(RateTestFields):
    """The rate of names unseen in the reference, against its Good-Turing baseline."""

    type: Literal["new_category"] = "new_category"
    #: Names remembered from the reference (bounded memory per feature).
    max_known: int = Field(default=200, ge=1)
    #: New names listed in the evidence.
    top: int = Field(default=3, ge=1, le=20)


class NewCategoryDetector(LastFiring):
    """Fires when values unseen in the reference become frequent."""

    __slots__ = ("known", "n", "new", "overflow", "rate", "spec")

    def __init__(self, spec: NewCategorySpec) -> None:
        self.spec = spec
        super().__init__()
        self._restart()

    def _restart(self) -> None:
        self.n = 0
        self.known: dict[Hashable, int] = {}
        self.overflow = 0
        self.new: dict[Hashable, int] = {}
        self.rate: RateShiftDetector | None = None

    def update(self, value: Any) -> bool:
        """Feed one category; True when the rate of new names fires."""
        self.n += 1
        rate = self.rate
        known = self.known
        if rate is None:
            if not count_capped(known, value, self.spec.max_known):
                self.overflow += 1
            if self.n >= self.spec.reference_size:
                singletons = sum(1 for count in known.values() if count == 1)
                unseen = wilson_upper(singletons + self.overflow, self.n)
                self.rate = RateShiftDetector(self.spec.rate_spec(), reference_rate=unseen)
            return False
        if value in known:
            return rate.update(False)
        count_capped(self.new, value, 4 * self.spec.top)
        if not rate.update(True):
            return False
        self._fire(rate)
        return True

    def _fire(self, rate: RateShiftDetector) -> None:
        stats = rate.evidence()
        ranked = sorted(self.new.items(), key=lambda item: -item[1])[: self.spec.top]
        stats["known_categories"] = len(self.known)
        for rank, (name, count) in enumerate(ranked, start=1):
            text = name if isinstance(name, str) else repr(name)
            stats[f"new_category_{rank}"] = text[:_MAX_NAME]
            stats[f"new_count_{rank}"] = count
        self._record(stats, rate.change_lag)
        self._restart()
