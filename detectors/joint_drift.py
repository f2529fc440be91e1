"""One signal per model for a change in the joint distribution of its numeric features.

A correlation that flips leaves every feature's own distribution unchanged, so no per-feature
detector can see it. :class:`JointDriftDetector` standardises the numeric features (by the
reference's means and standard deviations; a missing or non-numeric value counts as the
reference mean), fits a PCA on the first half of the first ``reference_size`` rows (the
fewest components explaining ``explained_variance`` of the variance, at most all but one),
and takes the reconstruction error ``|z - P'P z|²`` of each row: the part of the row the
reference's correlation structure does not explain. The ``quantile`` of the errors on the
reference's second half (held out from the fit) is the error threshold, and the rate of rows
above it is watched by a :class:`~detectors.rate_shift.RateShiftDetector` whose reference rate
is the held-out exceedance rate (its upper Wilson bound). A broken correlation, a mean shift
or a new variance in any direction the reference did not vary in all raise that rate.

The evidence names the features whose share of the error grew most over the reference's
(an exponential average of each feature's squared residual, ``decay`` per row), with the
ratio of recent to reference.
Only one row in ``sample_every`` is used (the others are counted and skipped): a row costs
O(d²) for d features, the most of any per-key signal, and a joint change lasts, so reading a
sample of the rows divides the cost and multiplies the delay (in predictions) by the same
factor. Per used row: the residual in plain Python for up to :data:`SMALL` features (cheaper
than numpy's per-call overhead there), a few small numpy operations above. After a firing it
re-baselines (a new PCA on the next ``reference_size`` used rows). With fewer than two numeric
features there is no joint structure: the detector never fires.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> def rows(n, rho):
...     x = rng.standard_normal((n, 4))
...     x[:, 1] = rho * x[:, 0] + (1 - rho ** 2) ** 0.5 * x[:, 1]
...     return [dict(zip("abcd", map(float, r))) for r in x]
>>> detector = JointDriftDetector(JointDriftSpec(sample_every=1))
>>> stream = rows(3000, 0.8) + rows(1000, -0.8)
>>> [i for i, row in enumerate(stream) if detector.update(row)]
[3102]
>>> stats = detector.evidence()
>>> stats["features"], stats["components"], stats["feature_1"], stats["feature_2"], "feature_3" in stats
(4, 3, 'b', 'a', False)
>>> round(stats["residual_ratio_1"], 2), 3102 - detector.change_lag  # the flip came at 3000
(5.59, 2995)
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
from pydantic import Field

from detectors.rate_shift import RateShiftDetector, RateTestFields
from detectors.streaming import LastFiring, wilson_upper

__all__ = ["SMALL", "JointDriftDetector", "JointDriftSpec"]

#: Up to this many features a used row is scored in plain Python, above it with numpy.
SMALL = 8


class JointDriftSpec(RateTestFields):
    """PCA reconstruction error of the numeric features, its exceedance rate vs the reference."""

    type: Literal["joint_drift"] = "joint_drift"
    #: The PCA keeps the fewest components explaining this share of the variance.
    explained_variance: float = Field(default=0.9, gt=0, lt=1)
    #: Rows whose error exceeds this quantile of the held-out reference errors are hits.
    quantile: float = Field(default=0.95, gt=0.5, lt=1)
    #: The first numeric features (sorted by name) of the first row, at most this many.
    max_features: int = Field(default=50, ge=2)
    #: Per-row weight of the exponential average of each feature's squared residual.
    decay: float = Field(default=0.02, gt=0, lt=1)
    #: Features listed in the evidence.
    top: int = Field(default=3, ge=1, le=20)
    #: One row in this many is used (CPU ÷ this, delay in predictions × this).
    sample_every: int = Field(default=4, ge=1)


def _numeric(value: Any) -> bool:
    cls = value.__class__
    return (cls is float and value == value) or cls is int


class JointDriftDetector(LastFiring):
    """Fires when rows stop fitting the reference's correlation structure."""

    __slots__ = (
        "components",
        "error_threshold",
        "fallback",
        "mean",
        "n",
        "names",
        "rate",
        "ref_residual",
        "residual",
        "residual_avg",
        "rows",
        "scale",
        "skipped",
        "small",
        "spec",
    )

    def __init__(self, spec: JointDriftSpec, features: list[str] | None = None) -> None:
        """``features``: the names to watch; None takes the numeric ones of the first row."""
        self.spec = spec
        self.names: list[str] | None = list(features)[: spec.max_features] if features else None
        self.skipped = 0
        super().__init__()
        self._restart()

    def _restart(self) -> None:
        self.n = 0
        self.rows: array[float] = array("d")  # the reference rows, flat
        self.rate: RateShiftDetector | None = None
        self.components = 0
        self.error_threshold = 0.0
        self.fallback: list[float] = []
        self.mean = np.zeros(0)
        self.scale = np.zeros(0)
        self.residual = np.zeros((0, 0))
        self.residual_avg = np.zeros(0)
        self.ref_residual = np.zeros(0)
        #: (mean, scale, residual rows, residual average) as lists, for up to SMALL features.
        self.small: tuple[list[float], list[float], list[list[float]], list[float]] | None = None

    def _vector(self, row: Mapping[str, Any], fill: list[float]) -> list[float]:
        names = self.names or ()
        out = []
        for name, default in zip(names, fill, strict=True):
            value: Any = row.get(name)
            out.append(float(value) if _numeric(value) else default)
        return out

    def update(self, row: Mapping[str, Any]) -> bool:
        """Feed one prediction's features (name → value); True when the error rate fires."""
        if self.names is None:
            self.names = sorted(k for k, v in row.items() if _numeric(v))[: self.spec.max_features]
        skipped = self.skipped + 1
        if skipped < self.spec.sample_every:
            self.skipped = skipped
            return False
        self.skipped = 0
        self.n += 1
        rate = self.rate
        if rate is None:
            self.rows.extend(self._vector(row, [float("nan")] * len(self.names)))
            if self.n >= self.spec.reference_size:
                self._arm()
            return False
        if self.components == 0:
            return False
        small = self.small
        if small is not None:
            return self._small(row, small, rate)
        z = (np.array(self._vector(row, self.fallback)) - self.mean) * self.scale
        r = self.residual @ z
        squared = r * r
        avg = self.residual_avg
        avg += self.spec.decay * (squared - avg)
        if not rate.update(float(squared.sum()) > self.error_threshold):
            return False
        self._fire(rate)
        return True

    def _small(
        self,
        row: Mapping[str, Any],
        small: tuple[list[float], list[float], list[list[float]], list[float]],
        rate: RateShiftDetector,
    ) -> bool:
        """:meth:`update` of a used row in plain Python (the same arithmetic)."""
        mean, scale, residual, avg = small
        z = []
        for name, fill, m, s in zip(self.names or (), self.fallback, mean, scale, strict=True):
            v: Any = row.get(name)
            cls = v.__class__
            z.append(((v if (cls is float and v == v) or cls is int else fill) - m) * s)
        decay = self.spec.decay
        error = 0.0
        for i, weights in enumerate(residual):
            r = 0.0
            for w, x in zip(weights, z, strict=True):
                r += w * x
            squared = r * r
            error += squared
            avg[i] += decay * (squared - avg[i])
        if not rate.update(error > self.error_threshold):
            return False
        self.residual_avg = np.array(avg)
        self._fire(rate)
        return True

    def _arm(self) -> None:
        x = np.array(self.rows, dtype=float).reshape(self.n, -1)
        self.rows = array("d")
        d = x.shape[1]
        if d < 2:
            self.rate = RateShiftDetector(self.spec.rate_spec(), reference_rate=0.5)
            return  # components stays 0: inert
        with np.errstate(all="ignore"):
            mean = np.nanmean(x, axis=0)
            mean = np.where(np.isfinite(mean), mean, 0.0)
            filled = np.where(np.isnan(x), mean, x)
            std = filled.std(axis=0)
        scale = np.where(std > 0, 1.0 / np.where(std > 0, std, 1.0), 0.0)
        z = (filled - mean) * scale
        half = len(z) // 2
        fit, held = z[:half], z[half:]
        _, singular, vt = np.linalg.svd(fit - fit.mean(axis=0), full_matrices=False)
        explained = np.cumsum(singular**2) / max(float((singular**2).sum()), 1e-300)
        k = int(np.searchsorted(explained, self.spec.explained_variance) + 1)
        k = min(k, d - 1)
        basis = vt[:k]
        residual = np.eye(d) - basis.T @ basis
        held_r = held @ residual.T
        errors = (held_r * held_r).sum(axis=1)
        threshold = float(np.quantile(errors, self.spec.quantile))
        exceed = int((errors > threshold).sum())
        self.mean, self.scale, self.residual = mean, scale, residual
        self.fallback = [float(m) for m in mean]
        self.components = k
        self.error_threshold = threshold
        per_feature = (held_r * held_r).mean(axis=0)
        self.ref_residual = np.maximum(per_feature, 1e-6 * max(float(per_feature.sum()), 1e-12))
        self.residual_avg = self.ref_residual.copy()
        if d <= SMALL:
            self.small = (mean.tolist(), scale.tolist(), residual.tolist(),
                          self.residual_avg.tolist())
        reference_rate = wilson_upper(exceed, len(errors))
        self.rate = RateShiftDetector(self.spec.rate_spec(), reference_rate=reference_rate)

    def _fire(self, rate: RateShiftDetector) -> None:
        names = self.names or []
        stats = rate.evidence()
        excess = self.residual_avg - self.ref_residual
        ratio = self.residual_avg / self.ref_residual
        stats.update(
            {
                "features": len(names),
                "components": self.components,
                "error_threshold": self.error_threshold,
                "quantile": self.spec.quantile,
            }
        )
        listed = [
            i for i in np.argsort(-excess)[: self.spec.top] if excess[i] > 0.01 * excess.max()
        ]
        for rank, i in enumerate(listed, start=1):
            stats[f"feature_{rank}"] = names[int(i)]
            stats[f"residual_ratio_{rank}"] = float(ratio[int(i)])
        self._record(stats, rate.change_lag)
        self._restart()
