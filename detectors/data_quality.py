"""Data quality per feature: the missing rate and the rate of values of an unexpected type.

A broken upstream join shows as nulls, a schema change as strings where numbers were: both are
their own signals, so they read as a data-quality problem and not as drift of the values.

* :class:`MissingRateDetector` feeds "missing" (``None``, NaN, or a feature the caller knows
  but the event lacks: the caller passes ``None`` for it) to a
  :class:`~detectors.rate_shift.RateShiftDetector`: it fires when the missing rate rises
  above the reference's (at least ``min_rate``).
* :class:`TypeChangeDetector` learns the dominant type (:func:`value_type`) of the first
  ``reference_size`` present values and fires when values of another type become more
  frequent than they were in the reference. Missing values do not count here.

>>> [value_type(v) for v in (1, 2.5, True, "x", None, float("nan"), [1])]
['number', 'number', 'boolean', 'string', 'null', 'null', 'other']
>>> import random
>>> rng = random.Random(8)
>>> missing = MissingRateDetector(MissingRateSpec())
>>> stream = [rng.gauss(0, 1) for _ in range(3000)] + [None if rng.random() < 0.1 else 1.0 for _ in range(1000)]
>>> [i for i, x in enumerate(stream) if missing.update(x)]
[3180]
>>> types = TypeChangeDetector(TypeChangeSpec())
>>> stream = [rng.gauss(0, 1) for _ in range(3000)] + [str(i) if i % 4 == 0 else 1.0 for i in range(1000)]
>>> [i for i, x in enumerate(stream) if types.update(x)]
[3052]
>>> stats = types.evidence()
>>> stats["expected_type"], stats["observed_type_1"], stats["observed_count_1"]
('number', 'string', 14)
"""

from __future__ import annotations

from typing import Any, Literal

from detectors.rate_shift import RateShiftDetector, RateTestFields
from detectors.streaming import LastFiring, StatValue, wilson_upper

__all__ = [
    "MissingRateDetector",
    "MissingRateSpec",
    "TypeChangeDetector",
    "TypeChangeSpec",
    "is_missing",
    "value_type",
]


def is_missing(value: Any) -> bool:
    """``None`` or a float NaN."""
    return value is None or (value.__class__ is float and value != value)


def value_type(value: Any) -> str:
    """The JSON type of a feature value: ``number``, ``boolean``, ``string``, ``null``, ``other``."""
    cls = value.__class__
    if cls is float:
        return "null" if value != value else "number"
    if cls is int:
        return "number"
    if cls is bool:
        return "boolean"
    if cls is str:
        return "string"
    if value is None:
        return "null"
    return "other"


class MissingRateSpec(RateTestFields):
    """The missing rate of a feature against its reference missing rate."""

    type: Literal["missing_rate"] = "missing_rate"


class MissingRateDetector:
    """Fires when the share of missing values rises."""

    __slots__ = ("rate", "spec")

    def __init__(self, spec: MissingRateSpec) -> None:
        self.spec = spec
        self.rate = RateShiftDetector(spec.rate_spec())

    @property
    def n(self) -> int:
        return self.rate.n

    def update(self, value: Any) -> bool:
        """Feed one value (``None`` for a feature the event lacks)."""
        return self.rate.update(value is None or (value.__class__ is float and value != value))

    def quiet_classes(self) -> tuple[type, ...]:
        """Classes whose values (NaN aside) are a miss that cannot fire: every present one."""
        return _PRESENT

    def feed_quiet(self, k: int) -> None:
        """``k`` present values at once: exactly ``k`` updates with a value of
        :meth:`quiet_classes` (none fires)."""
        self.rate.feed_false(k)

    def evidence(self) -> dict[str, StatValue]:
        return self.rate.evidence()

    @property
    def change_lag(self) -> int | None:
        return self.rate.change_lag


#: The value classes of present JSON scalars (``None`` is missing; a float may be NaN).
_PRESENT: tuple[type, ...] = (float, int, bool, str)

_CLASSES: dict[str, tuple[type, ...]] = {
    "number": (float, int), "boolean": (bool,), "string": (str,)}


class TypeChangeSpec(RateTestFields):
    """The rate of present values whose type is not the reference's dominant type."""

    type: Literal["type_change"] = "type_change"


class TypeChangeDetector(LastFiring):
    """Fires when values of an unexpected type become more frequent than in the reference."""

    __slots__ = ("expected", "expected_classes", "n", "observed", "rate", "spec")

    def __init__(self, spec: TypeChangeSpec) -> None:
        self.spec = spec
        super().__init__()
        self._restart()

    def _restart(self) -> None:
        self.n = 0
        self.observed: dict[str, int] = {}
        self.expected: str | None = None
        #: The classes of the expected type (a value of one is never unexpected, NaN aside).
        self.expected_classes: tuple[type, ...] = ()
        self.rate: RateShiftDetector | None = None

    def quiet_classes(self) -> tuple[type, ...]:
        """Classes whose values (NaN aside) cannot fire now: the expected type's once the
        reference is learnt; before, the first value's type's when it is sure to become the
        expected type (it leads whatever the rest of the reference holds)."""
        if self.rate is not None:
            return self.expected_classes
        kind = self._sure_leader()
        return _CLASSES.get(kind, ()) if kind is not None else ()

    def _sure_leader(self) -> str | None:
        observed = self.observed
        if not observed:
            return None
        kind = next(iter(observed))
        others = max((c for k, c in observed.items() if k != kind), default=0)
        left = self.spec.reference_size - self.n
        return kind if observed[kind] + left > others else None

    def feed_quiet(self, k: int) -> None:
        """``k`` values of :meth:`quiet_classes` at once: exactly ``k`` updates with such a
        value (none fires)."""
        if k <= 0:
            return
        if self.rate is None:  # the reference phase: the first value's type, learnt at its end
            kind = next(iter(self.observed))
            step = min(k, self.spec.reference_size - self.n)
            self.n += step
            self.observed[kind] += step
            k -= step
            if self.n >= self.spec.reference_size:
                self._learn_reference()
            if not k:
                return
        rate = self.rate
        assert rate is not None, "quiet values of an unexpected type"
        self.n += k
        rate.feed_false(k)

    def _learn_reference(self) -> None:
        """The reference is full: its dominant type is the expected one."""
        observed = self.observed
        expected, count = max(observed.items(), key=lambda item: item[1])
        unexpected = wilson_upper(self.n - count, self.n)
        self.expected = expected
        self.expected_classes = _CLASSES.get(expected, ())
        self.observed = {}
        self.rate = RateShiftDetector(self.spec.rate_spec(), reference_rate=unexpected)

    def update(self, value: Any) -> bool:
        """Feed one value; missing values are skipped (not counted)."""
        rate = self.rate
        cls = value.__class__
        if rate is not None and cls in self.expected_classes and (cls is not float or value == value):
            self.n += 1
            return rate.update(False)  # the common case: the expected type
        kind = value_type(value)
        if kind == "null":
            return False
        self.n += 1
        observed = self.observed
        observed[kind] = observed.get(kind, 0) + 1
        rate = self.rate
        if rate is None:
            if self.n >= self.spec.reference_size:
                self._learn_reference()
            return False
        if not rate.update(kind != self.expected):
            return False
        stats = rate.evidence()
        stats["expected_type"] = self.expected
        ranked = sorted(
            ((k, c) for k, c in self.observed.items() if k != self.expected), key=lambda kc: -kc[1]
        )
        for rank, (kind_, count) in enumerate(ranked, start=1):
            stats[f"observed_type_{rank}"] = kind_
            stats[f"observed_count_{rank}"] = count
        self._record(stats, rate.change_lag)
        self._restart()
        return True
