"""Detection configuration: which detector watches which signal, thresholds, lifecycle, bounds.

:class:`DetectionConfig` is the ``detection:`` section of the service YAML file. Every model is
strict (``extra="forbid"``), so a typo is an error that names the field. ``DetectionConfig()``
is a working configuration whose defaults were *measured* (``bench/default_false_alarms.py``).

Signals (SPEC §4), per (model_id, model_version, segment):

* ``error`` — 0/1, prediction ≠ label (classification), in label-arrival order;
* ``residual`` — ``|prediction − label|`` (regression);
* ``score`` — the prediction's ``score``;
* ``feature:<name>`` — each numeric feature; the ``feature`` entry is the default for all of them;
* ``metric:<name>`` — rolling ``accuracy``, ``precision``, ``recall``, ``f1``, ``mae`` over the
  last ``metric_window`` labelled samples, compared with the model version's *own* baseline
  (``performance_baseline``: the metric on its first ``baseline_samples`` labelled samples; a drift
  when the rolling value falls more than ``z`` standard errors below it, see
  :class:`~detectors.performance.BaselineWatcher`) and with ``metric_thresholds`` (absolute, none
  by default: a drift when a score metric drops below a threshold it met, or ``mae`` rises above
  it; one ``warning`` with ``never_met`` when the first full window is already on the wrong side).

Resolution for a (model, signal): the model's override for that exact signal, else its
``feature`` entry (for a feature), else the global entry for the exact signal, else the global
``feature`` entry. An empty list means "not watched".

Time values are seconds of *event* time. Sample counts are per (key, detector).

>>> config = DetectionConfig.model_validate(
...     {"models": {"fraud": {"signals": {"score": [{"type": "page_hinkley", "threshold": 5}]}}}})
>>> [spec.label for spec in config.detectors_for("fraud", "score")]
['page_hinkley']
>>> [spec.label for spec in config.detectors_for("other", "feature:amount")]
['adwin']
>>> DetectionConfig.model_validate({"cooldown_sample": 5})
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for DetectionConfig
cooldown_sample
  Extra inputs are not permitted [type=extra_forbidden, input_value=5, input_type=int]
...
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from detectors.contracts import Target
from detectors.feature_signals import FeatureSignalsConfig
from detectors.river_detectors import BINARY_DETECTORS, ADWINSpec, DetectorSpec

__all__ = [
    "METRICS",
    "DetectionConfig",
    "ModelOverride",
    "PerformanceBaseline",
]

MetricName = Literal["accuracy", "precision", "recall", "f1", "mae"]
ScoreMetricName = Literal["accuracy", "precision", "recall", "f1"]
#: Metrics that are better when higher (fire below the threshold); ``mae`` fires above.
METRICS: tuple[str, ...] = ("accuracy", "precision", "recall", "f1", "mae")
Task = Literal["auto", "classification", "regression"]

_BASE_SIGNALS = frozenset({"error", "residual", "score", "feature"})


def _check_signal_name(name: str) -> None:
    if name in _BASE_SIGNALS:
        return
    if name.startswith("feature:") and len(name) > len("feature:"):
        return
    raise ValueError(
        f"unknown signal {name!r}: expected 'error', 'residual', 'score', 'feature' "
        "or 'feature:<name>' (metric:<name> signals are set by metric_thresholds)"
    )


def _check_signals(signals: dict[str, list[Any]]) -> dict[str, list[Any]]:
    for name, specs in signals.items():
        _check_signal_name(name)
        for spec in specs:
            if spec.type in BINARY_DETECTORS and name != "error":
                raise ValueError(
                    f"signal {name!r}: detector {spec.type!r} reads 0/1 values and can only "
                    "watch the 'error' signal"
                )
        labels = [spec.label for spec in specs]
        if len(set(labels)) != len(labels):
            raise ValueError(
                f"signal {name!r}: two detectors share the name {labels!r}; set 'name'"
            )
    return signals


def default_signals() -> dict[str, list[Any]]:
    """The measured defaults (see ``bench/default_false_alarms.py`` for the figures)."""
    return {
        "error": [ADWINSpec(delta=0.0002, direction="up")],
        "residual": [ADWINSpec(delta=0.0002)],
        "score": [ADWINSpec(delta=0.0002)],
        "feature": [ADWINSpec(delta=0.0002)],
    }


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PerformanceBaseline(_Strict):
    """Score metrics watched against the model version's own baseline (classification keys).

    The baseline is the metric over the version's first ``baseline_samples`` labelled samples; a
    rolling ``metric_window`` value more than ``z`` standard errors (of the difference, from the
    confusion counts of the version's labelled pairs, see :class:`~detectors.performance.
    BaselineWatcher`) below it is a drift; the alert re-arms once the metric is back
    within half that margin. Precision, recall and F1 stay silent for a key whose window is
    expected to hold fewer than ``min_positives`` positives (too noisy to judge). A new
    model_version starts a new baseline. (The holdout metric the retrain worker records at a
    promotion is not used: the consumer does not read retrain events.)
    """

    #: Score metrics watched against the baseline (``[]`` disables).
    metrics: list[ScoreMetricName] = Field(default_factory=lambda: ["f1"])  # type: ignore[arg-type]
    #: The baseline is the metric over this many first labelled samples of the version.
    baseline_samples: int = Field(default=1000, ge=1)
    #: Standard errors below the baseline at which the rolling metric is a drift.
    z: float = Field(default=4.0, gt=0)
    #: Fewer expected positives than this in a rolling window: precision/recall/F1 stay silent.
    min_positives: int = Field(default=20, ge=0)


class ModelOverride(_Strict):
    """Per-model settings; a field left unset falls back to the global one."""

    signals: dict[str, list[DetectorSpec]] = Field(default_factory=dict)
    metric_window: int | None = Field(default=None, ge=1)
    metric_thresholds: dict[MetricName, float] | None = None
    performance_baseline: PerformanceBaseline | None = None
    cooldown_samples: int | None = Field(default=None, ge=0)
    warmup_samples: int | None = Field(default=None, ge=0)
    task: Task | None = None
    positive_label: Target | None = None
    #: The model's windowed feature, joint and CBPE detectors (replaces the global entry whole).
    feature_signals: FeatureSignalsConfig | None = None

    @field_validator("signals")
    @classmethod
    def _valid_signals(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        return _check_signals(value)


class DetectionConfig(_Strict):
    """The ``detection:`` section: detectors, thresholds, lifecycle, TTLs and caps."""

    #: Detectors per signal (``error``, ``residual``, ``score``, ``feature``, ``feature:<name>``).
    signals: dict[str, list[DetectorSpec]] = Field(default_factory=default_signals)
    #: Per-model overrides, by model_id.
    models: dict[str, ModelOverride] = Field(default_factory=dict)
    #: Rolling window of labelled samples for ``metric:<name>`` signals.
    metric_window: int = Field(default=500, ge=1)
    #: metric → absolute threshold (none by default; a per-model setting). Score metrics fire
    #: on crossing below a threshold they met, ``mae`` above it; a model whose first full
    #: window is already on the wrong side gets one ``warning`` (``never_met``), not a drift.
    metric_thresholds: dict[MetricName, float] = Field(default_factory=dict)
    #: Score metrics against the model version's own baseline (``metrics: []`` disables).
    performance_baseline: PerformanceBaseline = Field(default_factory=PerformanceBaseline)
    #: After a published firing, further firings of the same (key, detector) within this many
    #: samples are suppressed (counted), so one drift episode publishes one event.
    cooldown_samples: int = Field(default=1000, ge=0)
    #: Firings in a (key, detector)'s first samples are suppressed while its statistics settle;
    #: a new model_version gets fresh detectors and this warm-up again.
    warmup_samples: int = Field(default=100, ge=0)
    #: ``classification`` feeds ``error``, ``regression`` feeds ``residual``; ``auto`` decides per
    #: prediction: booleans, strings and integers are classes, other numbers are regression.
    task: Task = "auto"
    #: Positive class for binary precision/recall/F1; None: ``True``/``1`` when the window's
    #: classes are booleans or 0/1, else macro averages over the classes seen.
    positive_label: Target | None = None
    #: A prediction waits this long (event time, from its arrival) for its label.
    join_ttl_s: float = Field(default=86_400.0, gt=0)
    #: A label that arrives before its prediction waits this long, then is an orphan.
    label_wait_ttl_s: float = Field(default=3_600.0, gt=0)
    #: A key (model_id, model_version, segment) with no event for this long is retired.
    idle_key_ttl_s: float = Field(default=7 * 86_400.0, gt=0)
    #: Cap on predictions waiting for labels (oldest evicted first, counted).
    max_pending_joins: int = Field(default=1_000_000, ge=1)
    #: Cap on labels waiting for predictions (oldest rejected as orphans first).
    max_waiting_labels: int = Field(default=100_000, ge=1)
    #: Cap on tracked keys; events of a new key beyond it are rejected (stage ``process``).
    max_tracked_keys: int = Field(default=10_000, ge=1)
    #: None accepts any model; otherwise events of another model are rejected (``validate``).
    known_models: list[str] | None = None
    #: Every feature watched by kind beside the ``feature`` mean detector: shape (numeric),
    #: categories and new categories (categorical, boolean), missing rate and type change
    #: (``quality`` events), the ``joint`` signal and CBPE's ``metric:estimated_<name>``
    #: (see ``bench/feature_drift.py`` for the measured defaults). Empty lists and nulls: off.
    feature_signals: FeatureSignalsConfig = Field(default_factory=FeatureSignalsConfig)

    _cache: dict[tuple[str, str], tuple[Any, ...]] = PrivateAttr(default_factory=dict)

    @field_validator("signals")
    @classmethod
    def _valid_signals(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        return _check_signals(value)

    @model_validator(mode="after")
    def _known_overrides(self) -> DetectionConfig:
        if self.known_models is not None:
            unknown = sorted(set(self.models) - set(self.known_models))
            if unknown:
                raise ValueError(f"models {unknown} are overridden but not in known_models")
        return self

    # -- resolution (cached: configs are frozen) -------------------------------------------

    def detectors_for(self, model_id: str, signal: str) -> tuple[Any, ...]:
        """The detector specs watching ``signal`` of ``model_id``."""
        cache = self._cache
        key = (model_id, signal)
        found = cache.get(key)
        if found is None:
            found = tuple(self._resolve(model_id, signal))
            cache[key] = found
        return found

    def _resolve(self, model_id: str, signal: str) -> list[Any]:
        is_feature = signal.startswith("feature:")
        override = self.models.get(model_id)
        if override is not None:
            if signal in override.signals:
                return override.signals[signal]
            if is_feature and "feature" in override.signals:
                return override.signals["feature"]
        if signal in self.signals:
            return self.signals[signal]
        if is_feature:
            return self.signals.get("feature", [])
        return []

    def setting(self, model_id: str, name: str) -> Any:
        """A per-model setting (``cooldown_samples``, ``task``, …) with the global fallback."""
        override = self.models.get(model_id)
        if override is not None:
            value = getattr(override, name)
            if value is not None:
                return value
        return getattr(self, name)

    def with_signal_overrides(self, overrides: dict[str, dict[str, list[Any]]]) -> DetectionConfig:
        """A copy with ``models[model].signals[signal]`` replaced (what calibration writes)."""
        data = self.model_dump(mode="json", exclude_none=False)
        for model_id, signals in overrides.items():
            entry = data["models"].setdefault(model_id, {})
            entry.setdefault("signals", {})
            for signal, specs in signals.items():
                entry["signals"][signal] = [spec.model_dump(mode="json") for spec in specs]
        return DetectionConfig.model_validate(data)
