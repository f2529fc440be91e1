"""The contract every windowed feature detector keeps, and the arithmetic they share.

The detectors in :mod:`detectors.category_drift`, :mod:`detectors.shape_drift`,
:mod:`detectors.rate_shift`, :mod:`detectors.data_quality`, :mod:`detectors.joint_drift` and
:mod:`detectors.estimated_performance` compare a *recent window* with a *reference* (the first
``reference_size`` samples they are fed, or a distribution given up front). Each keeps
:class:`StreamingDetector`:

* ``update(value) -> bool`` feeds one sample; True when this sample fires a drift. O(1) per
  update (a periodic test every ``stride`` samples is O(bins)); memory bounded by the spec;
* ``n``: samples fed since construction or the last re-baseline;
* ``evidence()``: after a firing, flat JSON-safe stats for the drift event's ``stats``
  (``str``/``int``/``float``/``bool``/``None`` values only, like
  :data:`detectors.contracts.StatValue`);
* ``change_lag``: after a firing, how many samples before the firing one the new regime is
  estimated to have begun (0: the firing sample itself), or None before any firing;
* plain picklable state (no locks, no generators, no lambdas), so snapshots pickle it as is.

After a drift a detector re-baselines itself (the post-firing samples become the new
reference), as River's detectors reset after theirs: one episode fires once.

False alarms are set as a rate, ``false_alarms_per_100k`` (expected firings per 100,000
samples of a stationary stream), and turned into each test's threshold from its null
distribution: :func:`binomial_upcrossing_threshold` for rate windows checked at every sample,
``per_test_alpha`` for tests run every ``stride`` samples.

>>> per_test_alpha(0.5, stride=50)
0.00025
>>> binomial_upcrossing_threshold(0.01, window=500, false_alarms_per_100k=0.5)
15
>>> round(wilson_upper(0, 1000), 5), round(wilson_upper(50, 1000), 4)
(0.00892, 0.075)
>>> suffix_change_start([0, 0, 1, 0, 1, 1, 1], rate=0.2)
2
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "REFERENCE_Z",
    "LastFiring",
    "StatValue",
    "StreamingDetector",
    "StreamingSpec",
    "WindowTestFields",
    "binomial_upcrossing_threshold",
    "count_capped",
    "per_test_alpha",
    "suffix_change_start",
    "wilson_upper",
]

#: What one ``stats`` entry of a drift event may hold.
StatValue = int | float | str | bool | None

#: z of the one-sided upper confidence bound put on a rate measured in the reference, so the
#: reference's own sampling noise does not turn into false alarms (3: 99.87 %).
REFERENCE_Z = 3.0

_PER = 100_000


@runtime_checkable
class StreamingDetector(Protocol):
    """What the per-key monitor needs from a windowed detector."""

    n: int

    def update(self, value: Any) -> bool:  # pragma: no cover - protocol
        ...

    def evidence(self) -> dict[str, StatValue]:  # pragma: no cover - protocol
        ...

    @property
    def change_lag(self) -> int | None:  # pragma: no cover - protocol
        ...


class StreamingSpec(BaseModel):
    """Fields every windowed detector's spec has (strict and frozen, like River's specs)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The name drift events carry in ``detector``; defaults to the spec's ``type``.
    name: str | None = Field(default=None, min_length=1, max_length=64)

    @property
    def label(self) -> str:
        return self.name or str(getattr(self, "type"))  # noqa: B009


class WindowTestFields(StreamingSpec):
    """The settings every reference-vs-window test has."""

    #: Samples that make the reference (after the detector starts or re-baselines).
    reference_size: int = Field(default=1000, ge=10)
    #: Samples in the sliding window compared with the reference.
    window_size: int = Field(default=500, ge=10)
    #: Expected firings per 100,000 samples of a stationary stream.
    false_alarms_per_100k: float = Field(default=0.5, gt=0)


def count_capped(counts: dict[Any, int], key: Any, cap: int) -> bool:
    """Count ``key`` in ``counts`` unless it is new and ``counts`` holds ``cap`` keys already.

    >>> counts = {"a": 1}
    >>> count_capped(counts, "a", 1), count_capped(counts, "b", 1), counts
    (True, False, {'a': 2})
    """
    seen = counts.get(key)
    if seen is not None:
        counts[key] = seen + 1
        return True
    if len(counts) < cap:
        counts[key] = 1
        return True
    return False


class LastFiring:
    """The evidence and change lag of a detector's last firing, as every detector reports them."""

    __slots__ = ("_last_lag", "_last_stats")

    def __init__(self) -> None:
        self._last_lag: int | None = None
        self._last_stats: dict[str, StatValue] = {}

    def _record(self, stats: dict[str, StatValue], lag: int | None) -> None:
        self._last_stats = stats
        self._last_lag = lag

    def evidence(self) -> dict[str, StatValue]:
        """The stats of the last firing (empty before any)."""
        return dict(self._last_stats)

    @property
    def change_lag(self) -> int | None:
        """Samples between the estimated start of the new regime and the last firing."""
        return self._last_lag


def per_test_alpha(false_alarms_per_100k: float, *, stride: int) -> float:
    """The per-test level of a test run every ``stride`` samples (a union bound)."""
    return false_alarms_per_100k * stride / _PER


def _log_binom_pmf(k: int, n: int, p: float) -> float:
    return (
        math.lgamma(n + 1)
        - math.lgamma(k + 1)
        - math.lgamma(n - k + 1)
        + k * math.log(p)
        + (n - k) * math.log1p(-p)
    )


def binomial_upcrossing_threshold(rate: float, *, window: int, false_alarms_per_100k: float) -> int:
    """The smallest count ``c`` a sliding window of 0/1 samples reaches this rarely.

    A window of ``window`` i.i.d. Bernoulli(``rate``) samples, checked at every sample, first
    reaches ``c`` at a given step when it held ``c - 1``, the entering sample is 1 and the
    leaving one is 0: ``P(S = c-1) * rate * (1 - (c-1)/window)``. That upcrossing rate times
    100,000 is the expected number of firings per 100k samples; ``c`` is the first count above
    the mean that keeps it at or under ``false_alarms_per_100k``.
    """
    if not 0.0 < rate < 1.0:
        raise ValueError(f"rate must be in (0, 1), got {rate!r}")
    target = math.log(false_alarms_per_100k / _PER)
    log_rate = math.log(rate)
    c = max(1, math.ceil(window * rate) + 1)
    while c <= window:
        stay = 1.0 - (c - 1) / window
        if _log_binom_pmf(c - 1, window, rate) + log_rate + math.log(stay) <= target:
            return c
        c += 1
    return window + 1  # never fires: the rate is too high for this window


def wilson_upper(hits: int, trials: int, z: float = REFERENCE_Z) -> float:
    """Upper Wilson bound of a proportion (``z`` standard errors; 1.0 when ``trials`` is 0)."""
    if trials <= 0:
        return 1.0
    p = hits / trials
    z2 = z * z
    centre = p + z2 / (2 * trials)
    spread = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials))
    return min(1.0, (centre + spread) / (1 + z2 / trials))


def suffix_change_start(values: Sequence[float], *, rate: float) -> int:
    """Index in ``values`` (oldest first) where the suffix with the largest excess begins.

    The CUSUM estimate of a change point: the start ``s`` maximising ``sum(values[s:]) -
    rate * (len(values) - s)``. O(len(values)); called on a firing only.
    """
    best, best_start, running = 0.0, len(values) - 1, 0.0
    for i in range(len(values) - 1, -1, -1):
        running += values[i] - rate
        if running > best:
            best, best_start = running, i
    return best_start
