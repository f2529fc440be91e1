"""A rise in the rate of a 0/1 event (missing values, new categories, outliers) vs its reference.

:class:`RateShiftDetector` reads a stream of booleans. Its reference rate is the hit rate of
the first ``reference_size`` samples (raised to its upper Wilson bound, so the reference's own
noise does not become false alarms, and to at least ``min_rate``), or a rate given up front.
It then keeps a sliding window of the last ``window_size`` samples and fires when the window's
hit count reaches the count a Bernoulli stream at the reference rate reaches only
``false_alarms_per_100k`` times per 100,000 samples
(:func:`~detectors.streaming.binomial_upcrossing_threshold`). Each update is O(1): one byte in a
ring and an integer compare. After a firing it re-baselines (the next ``reference_size``
samples become the reference), or, with a given rate, starts a fresh window.

One-sided on purpose: a rate that *falls* (fewer missing values) is not an alarm.

>>> import random
>>> rng = random.Random(5)
>>> detector = RateShiftDetector(RateShiftSpec())
>>> stream = [rng.random() < 0.002 for _ in range(3000)] + [rng.random() < 0.10 for _ in range(1000)]
>>> fired = [i for i, hit in enumerate(stream) if detector.update(hit)]
>>> fired
[3195]
>>> 3195 - detector.change_lag  # the higher rate began at 3000
3003
>>> stats = detector.evidence()
>>> stats["threshold_count"], stats["window_count"], round(stats["reference_rate"], 4)
(20, 20, 0.0158)
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from detectors.streaming import (
    LastFiring,
    StatValue,
    WindowTestFields,
    binomial_upcrossing_threshold,
    suffix_change_start,
    wilson_upper,
)

__all__ = ["RateShiftDetector", "RateShiftSpec", "RateTestFields"]


class RateTestFields(WindowTestFields):
    """The settings of a windowed rate test, shared by every spec built on it."""

    #: The reference rate is at least this (a stream with no hits in its reference would
    #: otherwise fire on its first few).
    min_rate: float = Field(default=0.005, gt=0, lt=1)

    def rate_spec(self) -> RateShiftSpec:
        """These settings as the spec of the rate test itself."""
        return RateShiftSpec(**self.model_dump(include=set(RateTestFields.model_fields) - {"name"}))


class RateShiftSpec(RateTestFields):
    """A windowed binomial test of a 0/1 stream's rate against its reference rate."""

    type: Literal["rate_shift"] = "rate_shift"


class RateShiftDetector(LastFiring):
    """Fires when the recent rate of hits rises above the reference rate."""

    __slots__ = (
        "_given_rate",
        "count",
        "n",
        "pos",
        "rate",
        "ref_hits",
        "ring",
        "spec",
        "threshold",
    )

    def __init__(self, spec: RateShiftSpec, *, reference_rate: float | None = None) -> None:
        """``reference_rate`` skips the reference phase (the caller's upper bound of the rate)."""
        self.spec = spec
        self._given_rate = reference_rate
        super().__init__()
        self._restart()

    def _restart(self) -> None:
        self.n = 0
        self.ref_hits = 0
        self.count = 0
        self.pos = 0
        self.ring = bytearray(self.spec.window_size)
        if self._given_rate is None:
            self.rate = -1.0  # reference phase
            self.threshold = self.spec.window_size + 1
        else:
            self._arm(self._given_rate)

    def _arm(self, rate: float) -> None:
        spec = self.spec
        self.rate = min(max(rate, spec.min_rate), 1.0 - 1e-9)
        self.threshold = binomial_upcrossing_threshold(
            self.rate, window=spec.window_size, false_alarms_per_100k=spec.false_alarms_per_100k
        )

    @property
    def armed(self) -> bool:
        """Whether the reference is known (the test runs)."""
        return self.rate >= 0.0

    def update(self, hit: bool) -> bool:
        """Feed one 0/1 sample; True when the window's count reaches the threshold."""
        self.n += 1
        if self.rate < 0.0:
            if hit:
                self.ref_hits += 1
            if self.n >= self.spec.reference_size:
                self._arm(wilson_upper(self.ref_hits, self.n))
            return False
        ring = self.ring
        pos = self.pos
        bit = 1 if hit else 0
        self.count += bit - ring[pos]
        ring[pos] = bit
        pos += 1
        self.pos = 0 if pos == len(ring) else pos
        if self.count < self.threshold:
            return False
        self._fire()
        return True

    def feed_false(self, k: int) -> None:
        """Feed ``k`` misses at once: exactly ``k`` calls of ``update(False)``, none of which
        can fire (the threshold is at least 1 and a miss never raises the count).

        >>> a, b = RateShiftDetector(RateShiftSpec()), RateShiftDetector(RateShiftSpec())
        >>> for hit in [True] * 3 + [False] * 1995 + [True] * 7:
        ...     _ = a.update(hit), b.update(hit)
        >>> a.feed_false(1500); [b.update(False) for _ in range(1500)].count(True)
        0
        >>> (a.n, a.count, a.pos, a.ring == b.ring) == (b.n, b.count, b.pos, True)
        True
        """
        if k <= 0:
            return
        if self.rate < 0.0:  # reference phase: the update that reaches the size arms the test
            need = max(self.spec.reference_size - self.n, 1)
            if k < need:
                self.n += k
                return
            self.n += need
            self._arm(wilson_upper(self.ref_hits, self.n))
            k -= need
            if not k:
                return
        self.n += k
        ring = self.ring
        size = len(ring)
        pos = self.pos
        if k >= size:
            self.count -= ring.count(1)
            ring[:] = bytes(size)
        elif pos + k <= size:
            self.count -= ring.count(1, pos, pos + k)
            ring[pos : pos + k] = bytes(k)
        else:
            wrap = pos + k - size
            self.count -= ring.count(1, pos) + ring.count(1, 0, wrap)
            ring[pos:] = bytes(size - pos)
            ring[:wrap] = bytes(wrap)
        self.pos = (pos + k) % size

    def _window(self) -> list[int]:
        """The window's samples, oldest first."""
        ring, pos = self.ring, self.pos
        return list(ring[pos:]) + list(ring[:pos])

    def _fire(self) -> None:
        window = self._window()
        filled = min(
            len(window), self.n - (self.spec.reference_size if self._given_rate is None else 0)
        )
        recent = window[len(window) - filled :] if filled > 0 else window
        start = suffix_change_start(recent, rate=self.rate)
        stats: dict[str, StatValue] = {
            "window_count": self.count,
            "window_size": self.spec.window_size,
            "recent_rate": self.count / self.spec.window_size,
            "reference_rate": self.rate,
            "threshold_count": self.threshold,
            "false_alarms_per_100k": self.spec.false_alarms_per_100k,
        }
        self._record(stats, len(recent) - 1 - start)
        self._restart()
