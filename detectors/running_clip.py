"""A feature's values clipped at their running mean ± 6 standard deviations, for its mean ADWIN.

River's ADWIN bounds a cut with the window's variance, so one rare huge value of a heavy-tailed
feature (lognormal amounts, counts) makes it cut a stationary stream: 3.4 false alarms per 100k
values on a lognormal stream at δ = 0.0002, where the bar is 1 (``bench/feature_drift.py``).
Clipping the value it reads at the running mean ± :data:`CLIP_SD` sd removes those alarms and
leaves its delays on mean shifts unchanged (a shifted regime's values are within 6 sd of the
old mean, or clipped to the bound: a change either way).

Contract of :class:`RunningClip` (one per ``feature:<name>`` ADWIN watcher, see
:func:`clip_for`):

* :meth:`RunningClip.clip` returns the value limited to ``[mean - 6 sd, mean + 6 sd]`` of the
  values seen *before* it (Welford's mean and variance of the unclipped values); the first
  :data:`CLIP_AFTER` values pass unchanged;
* :meth:`RunningClip.restart` starts again from nothing: the watcher calls it when River's
  ADWIN fires (River resets the detector on its next update), so the clip always describes the
  values the detector's current window came from;
* ``excess`` is the sum of ``value - clip(value)`` since the restart, so the real (unclipped)
  sum is the detector's sum plus ``excess``; the most recent clipped values are kept
  (:data:`LOG_CAPACITY` of them) with their position, so :meth:`RunningClip.excess_after` can
  split that excess at ADWIN's cut, and the drift event reports the real means of both sides.

>>> clip = RunningClip()
>>> values = [1.0, 2.0, 3.0] * 40 + [1000.0, 2.0]
>>> out = [clip.clip(x) for x in values]
>>> out[:3], [round(x, 3) for x in out[-2:]]  # 1000 is clipped at 2 + 6 * 0.82
([1.0, 2.0, 3.0], [6.92, 2.0])
>>> clip.n, clip.clipped, round(clip.excess, 3)
(122, 1, 993.08)
>>> round(clip.excess_after(120), 3), clip.excess_after(121)  # values 121..122, value 122
(993.08, 0.0)

The detector fired: the clip starts again (what it counted is kept for the event's means).

>>> clip.restart()
>>> clip.clip(1000.0), clip.n, clip.excess, round(clip.last_excess, 3)
(1000.0, 1, 0.0, 993.08)
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["CLIP_AFTER", "CLIP_SD", "LOG_CAPACITY", "RunningClip", "clip_for"]

#: Half-width of the clip, in running standard deviations.
CLIP_SD = 6.0
#: Values passed unchanged after a (re)start, before the mean and sd are trusted.
CLIP_AFTER = 100
#: Clipped values whose position is kept (older ones are summed, no longer placed).
LOG_CAPACITY = 256


class RunningClip:
    """Welford's running mean and variance of a feature, and its values clipped to ± 6 sd."""

    __slots__ = ("clipped", "excess", "high", "last_clipped", "last_excess", "last_log",
                 "last_placed", "log", "low", "m2", "mean", "n", "placed_after")

    def __init__(self) -> None:
        self.n = 0
        self.mean = 0.0
        self.m2 = 0.0
        self.low = -math.inf
        self.high = math.inf
        self.excess = 0.0
        self.clipped = 0
        #: (position since the restart, value - clipped value) of the latest clipped values.
        self.log: list[tuple[int, float]] = []
        #: Every clipped value after this position is in ``log``.
        self.placed_after = 0
        #: ``excess``, ``clipped``, ``log``, ``placed_after`` before the latest restart.
        self.last_excess = 0.0
        self.last_clipped = 0
        self.last_log: list[tuple[int, float]] = []
        self.last_placed = 0

    def restart(self) -> None:
        """Forget every value; what was counted since the last restart becomes ``last_*``."""
        self.last_excess, self.last_clipped = self.excess, self.clipped
        self.last_log, self.last_placed = self.log, self.placed_after
        self.n = 0
        self.mean = 0.0
        self.m2 = 0.0
        self.low = -math.inf
        self.high = math.inf
        self.excess = 0.0
        self.clipped = 0
        self.log = []
        self.placed_after = 0

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

    def _clipped(self, x: float, bound: float) -> float:
        if bound != bound:  # a NaN bound (an overflowed variance): the value passes unchanged
            return x
        excess = x - bound
        self.excess += excess
        self.clipped += 1
        log = self.log
        log.append((self.n, excess))
        if len(log) > LOG_CAPACITY:
            drop = len(log) - LOG_CAPACITY // 2
            self.placed_after = log[drop - 1][0]
            del log[:drop]
        return bound

    def excess_after(self, position: int, *, last: bool = False) -> float | None:
        """The excess of the values after ``position`` (since the restart), or None when some of
        them are no longer placed. ``last``: of the values before the latest restart."""
        log, placed = (self.last_log, self.last_placed) if last else (self.log, self.placed_after)
        if position < placed:
            return None
        return math.fsum(e for i, e in log if i > position)

    def evidence(self, width: int, samples: int, stats: dict[str, Any]) -> dict[str, Any]:
        """ADWIN's drift ``stats`` at the firing that ended the last run, with the real means.

        ``stats`` describe the values ADWIN read; when some were clipped, ``clipped`` counts them
        and ``mean_before``/``mean_after`` become the real (unclipped) means of both sides of its
        cut (None when a clipped value in the kept window is no longer placed); ``variance``
        stays that of the values it read."""
        if not self.last_clipped:  # nothing clipped: River's stats are the real ones
            return stats
        stats = dict(stats)
        stats["clipped"] = self.last_clipped
        after = self.excess_after(samples - width, last=True)
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
