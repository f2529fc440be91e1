"""A feature's values clipped at their running mean ± 6 standard deviations, for its mean ADWIN.

River's ADWIN bounds a cut with the window's variance, so one rare huge value of a heavy-tailed
feature (lognormal amounts, counts) makes it cut a stationary stream: 3.4 false alarms per 100k
values on a lognormal stream at δ = 0.0002, where the bar is 1 (``bench/feature_drift.py``).
Clipping the value it reads at the running mean ± :data:`CLIP_SD` sd brings that to 0.2 and
leaves its delays on mean shifts of 0.5, 1 and 3 sd unchanged (a shifted regime's values are
within 6 sd of the old mean, or clipped to the bound: a change either way).

Contract of :class:`RunningClip` (one per ``feature:<name>`` ADWIN watcher, see
:func:`clip_for`):

* :meth:`RunningClip.clip` returns the value limited to ``[mean - 6 sd, mean + 6 sd]`` of the
  values seen *before* it (Welford's mean and variance of the unclipped values); the first
  :data:`CLIP_AFTER` values pass unchanged;
* :meth:`RunningClip.restart` starts again from nothing: the watcher calls it when River's
  ADWIN fires (River resets the detector on its next update), so the clip always describes the
  values the detector's current window came from;
* ``excess`` is the sum of ``value - clip(value)`` since the restart, so the real (unclipped)
  sum is the detector's sum plus ``excess``. The latest clipped values are kept with their
  position (:data:`LOG_CAPACITY` of them), so :meth:`RunningClip.excess_after` splits that
  excess at ADWIN's cut: ``restart(kept)`` keeps the excess of the run that ended and of its
  last ``kept`` values, and :meth:`RunningClip.evidence` turns ADWIN's means (of what it read)
  into the real means of both sides of its cut.

>>> clip = RunningClip()
>>> values = [1.0, 2.0, 3.0] * 40 + [1000.0, 2.0]
>>> out = [clip.clip(x) for x in values]
>>> out[:3], [round(x, 3) for x in out[-2:]]  # 1000 is clipped at 2 + 6 * 0.82
([1.0, 2.0, 3.0], [6.92, 2.0])
>>> clip.n, clip.clipped, round(clip.excess, 3)
(122, 1, 993.08)
>>> round(clip.excess_after(120), 3), clip.excess_after(121)  # values 121..122, value 122
(993.08, 0.0)

ADWIN fired there and kept its last 2 values: the clip starts again, and the event's means
get the excess back (ADWIN's mean of the 2 kept values was (6.92 + 2) / 2).

>>> clip.restart(kept=2)
>>> clip.clip(1000.0), clip.n, clip.excess
(1000.0, 1, 0.0)
>>> stats = clip.evidence(2, 122, {"mean_after": 4.46, "mean_before": 2.0})
>>> stats["clipped"], round(stats["mean_after"], 2), stats["mean_before"]
(1, 501.0, 2.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

__all__ = ["CLIP_AFTER", "CLIP_SD", "LOG_CAPACITY", "RunningClip", "clip_for"]

#: Half-width of the clip, in running standard deviations.
CLIP_SD = 6.0
#: Values passed unchanged after a (re)start, before the mean and sd are trusted.
CLIP_AFTER = 100
#: Clipped values whose position is kept (older ones are summed, no longer placed).
LOG_CAPACITY = 128


#: The bounds before ``CLIP_AFTER`` values (one float object each, shared by every clip).
_NO_LOW = -math.inf
_NO_HIGH = math.inf


class RunningClip:
    """Welford's running mean and variance of a feature, and its values clipped to ± 6 sd."""

    __slots__ = ("clipped", "excess", "high", "kept_excess", "last_clipped", "last_excess",
                 "log", "low", "m2", "mean", "n", "placed_after")

    def __init__(self) -> None:
        #: Of the run the latest restart ended: ``clipped``, ``excess``, and the excess of its
        #: last ``kept`` values (None: not all of them placed).
        self.last_clipped = 0
        self.last_excess = 0.0
        self.kept_excess: float | None = 0.0
        self._start_run()

    def _start_run(self) -> None:
        """No value seen: no clipping until ``CLIP_AFTER`` values."""
        self.n = 0
        self.mean = 0.0
        self.m2 = 0.0
        self.low = _NO_LOW
        self.high = _NO_HIGH
        self.excess = 0.0
        self.clipped = 0
        #: (position since the restart, value - clipped value) of the latest clipped values (a
        #: list from the first one on; until then the empty tuple every clip shares).
        self.log: list[tuple[int, float]] | tuple[()] = ()
        #: Every clipped value after this position is in ``log``.
        self.placed_after = 0

    def restart(self, kept: int = 0) -> None:
        """Forget every value; the run that ended is summed in ``last_*`` and ``kept_excess``
        (the excess of its last ``kept`` values: what ADWIN's window kept at its cut)."""
        self.last_clipped = self.clipped
        self.last_excess = self.excess
        self.kept_excess = self.excess_after(self.n - kept)
        self._start_run()

    def clip(self, x: float) -> float:
        """``x`` within the running mean ± 6 sd of the values before it; counts ``x``."""
        low = self.low
        high = self.high
        n = self.n = self.n + 1
        d = x - self.mean
        mean = self.mean = self.mean + d / n
        self.m2 += d * (x - mean)
        if n >= CLIP_AFTER:
            half = CLIP_SD * math.sqrt(self.m2 / (n - 1))
            self.low = mean - half
            self.high = mean + half
        if low <= x <= high:
            return x
        return self._clipped(x, high if x > high else low)

    def clip_run(self, xs: Sequence[float]) -> list[float]:
        """``[self.clip(x) for x in xs]``: the same arithmetic in the same order, the state
        kept in locals between values (written back when a value is clipped and at the end)."""
        n, mean, m2, low, high = self.n, self.mean, self.m2, self.low, self.high
        out: list[float] = []
        append = out.append
        sqrt = math.sqrt
        for x in xs:
            n += 1
            d = x - mean
            mean = mean + d / n
            m2 += d * (x - mean)
            if low <= x <= high:
                append(x)
            else:
                self.n = n
                append(self._clipped(x, high if x > high else low))
            if n >= CLIP_AFTER:
                half = CLIP_SD * sqrt(m2 / (n - 1))
                low = mean - half
                high = mean + half
        self.n, self.mean, self.m2, self.low, self.high = n, mean, m2, low, high
        return out

    def _clipped(self, x: float, bound: float) -> float:
        if bound != bound:  # a NaN bound (an overflowed variance): the value passes unchanged
            return x
        excess = x - bound
        self.excess += excess
        self.clipped += 1
        log = self.log
        if not isinstance(log, list):
            log = self.log = []
        log.append((self.n, excess))
        if len(log) > LOG_CAPACITY:
            drop = len(log) - LOG_CAPACITY // 2
            self.placed_after = log[drop - 1][0]
            del log[:drop]
        return bound

    def excess_after(self, position: int) -> float | None:
        """The excess of the values after ``position`` (since the restart), or None when some of
        them are no longer placed."""
        if position < self.placed_after:
            return None
        return math.fsum(e for i, e in self.log if i > position)

    def evidence(self, width: int, samples: int, stats: dict[str, Any]) -> dict[str, Any]:
        """ADWIN's drift ``stats`` at the firing that ended the last run, with the real means.

        ``stats`` describe the ``samples`` values ADWIN read, ``width`` of them kept; when some
        were clipped, ``clipped`` counts them and ``mean_before``/``mean_after`` become the real
        (unclipped) means of both sides of its cut (None when a clipped value in the kept
        window is no longer placed); ``variance`` stays that of the values it read."""
        if not self.last_clipped:  # nothing clipped: River's stats are the real ones
            return stats
        stats = dict(stats)
        stats["clipped"] = self.last_clipped
        after = self.kept_excess
        if after is None:
            stats["mean_after"] = stats["mean_before"] = None
            return stats
        if stats.get("mean_after") is not None and width:
            stats["mean_after"] += after / width
        if stats.get("mean_before") is not None and samples > width:
            stats["mean_before"] += (self.last_excess - after) / (samples - width)
        return stats


def clip_for(signal: str, spec: Any) -> RunningClip | None:
    """The clip of a River detector's input: feature signals' ADWIN only."""
    return RunningClip() if spec.type == "adwin" and signal.startswith("feature:") else None
