"""Which windowed detectors watch a feature of each kind, and the factory that builds them.

The configuration shape the per-key monitor reads (SPEC §4, "every feature is watched"):
:class:`FeatureSignalsConfig` lists the detector specs per feature *kind*, with the defaults
measured by ``bench/feature_drift.py``. A feature's kind is decided by its values
(:func:`feature_kind`): ``numeric`` (int or float), ``boolean``, ``categorical`` (string); a
null says nothing about the kind. River's mean detector (ADWIN on ``feature:<name>``, reading
each value clipped at its running mean ± 6 sd, :mod:`detectors.running_clip`) stays where it is,
in ``DetectionConfig.signals``; these are added beside it. ``joint`` is one
detector per key over all numeric features; ``cbpe`` one per key for scored binary
classifiers.

:func:`build` turns any spec into a fresh detector that keeps
:class:`~detectors.streaming.StreamingDetector` (``update(value) -> bool``, ``evidence()``,
``change_lag``, ``n``).

>>> config = FeatureSignalsConfig()
>>> [spec.label for spec in config.for_kind("categorical")]
['category_drift', 'new_category', 'missing_rate', 'type_change']
>>> [spec.label for spec in config.for_kind("numeric")]
['shape_drift', 'missing_rate', 'type_change']
>>> FeatureSignalsConfig().enabled, FeatureSignalsConfig.off().enabled
(True, False)
>>> feature_kind(2.5), feature_kind(True), feature_kind("DE"), feature_kind(None)
('numeric', 'boolean', 'categorical', None)
>>> detector = build(config.for_kind("boolean")[0])
>>> type(detector).__name__, detector.update(True)
('CategoryDriftDetector', False)
>>> FeatureSignalsConfig.model_validate({"numeric": [{"type": "shape_drift", "bins": 1}]})
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for FeatureSignalsConfig
numeric.0.shape_drift.bins
  Input should be greater than or equal to 2 [type=greater_than_equal, input_value=1, input_type=int]
...
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from detectors.category_drift import CategoryDriftDetector, CategoryDriftSpec
from detectors.data_quality import (
    MissingRateDetector,
    MissingRateSpec,
    TypeChangeDetector,
    TypeChangeSpec,
)
from detectors.estimated_performance import CBPESpec, EstimatedPerformance
from detectors.joint_drift import JointDriftDetector, JointDriftSpec
from detectors.new_category import NewCategoryDetector, NewCategorySpec
from detectors.rate_shift import RateShiftDetector, RateShiftSpec
from detectors.shape_drift import ShapeDriftDetector, ShapeDriftSpec

__all__ = [
    "FeatureDetectorSpec",
    "FeatureKind",
    "FeatureSignalsConfig",
    "build",
    "feature_kind",
]

FeatureKind = Literal["numeric", "categorical", "boolean"]

#: Any per-feature windowed detector spec (discriminated by ``type``).
FeatureDetectorSpec = Annotated[
    ShapeDriftSpec
    | CategoryDriftSpec
    | NewCategorySpec
    | MissingRateSpec
    | TypeChangeSpec
    | RateShiftSpec,
    Field(discriminator="type"),
]


def feature_kind(value: Any) -> FeatureKind | None:
    """The kind a feature value says its feature is (None for a null or another type)."""
    cls = value.__class__
    if cls is float or cls is int:
        return "numeric"
    if cls is bool:
        return "boolean"
    if cls is str:
        return "categorical"
    return None


def _numeric() -> list[Any]:
    return [ShapeDriftSpec(), MissingRateSpec(), TypeChangeSpec()]


def _categorical() -> list[Any]:
    return [CategoryDriftSpec(), NewCategorySpec(), MissingRateSpec(), TypeChangeSpec()]


def _boolean() -> list[Any]:
    return [CategoryDriftSpec(), MissingRateSpec(), TypeChangeSpec()]


class FeatureSignalsConfig(BaseModel):
    """Windowed detectors per feature kind, plus the per-key joint and CBPE signals."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Detectors of each numeric (int or float) feature, beside the ``feature`` mean detector.
    numeric: list[FeatureDetectorSpec] = Field(default_factory=_numeric)
    #: Detectors of each categorical (string) feature.
    categorical: list[FeatureDetectorSpec] = Field(default_factory=_categorical)
    #: Detectors of each boolean feature.
    boolean: list[FeatureDetectorSpec] = Field(default_factory=_boolean)
    #: One detector per key over its numeric features; None: off.
    joint: JointDriftSpec | None = Field(default_factory=JointDriftSpec)
    #: Estimated performance of scored binary classifiers; None: off.
    cbpe: CBPESpec | None = Field(default_factory=CBPESpec)

    @classmethod
    def off(cls) -> FeatureSignalsConfig:
        """No detector at all (as ``{numeric: [], categorical: [], boolean: [], joint: null,
        cbpe: null}`` in YAML)."""
        return cls(numeric=[], categorical=[], boolean=[], joint=None, cbpe=None)

    @property
    def enabled(self) -> bool:
        """Whether any detector is configured."""
        return bool(self.numeric or self.categorical or self.boolean
                    or self.joint is not None or self.cbpe is not None)

    def for_kind(self, kind: FeatureKind) -> list[Any]:
        """The specs watching a feature of ``kind``."""
        specs: list[Any] = getattr(self, kind)
        return specs


def build(spec: Any) -> Any:
    """A fresh detector for ``spec``."""
    kind = spec.type
    if kind == "shape_drift":
        return ShapeDriftDetector(spec)
    if kind == "category_drift":
        return CategoryDriftDetector(spec)
    if kind == "new_category":
        return NewCategoryDetector(spec)
    if kind == "missing_rate":
        return MissingRateDetector(spec)
    if kind == "type_change":
        return TypeChangeDetector(spec)
    if kind == "rate_shift":
        return RateShiftDetector(spec)
    if kind == "joint_drift":
        return JointDriftDetector(spec)
    if kind == "cbpe":
        return EstimatedPerformance(spec)
    raise ValueError(f"unknown detector type {kind!r}")
