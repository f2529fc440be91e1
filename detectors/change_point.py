"""Where the new regime began: each detector's own estimate of its change point.

A drift detector fires some samples *after* a change. The worker trains on data from the new
regime only, so a drift event says where that regime began (SPEC §4, ``change_point``). Each River
detector already holds that estimate in its state; the estimators below read it (they never
change the detector, so detections stay exactly River's):

==============  ===================================================================================
detector        change point (the first sample of the new regime)
==============  ===================================================================================
DDM, EDDM       the start of the warning episode that preceded the drift (River's
                ``warning_detected`` rising edge); the drift sample itself when no warning came first
HDDM_A          River's cut point: the sample after the prefix whose mean ``_x_min`` holds
HDDM_W          the sample after the last move of the increase cut point (``_s1_incr`` replaced)
ADWIN           the first sample of the window ADWIN kept after its cut (``n - width + 1``;
                the cut is at bucket granularity, so the kept window may start a little early)
Page-Hinkley    the sample after the cumulative sum's extremum: its minimum (increase) or
                maximum (decrease), whichever test fired
KSWIN           the first sample of the recent window the KS test compared (``n - stat_size + 1``)
==============  ===================================================================================

Counts are 1-based and local to the detector: ``n`` is the number of samples fed since River last
reset it (River resets a detector on the update after a drift). Estimators whose River state does
not keep the estimate (DDM/EDDM warnings, HDDM_W's cut, Page-Hinkley's extremum) must see every
update: call :meth:`observe` after each ``update`` when :attr:`per_update` is True.
:class:`SampleTrail` maps a count back to the event time and source of that sample.

>>> import random
>>> from river.drift import ADWIN, PageHinkley
>>> from river.drift.binary import DDM, HDDMA
>>> rng = random.Random(1)
>>> errors = [int(rng.random() < (0.1 if i < 2000 else 0.5)) for i in range(4000)]
>>> for detector in (DDM(), HDDMA(), ADWIN(), PageHinkley()):
...     estimator, reset_at = estimator_for(detector), 0
...     for i, x in enumerate(errors, start=1):
...         detector.update(x)
...         n = i - reset_at  # samples since River last reset the detector
...         if estimator.per_update:
...             estimator.observe(detector, n)
...         if detector.drift_detected:
...             point = reset_at + estimator.at_drift(detector, n)
...             if i > 2000:
...                 print(f"{type(detector).__name__:<12} fired at {i}, change point {point}")
...                 break
...             reset_at = i
DDM          fired at 2035, change point 1991
HDDMA        fired at 2087, change point 1479
ADWIN        fired at 2048, change point 1921
PageHinkley  fired at 2087, change point 1479
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from detectors.contracts import Source, SourceLike

__all__ = [
    "ChangePointEstimator",
    "RecentBits",
    "SampleTrail",
    "estimator_for",
    "known_estimator",
    "mean_shift_change_point",
    "shared_estimator",
]


class ChangePointEstimator(Protocol):
    #: The ``estimator`` drift events name (e.g. ``adwin_cut``).
    name: str
    #: Whether :meth:`observe` must be called after every update of the detector.
    per_update: bool

    def observe(self, detector: Any, n: int) -> None:
        """After the detector's ``n``-th update since its last reset."""

    def at_drift(self, detector: Any, n: int) -> int:
        """The detector fired at its ``n``-th sample: the count of the new regime's first sample
        (``1 <= result <= n``)."""


def _clamp(value: int, n: int) -> int:
    return max(1, min(n, value))


class WarningStart:
    """DDM, EDDM (and any detector with a warning zone): the warning episode's first sample."""

    name = "warning_start"
    per_update = True
    __slots__ = ("in_warning", "since")

    def __init__(self) -> None:
        self.in_warning = False
        self.since = 0

    def observe(self, detector: Any, n: int) -> None:
        if detector.drift_detected:  # River clears the warning flag at the drift itself
            return
        warning = bool(detector.warning_detected)
        if warning and not self.in_warning:
            self.since = n
        self.in_warning = warning

    def at_drift(self, detector: Any, n: int) -> int:
        start = self.since if self.in_warning else n
        self.in_warning, self.since = False, 0  # River resets the detector on its next update
        return _clamp(start, n)


class HDDMACut:
    """HDDM_A: ``_x_min`` is the mean of the prefix before River's cut point."""

    name = "hddm_a_cut"
    per_update = False
    __slots__ = ()

    def observe(self, detector: Any, n: int) -> None:  # pragma: no cover - not per update
        return None

    def at_drift(self, detector: Any, n: int) -> int:
        prefix = int(getattr(getattr(detector, "_x_min", None), "n", 0))
        return _clamp(prefix + 1, n)


class HDDMWCut:
    """HDDM_W: River replaces ``_s1_incr`` whenever the increase cut point moves."""

    name = "hddm_w_cut"
    per_update = True
    __slots__ = ("cut", "last")

    def __init__(self) -> None:
        self.cut = 0
        self.last: Any = None

    def observe(self, detector: Any, n: int) -> None:
        current = getattr(detector, "_s1_incr", None)
        if current is not self.last:
            self.last = current
            self.cut = n

    def at_drift(self, detector: Any, n: int) -> int:
        start = self.cut + 1
        self.cut, self.last = 0, None
        return _clamp(start, n)


class ADWINCut:
    """ADWIN: the window it kept after the cut starts at ``n - width + 1``."""

    name = "adwin_cut"
    per_update = False
    __slots__ = ()

    def observe(self, detector: Any, n: int) -> None:  # pragma: no cover - not per update
        return None

    def at_drift(self, detector: Any, n: int) -> int:
        return _clamp(n - int(detector.width) + 1, n)


class PageHinkleyExtremum:
    """Page-Hinkley: the sample after the minimum (increase) or maximum (decrease) of its sums."""

    name = "page_hinkley_extremum"
    per_update = True
    __slots__ = ("at_max", "at_min")

    def __init__(self) -> None:
        self.at_min = 0
        self.at_max = 0

    def observe(self, detector: Any, n: int) -> None:
        if detector._sum_increase == detector._min_increase:
            self.at_min = n
        if detector._sum_decrease == detector._max_decrease:
            self.at_max = n

    def at_drift(self, detector: Any, n: int) -> int:
        increase = detector._sum_increase - detector._min_increase
        decrease = detector._max_decrease - detector._sum_decrease
        mode = getattr(detector, "mode", "both")
        up = mode == "up" or (mode == "both" and increase >= decrease)
        start = (self.at_min if up else self.at_max) + 1
        self.at_min = self.at_max = 0
        return _clamp(start, n)


class KSWINWindow:
    """KSWIN: the test compared the last ``stat_size`` samples with the rest of its window."""

    name = "kswin_window"
    per_update = False
    __slots__ = ()

    def observe(self, detector: Any, n: int) -> None:  # pragma: no cover - not per update
        return None

    def at_drift(self, detector: Any, n: int) -> int:
        return _clamp(n - int(detector.stat_size) + 1, n)


_BY_CLASS: dict[str, type] = {
    "DDM": WarningStart,
    "EDDM": WarningStart,
    "HDDMA": HDDMACut,
    "HDDMW": HDDMWCut,
    "ADWIN": ADWINCut,
    "SlottedADWIN": ADWINCut,
    "PageHinkley": PageHinkleyExtremum,
    "KSWIN": KSWINWindow,
}


def estimator_for(detector: Any) -> ChangePointEstimator:
    """A fresh estimator for this River detector (by class name)."""
    found = known_estimator(detector)
    if found is None:
        raise ValueError(f"no change-point estimator for River's {type(detector).__name__}")
    return found


#: The estimators without state of their own: one instance of each, shared by every watcher.
_SHARED: dict[type, Any] = {make: make() for make in (ADWINCut, HDDMACut, KSWINWindow)}


def known_estimator(detector: Any) -> ChangePointEstimator | None:
    """A fresh estimator for this detector (the shared one when it keeps no state), or None for
    a detector without one."""
    make = _BY_CLASS.get(type(detector).__name__)
    if make is None:
        return None
    found: ChangePointEstimator = _SHARED.get(make) or make()
    return found


def shared_estimator(estimator: Any) -> Any:
    """``estimator``, or the shared instance of its class when it keeps no state (for one
    restored from a snapshot)."""
    return _SHARED.get(estimator.__class__, estimator)


def mean_shift_change_point(values: Sequence[float], direction: str = "both") -> int:
    """The 1-based index of the first sample after the most likely single shift of the mean.

    Least squares (the maximum-likelihood split for a Gaussian or Bernoulli mean shift): the split
    ``k`` maximising ``k (n - k) / n * (mean(values[:k]) - mean(values[k:]))**2``; ``direction``
    ``up`` (or ``down``) only considers splits where the mean rose (fell). A refinement of the
    detectors' own estimates when the caller kept the recent values (for ``error``, one byte per
    sample): the detectors' cuts lean early (they are bounds, not estimates of the split).

    >>> mean_shift_change_point([0, 0, 1, 0, 0, 0, 1, 1, 1, 1, 0, 1])
    7
    >>> mean_shift_change_point([5.0, 5.1, 4.9, 1.0, 1.2], direction="up")  # no rise: no split
    1
    """
    n = len(values)
    if n < 2:
        return 1
    total = float(sum(values))
    prefix = 0.0
    best, best_k = 0.0, 0
    for k in range(1, n):
        prefix += values[k - 1]
        rise = (total - prefix) / (n - k) - prefix / k
        if (direction == "up" and rise <= 0) or (direction == "down" and rise >= 0):
            continue
        score = k * (n - k) / n * rise * rise
        if score > best:
            best, best_k = score, k
    return best_k + 1


class RecentBits:
    """The last ``capacity`` values of a 0/1 signal (``error``), one byte each, for
    :meth:`change_point`: the least-squares refinement of a detector's estimate. The buffer
    grows with the values up to ``capacity`` bytes, then is a ring (a snapshot from before,
    whose buffer was ``capacity`` bytes from the start, reads the same).

    >>> bits = RecentBits(capacity=8)
    >>> for x in [0, 0, 0, 0, 0, 0, 1, 0, 1, 1, 1]:
    ...     bits.append(x)
    >>> bits.values(8)
    [0, 0, 0, 1, 0, 1, 1, 1]
    >>> bits.change_point(n=11, since=11)  # the 1-based count where the rise began
    7
    """

    __slots__ = ("buffer", "capacity", "count")

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = capacity
        self.buffer = bytearray()
        self.count = 0

    def append(self, bit: int) -> None:
        buffer = self.buffer
        i = self.count % self.capacity
        if i < len(buffer):
            buffer[i] = 1 if bit else 0
        else:  # still growing: i == len(buffer)
            buffer.append(1 if bit else 0)
        self.count += 1

    def values(self, last: int) -> list[int]:
        """The last ``last`` values (at most ``capacity``), oldest first."""
        last = min(last, self.count, self.capacity)
        end = self.count % self.capacity
        start = (end - last) % self.capacity
        if start < end or last == 0:
            return list(self.buffer[start:end]) if last else []
        return list(self.buffer[start:]) + list(self.buffer[:end])

    def change_point(self, n: int, since: int) -> int:
        """The 1-based count (of this stream, ``n`` = the latest) of the first sample after the
        most likely rise of the mean among the last ``since`` values (those the detector read
        since its reset; at most ``capacity``)."""
        window = self.values(since)
        return n - len(window) + mean_shift_change_point(window, "up")


#: The four columns of a :class:`SampleTrail` that has kept nothing yet (no array per key).
_NOTHING_KEPT: Any = ()


class SampleTrail:
    """Event time and source of every ``every``-th sample of one stream, the last ``capacity``.

    :meth:`locate` answers with the earliest kept sample at or after a count, so a change point
    read through it is at most ``every - 1`` samples late, never early (a training window from it
    holds no sample of the old regime the estimate did not); a count newer than the newest kept
    sample reads as that one. Four ``array('q')`` hold it: about ``32 * capacity`` bytes, made at
the first kept sample (until then four references to one empty tuple).

    >>> trail = SampleTrail(every=4, capacity=3)
    >>> for count in range(1, 21):
    ...     trail.record(count, 1_700_000_000_000 + count, Source(topic="t", partition=0, offset=100 + count))
    >>> trail.kept
    [12, 16, 20]
    >>> when, source = trail.locate(14)
    >>> when.isoformat(), source.offset
    ('2023-11-14T22:13:20.016000+00:00', 116)
    >>> trail.locate(16)[1].offset, trail.locate(9)[1].offset, trail.locate(22)[1].offset
    (116, 112, 120)
    >>> trail.locate(8) is None  # older than what is kept
    True
    """

    __slots__ = ("capacity", "counts", "every", "offsets", "partitions", "start", "times", "topic")

    def __init__(self, every: int = 16, capacity: int = 2048) -> None:
        if every < 1 or capacity < 1:
            raise ValueError("every and capacity must be positive")
        self.every = every
        self.capacity = capacity
        self.counts: array[int] = _NOTHING_KEPT
        self.times: array[int] = _NOTHING_KEPT
        self.offsets: array[int] = _NOTHING_KEPT
        self.partitions: array[int] = _NOTHING_KEPT
        self.start = 0  # ring start once full
        self.topic = ""

    @property
    def kept(self) -> list[int]:
        """The counts kept, oldest first."""
        return list(self.counts[self.start:]) + list(self.counts[: self.start])

    def record(self, count: int, epoch_ms: int, source: SourceLike) -> None:
        """Sample ``count`` (1-based, of this stream) happened at ``epoch_ms``, read at ``source``
        (a :class:`~detectors.contracts.Source` or its ``(topic, partition, offset)``)."""
        if count % self.every:
            return
        if source.__class__ is tuple:
            topic, partition, offset = source
        else:
            topic, partition, offset = source.topic, source.partition, source.offset  # type: ignore[union-attr]
        self.topic = topic
        if len(self.counts) < self.capacity:
            if self.counts.__class__ is tuple:  # the first kept sample
                self.counts, self.times = array("q"), array("q")
                self.offsets, self.partitions = array("q"), array("q")
            self.counts.append(count)
            self.times.append(epoch_ms)
            self.offsets.append(offset)
            self.partitions.append(partition)
            return
        i = self.start
        self.counts[i], self.times[i] = count, epoch_ms
        self.offsets[i], self.partitions[i] = offset, partition
        self.start = (i + 1) % self.capacity

    def locate(self, count: int) -> tuple[datetime, Source] | None:
        """(event time, source) of the earliest kept sample at or after ``count`` (the newest
        kept one when ``count`` is newer); None when ``count`` lies before the kept samples'
        reach (more than ``every - 1`` before the oldest kept one) or nothing is kept."""
        size = len(self.counts)
        if not size or count <= self.counts[self.start] - self.every:
            return None
        lo, hi = 0, size  # binary search in ring order: the first kept count >= count
        while lo < hi:
            mid = (lo + hi) // 2
            if self.counts[(self.start + mid) % size] < count:
                lo = mid + 1
            else:
                hi = mid
        i = (self.start + min(lo, size - 1)) % size
        when = datetime.fromtimestamp(self.times[i] / 1000, tz=UTC)
        return when, Source(topic=self.topic, partition=self.partitions[i], offset=self.offsets[i])
