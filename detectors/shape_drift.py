"""A change in a numeric feature's spread or shape (variance, bimodality, skew, also location).

ADWIN on the raw value watches the *mean*; a variance that doubles or a distribution that
splits into two modes around the same mean leaves the mean where it was. :class:`ShapeDriftDetector`
bins each value by the reference's quantiles (``bins`` equiprobable bins, edges from the first
``reference_size`` values) and hands the bin to :class:`~detectors.category_drift.CategoryDriftDetector`:
the windowed two-sample chi-square test on bins, with the same false-alarm control. More
spread moves mass to the outer bins, a split empties the middle ones, a shift moves mass to
one side. Chosen by measurement over River's KSWIN and ADWIN on ``|x - reference mean|``
(``bench/feature_drift.py``, the "spread candidates" table).

Per update: one ``bisect`` over ``bins - 1`` edges, one slot in a ring of raw values (for
the evidence's recent mean and standard deviation) and the categorical update. NaN is
ignored (the data-quality signal counts it); infinities land in the outer bins. After a
firing the detector re-baselines: new edges from the next ``reference_size`` values.

>>> import random
>>> rng = random.Random(2)
>>> detector = ShapeDriftDetector(ShapeDriftSpec())
>>> stream = [rng.gauss(0, 1) for _ in range(3000)] + [rng.gauss(0, 2 ** 0.5) for _ in range(1000)]
>>> [i for i, x in enumerate(stream) if detector.update(x)]
[3348]
>>> stats = detector.evidence()
>>> stats["category_1"], stats["reference_share_1"], stats["recent_share_1"]
('[1.29, inf)', 0.1, 0.168)
>>> stats["category_2"], round(stats["std_ratio"], 2)  # the window still holds 152 old values
('[-inf, -1.27)', 1.33)
"""

from __future__ import annotations

import bisect
import itertools
import math
from array import array
from collections.abc import Sequence
from typing import Literal

from pydantic import Field

from detectors.category_drift import CategoryDriftDetector, CategoryDriftSpec
from detectors.streaming import LastFiring, WindowTestFields

__all__ = ["ShapeDriftDetector", "ShapeDriftSpec"]


class ShapeDriftSpec(WindowTestFields):
    """The categorical test on the reference's quantile bins of a numeric feature."""

    type: Literal["shape_drift"] = "shape_drift"
    #: Equiprobable bins from the reference's quantiles (ties merge bins).
    bins: int = Field(default=10, ge=2, le=100)
    #: The test runs every ``stride`` samples once the window is full.
    stride: int = Field(default=50, ge=1)
    #: Bins listed in the evidence (largest change of share first).
    top: int = Field(default=3, ge=1, le=20)

    def category_spec(self) -> CategoryDriftSpec:
        """The spec of the categorical test on the bins."""
        return CategoryDriftSpec(
            reference_size=self.reference_size,
            window_size=self.window_size,
            stride=self.stride,
            max_categories=self.bins,
            min_expected=0.0,
            false_alarms_per_100k=self.false_alarms_per_100k,
            top=self.top,
        )


def _edge(x: float) -> str:
    return f"{x:.3g}" if math.isfinite(x) else ("inf" if x > 0 else "-inf")


class ShapeDriftDetector(LastFiring):
    """Fires when the window's distribution over the reference's quantile bins changes."""

    __slots__ = (
        "edges",
        "labels",
        "n",
        "recent",
        "ref_mean",
        "ref_std",
        "reference",
        "spec",
        "test",
    )

    def __init__(self, spec: ShapeDriftSpec) -> None:
        self.spec = spec
        super().__init__()
        self._restart()

    def _restart(self) -> None:
        self.n = 0
        self.reference: array[float] = array("d")
        self.edges: list[float] = []
        self.labels: list[str] = []
        #: The window's raw values, for the evidence's recent mean and deviation (single
        #: precision: half the memory of a key's largest per-feature ring).
        self.recent: array[float] = array("f")
        self.ref_mean = 0.0
        self.ref_std = 0.0
        self.test: CategoryDriftDetector | None = None

    def _arm(self) -> None:
        values = sorted(self.reference)
        size = len(values)
        bins = self.spec.bins
        edges = sorted({values[(i * size) // bins] for i in range(1, bins)})
        if edges and edges[0] <= values[0]:
            edges = edges[1:]  # nothing falls below the minimum: no empty first bin
        if not edges:  # a constant reference: any other value lands in *other*
            edges = [values[0], math.nextafter(values[0], math.inf)]
        self.edges = edges
        bounds = [-math.inf, *edges, math.inf]
        self.labels = [
            f"[{_edge(lo)}, {_edge(hi)})" if _edge(lo) != _edge(hi) else f"={_edge(lo)}"
            for lo, hi in itertools.pairwise(bounds)
        ]
        counts: dict[str, int] = {}
        for x in values:
            label = self.labels[bisect.bisect_right(edges, x)]
            counts[label] = counts.get(label, 0) + 1
        self.ref_mean = math.fsum(values) / size
        self.ref_std = math.sqrt(math.fsum((x - self.ref_mean) ** 2 for x in values) / size)
        self.test = CategoryDriftDetector.from_counts(self.spec.category_spec(), counts)
        self.recent = array("f", [0.0]) * self.spec.window_size
        self.reference = array("d")

    def update(self, x: float) -> bool:
        """Feed one value; True when this sample's test fires."""
        if x != x:  # NaN
            return False
        self.n += 1
        test = self.test
        if test is None:
            self.reference.append(x)
            if self.n >= self.spec.reference_size:
                self._arm()
            return False
        recent = self.recent
        recent[test.pos] = x  # the categorical ring's slot for this sample
        if not test.update(self.labels[bisect.bisect_right(self.edges, x)]):
            return False
        self._fire(test)
        return True

    def quiet_for(self) -> int:
        """How many next updates cannot fire, whatever their values."""
        test = self.test
        if test is None:
            return self.spec.reference_size - self.n  # the last of them arms the test
        return test.quiet_for()

    def feed_run(self, xs: Sequence[float]) -> None:
        """Feed a run of at most :meth:`quiet_for` values: exactly :meth:`update` per value
        (none of which fires), in one call.

        >>> import random
        >>> rng = random.Random(3)
        >>> a, b = ShapeDriftDetector(ShapeDriftSpec()), ShapeDriftDetector(ShapeDriftSpec())
        >>> stream = [rng.gauss(0, 1) for _ in range(1600)]
        >>> for x in stream[:1300]:
        ...     _ = a.update(x), b.update(x)
        >>> run = stream[1300:1300 + a.quiet_for()]
        >>> a.feed_run(run); [b.update(x) for x in run].count(True)
        0
        >>> (a.n, a.recent, a.test.ring, a.test.counts) == (b.n, b.recent, b.test.ring, b.test.counts)
        True
        """
        test = self.test
        if test is None:  # the reference phase (the run ends at its last value at the latest)
            reference = self.reference
            before = len(reference)
            reference.extend([x for x in xs if x == x])  # NaN aside
            self.n += len(reference) - before
            if self.n >= self.spec.reference_size:
                if self.n > self.spec.reference_size:
                    raise AssertionError("feed_run: a run longer than quiet_for()")
                self._arm()
            return
        edges = self.edges
        labels = self.labels
        recent = self.recent
        size = len(test.ring)
        pos = test.pos  # the categorical ring's slot of each sample, as in update
        bins: list[str] = []
        for x in xs:
            if x != x:  # NaN
                continue
            recent[pos] = x
            pos += 1
            if pos == size:
                pos = 0
            bins.append(labels[bisect.bisect_right(edges, x)])
        self.n += len(bins)
        test.feed_run(bins)

    def _fire(self, test: CategoryDriftDetector) -> None:
        values = self.recent
        mean = math.fsum(values) / len(values)
        std = math.sqrt(math.fsum((x - mean) ** 2 for x in values) / len(values))
        stats = test.evidence()
        stats.update(
            {
                "reference_mean": self.ref_mean,
                "reference_std": self.ref_std,
                "recent_mean": mean,
                "recent_std": std,
                "std_ratio": std / self.ref_std if self.ref_std > 0 else None,
                "bins": len(self.labels),
            }
        )
        self._record(stats, test.change_lag)
        self._restart()
