"""Monitor of one key (model_id, model_version, segment): every signal, detector and metric.

A :class:`KeyMonitor` feeds each numeric feature and the score of each prediction (in arrival
order) and the ``error`` or ``residual`` of each joined label (in label-arrival order) to the
River detectors the configuration assigns to that signal, keeps the rolling performance windows,
and returns the *published* :class:`~detectors.contracts.DriftEvent` values (after warm-up and
cooldown, see :mod:`detectors.lifecycle`). Detectors for a feature are created when the feature
is first seen. The hot path does no allocation unless something fires.

Drift events: ``detected_at`` and ``source`` are the triggering event's (the prediction for
``score`` and ``feature:*``, the label for ``error``, ``residual`` and ``metric:*``);
``samples_seen`` counts the detector's samples since River last reset it; ``event_id`` is
:func:`~detectors.contracts.drift_event_id`, so a replay publishes the same ids.

>>> import random
>>> from river.drift import ADWIN

from detectors.config import DetectionConfig
>>> from detectors.contracts import Prediction, Source
>>> config = DetectionConfig(warmup_samples=50, metric_thresholds={})
>>> monitor = KeyMonitor(config, "fraud", "v1", None)
>>> rng = random.Random(1)
>>> for i in range(3000):
...     p = Prediction(prediction_id=f"p{i}", model_id="fraud", model_version="v1",
...                    timestamp=1_700_000_000_000 + i, prediction=True,
...                    features={"amount": rng.gauss(0 if i < 2000 else 3, 1), "country": "FR"})
...     for event in monitor.observe_prediction(p, Source(topic="t", partition=0, offset=i)):
...         s = event.stats
...         print(event.signal, event.detector, event.severity, event.source.offset,
...               event.samples_seen, s["width_before"], s["width"],
...               round(s["mean_before"], 2), round(s["mean_after"], 2))
feature:amount adwin drift 2015 2016 2016 80 0.02 0.59
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from river.drift import ADWIN

from detectors.config import DetectionConfig
from detectors.contracts import DriftEvent, SourceLike, as_source, drift_event_id
from detectors.events import InputPrediction
from detectors.lifecycle import Watcher
from detectors.performance import ClassificationWindow, RegressionWindow, ThresholdWatcher
from detectors.river_detectors import evidence
from detectors.signals import is_regression, residual_value
from detectors.views import DetectorView, finite_statistics

__all__ = ["Clock", "KeyMonitor", "utc_now"]

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The default clock for ``published_at``: wall-clock UTC."""
    return datetime.now(UTC)


#: What :meth:`KeyMonitor.observe_prediction` returns when nothing fired (no allocation).
_NO_EVENTS: tuple[DriftEvent, ...] = ()


def _next_due(watchers: Sequence[Watcher]) -> int:
    """The earliest ``due`` among ``watchers`` (a huge number when none reads ADWIN totals)."""
    return min((w.due for w in watchers if w.due >= 0), default=_NEVER)


_CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1")

#: ``next_due`` of a key without ADWIN prediction watchers.
_NEVER = 1 << 62


class KeyMonitor:
    """Detectors, windows and alert lifecycles of one (model_id, model_version, segment)."""

    __slots__ = (
        "class_plan",
        "class_window",
        "clock",
        "config",
        "cooldown",
        "errors",
        "features",
        "last_seen",
        "metric_thresholds",
        "metric_watchers",
        "model_id",
        "model_version",
        "next_due",
        "reg_plan",
        "reg_window",
        "residuals",
        "score",
        "score_solo",
        "seen",
        "segment",
        "solo",
        "task",
        "warmup",
    )

    def __init__(
        self,
        config: DetectionConfig,
        model_id: str,
        model_version: str,
        segment: str | None,
        clock: Clock = utc_now,
    ) -> None:
        self.model_id = model_id
        self.model_version = model_version
        self.segment = segment
        self.last_seen = 0.0
        self.features: dict[str, tuple[Watcher, ...]] = {}
        self.errors: tuple[Watcher, ...] | None = None
        self.residuals: tuple[Watcher, ...] | None = None
        self.class_window: ClassificationWindow | None = None
        self.reg_window: RegressionWindow | None = None
        self.metric_watchers: dict[str, ThresholdWatcher] = {}
        self.seen = 0
        self.attach(config, clock)
        self.score = self._watchers("score")
        for w in self.score:
            w.key_counted(0)
        self.next_due = _next_due(self.score)
        self.solo: dict[str, Any] = {}
        self.score_solo: Any = None
        self._index()

    # -- configuration (not part of the snapshot) --------------------------------------------

    def attach(self, config: DetectionConfig, clock: Clock) -> None:
        """(Re)bind the configuration and clock, after construction or a restore."""
        self.config = config
        self.clock = clock
        self.warmup: int = config.setting(self.model_id, "warmup_samples")
        self.cooldown: int = config.setting(self.model_id, "cooldown_samples")
        self.task: str = config.setting(self.model_id, "task")
        self.metric_thresholds: dict[str, float] = dict(
            config.setting(self.model_id, "metric_thresholds")
        )
        #: (metric, threshold) checked per label when the window is full, in a fixed order.
        self.class_plan = tuple(
            (name, self.metric_thresholds[name])
            for name in ("accuracy", "precision", "recall", "f1")
            if name in self.metric_thresholds
        )
        self.reg_plan = tuple(
            (name, self.metric_thresholds[name]) for name in ("mae",)
            if name in self.metric_thresholds
        )

    def _index(self) -> None:
        """``solo``/``score_solo``: the detector of each feature/the score when it is the only
        one watching it (a cache derived from the watchers, not snapshotted)."""
        self.solo = {name: g[0].detector for name, g in self.features.items() if len(g) == 1}
        self.score_solo = self.score[0].detector if len(self.score) == 1 else None

    def __getstate__(self) -> dict[str, Any]:
        self._sync()
        skip = {"config", "clock", "score_solo", "solo", "class_plan", "reg_plan"}
        return {name: getattr(self, name) for name in self.__slots__ if name not in skip}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            setattr(self, name, value)
        if "seen" not in state:  # a snapshot from before the shared prediction count
            self.seen = 0
            found = self._prediction_watchers()
            for w in found:
                w.key_counted(0)
            self.next_due = _next_due(found)
        self._index()

    def _prediction_watchers(self) -> list[Watcher]:
        found: list[Watcher] = list(self.score)
        for group in self.features.values():
            found.extend(group)
        return found

    def _sync(self) -> None:
        """Write each prediction watcher's ``n`` from the key's shared count (see below)."""
        seen = self.seen
        for w in self._prediction_watchers():
            w.n = seen - w.base

    def _read_totals(self, c: int) -> None:
        """Before prediction ``c``: ADWIN's window total for each watcher that may cut at it."""
        for w in self._prediction_watchers():
            if w.due == c:
                w.read_total()

    def _advance(self, c: int) -> None:
        """After prediction ``c``: next check of the watchers fed at their check; next due."""
        found = self._prediction_watchers()
        for w in found:
            if w.due == c:
                w.due = c + w.step
        self.next_due = _next_due(found)

    def _missed(self, prediction: InputPrediction) -> None:
        """Prediction watchers not fed by this prediction: their count does not move."""
        if prediction.score is None:
            for w in self.score:
                w.base += 1
                if w.due >= 0:
                    w.due += 1
        values = prediction.features
        for name, group in self.features.items():
            cls = values.get(name).__class__
            if cls is not float and cls is not int:
                for w in group:
                    w.base += 1
                    if w.due >= 0:
                        w.due += 1

    def _watchers(self, signal: str) -> tuple[Watcher, ...]:
        specs = self.config.detectors_for(self.model_id, signal)
        group = tuple(
            Watcher(spec, signal=signal, warmup=self.warmup, cooldown=self.cooldown)
            for spec in specs
        )
        if signal != "error" and any(w.warns for w in group):  # pragma: no cover - config
            raise ValueError(f"signal {signal!r}: warning detectors watch 'error' only")
        return group

    def rolling_metrics(self) -> dict[str, float]:
        """Each rolling metric over a *full* window (NaN left out); read-only."""
        out: dict[str, float] = {}
        for window, names in ((self.class_window, _CLASSIFICATION_METRICS),
                              (self.reg_window, ("mae",))):
            if window is None or not window.full:
                continue
            for name in names:
                value = window.metric(name)
                if not math.isnan(value):
                    out[name] = value
        return out

    def detector_views(self) -> tuple[DetectorView, ...]:
        """Each detector's signal, name and current statistics; read-only (no count synced)."""
        groups: list[Sequence[Watcher]] = [self.score, *self.features.values(),
                                           self.errors or (), self.residuals or ()]
        return tuple(
            DetectorView(w.signal, w.label, finite_statistics(evidence(w.spec, w.detector)))
            for group in groups for w in group
        )

    def watchers(self) -> list[Watcher]:
        """Every detector watcher of this key (prediction watchers' ``n`` brought up to date)."""
        self._sync()
        found = self._prediction_watchers()
        found.extend(self.errors or ())
        found.extend(self.residuals or ())
        return found

    # -- events ------------------------------------------------------------------------------

    def _fire(
        self, w: Watcher, drift: bool, when: datetime, source: SourceLike
    ) -> DriftEvent | None:
        published = w.on_drift() if drift else w.on_warning_change()
        if not published:
            return None
        return self._event(
            kind=w.kind,
            severity=w.severity,
            signal=w.signal,
            detector=w.label,
            when=when,
            samples=w.fired_samples,
            stats=w.evidence(),
            source=source,
        )

    def _event(
        self,
        *,
        kind: str,
        severity: str,
        signal: str,
        detector: str,
        when: datetime,
        samples: int,
        stats: dict[str, Any],
        source: SourceLike,
    ) -> DriftEvent:
        source = as_source(source)
        return DriftEvent(
            event_id=drift_event_id(
                model_id=self.model_id,
                model_version=self.model_version,
                segment=self.segment,
                signal=signal,
                detector=detector,
                severity=severity,
                source=source,
            ),
            kind=kind,  # type: ignore[arg-type]
            severity=severity,  # type: ignore[arg-type]
            model_id=self.model_id,
            model_version=self.model_version,
            segment=self.segment,
            signal=signal,
            detector=detector,
            detected_at=when,
            published_at=self.clock(),
            samples_seen=samples,
            stats=stats,
            source=source,
        )

    def observe_prediction(
        self, prediction: InputPrediction, source: SourceLike
    ) -> Sequence[DriftEvent]:
        """Feed the prediction's score and numeric features; return the published events.

        Hot path: per detector update, River's ``update`` and a read of River's drift flag
        (without the property call; for a lone River ADWIN, the two lines of its ``update``,
        ``if drift_detected: reset`` and ``drift_detected = helper.update(x)``, inline: the
        same calls on River's own Rust window, without a Python frame); nothing per watcher is counted or summed. The key counts
        its predictions once (``seen``); a prediction watcher's ``n`` is ``seen - base``, and a
        prediction that does not feed a watcher (no score, a missing or non-numeric feature:
        fewer values fed than there are feature groups) moves its ``base`` instead
        (:meth:`_missed`). ADWIN's running sum is its window total read just before the updates
        at which it can cut (``due``, see :meth:`Watcher.key_counted`; the key keeps the
        earliest, ``next_due``, so the check is once per prediction). Score and feature
        detectors never raise warnings (binary detectors watch ``error`` only, see
        :mod:`detectors.config`), so no warning edge is checked here. Nothing is allocated
        unless a detector fires.
        """
        out: list[DriftEvent] | None = None
        c = self.seen + 1
        self.seen = c
        due = self.next_due
        if c == due:
            self._read_totals(c)
        score = prediction.score
        if score is not None:
            d = self.score_solo
            if d is not None:
                if d.__class__ is ADWIN and not d._drift_detected:
                    fired = d._helper.update(score)  # ADWIN.update without its Python frame
                    if fired:
                        d._drift_detected = True
                else:
                    d.update(score)
                    fired = d._drift_detected
                if fired:
                    out = self._fired(self.score[0], c, score, prediction, source, out)
            else:
                for w in self.score:
                    det = w.detector
                    det.update(score)
                    if det._drift_detected:
                        out = self._fired(w, c, score, prediction, source, out)
        features = self.features
        solo = self.solo
        fed = 0
        for name, value in prediction.features.items():
            cls = value.__class__
            if cls is float or cls is int:
                fed += 1
                d = solo.get(name)
                if d is not None:
                    if d.__class__ is ADWIN and not d._drift_detected:
                        fired = d._helper.update(value)  # type: ignore[arg-type]  # as for the score
                        if fired:
                            d._drift_detected = True
                    else:
                        d.update(value)
                        fired = d._drift_detected
                    if fired:
                        w = features[name][0]
                        out = self._fired(w, c, value, prediction, source, out)  # type: ignore[arg-type]
                else:
                    out = self._feed_group(name, value, c, prediction, source, out)  # type: ignore[arg-type]
        if fed != len(features) or score is None:
            self._missed(prediction)
        if c >= due:
            self._advance(c)
        return out or _NO_EVENTS

    def _fired(
        self,
        w: Watcher,
        c: int,
        value: float,
        prediction: InputPrediction,
        source: SourceLike,
        out: list[DriftEvent] | None,
    ) -> list[DriftEvent] | None:
        """A prediction watcher's detector fired on prediction ``c``: publish it?"""
        w.n = c - w.base
        w.total += value  # the window total read before this update (see Watcher.key_counted)
        event = self._fire(w, True, prediction.timestamp, source)
        if event is None:
            return out
        out = out or []
        out.append(event)
        return out

    def _feed_group(
        self,
        name: str,
        value: float,
        c: int,
        prediction: InputPrediction,
        source: SourceLike,
        out: list[DriftEvent] | None,
    ) -> list[DriftEvent] | None:
        """Feed a feature not in ``solo``: a new one, or one watched by several detectors."""
        group = self.features.get(name)
        if group is None:
            group = self.features[name] = self._watchers("feature:" + name)
            for w in group:
                w.key_counted(c - 1)  # its total (0.0) is read for this update already
                if w.due == c:
                    w.due = c + w.step
            self.next_due = min(self.next_due, _next_due(group))
            if len(group) == 1:
                self.solo[name] = group[0].detector
        for w in group:
            det = w.detector
            det.update(value)
            if det._drift_detected:
                out = self._fired(w, c, value, prediction, source, out)
        return out

    def observe_label(
        self, predicted: Any, actual: Any, when: datetime, source: SourceLike
    ) -> Sequence[DriftEvent] | str:
        """Feed a joined pair (label-arrival order); events, or a reason when it cannot be used."""
        out: list[DriftEvent] | None = None
        if is_regression(predicted, self.task):
            residual = residual_value(predicted, actual)
            if residual is None:
                return f"regression needs numbers: prediction {predicted!r}, label {actual!r}"
            group = self.residuals
            if group is None:
                group = self.residuals = self._watchers("residual")
            value: float = residual
            window: Any = self.reg_window
            if window is None:
                window = self.reg_window = RegressionWindow(
                    self.config.setting(self.model_id, "metric_window")
                )
            window.update(residual)
            plan = self.reg_plan
        else:
            value = 0 if predicted == actual else 1
            group = self.errors
            if group is None:
                group = self.errors = self._watchers("error")
            window = self.class_window
            if window is None:
                window = self.class_window = ClassificationWindow(
                    self.config.setting(self.model_id, "metric_window"),
                    self.config.setting(self.model_id, "positive_label"),
                )
            window.update(predicted, actual)
            plan = self.class_plan
        for w in group:
            det = w.detector
            det.update(value)
            w.n += 1
            w.total += value
            # River's own flags, read without its property calls (as observe_prediction does).
            drift = det._drift_detected
            if drift or (w.warns and det._warning_detected is not w.in_warning):
                event = self._fire(w, drift, when, source)
                if event is not None:
                    out = out or []
                    out.append(event)
        if plan and window.full:
            for name, threshold in plan:
                watcher = self.metric_watchers.get(name)
                if watcher is None:
                    watcher = self.metric_watchers[name] = ThresholdWatcher(
                        name, threshold, cooldown=self.cooldown
                    )
                metric = window.metric(name)
                if watcher.check(metric):
                    out = out or []
                    out.append(
                        self._event(
                            kind="performance",
                            severity="drift",
                            signal="metric:" + name,
                            detector="threshold",
                            when=when,
                            samples=window.size,
                            stats={
                                "value": metric,
                                "threshold": threshold,
                                "direction": "below" if watcher.higher_is_better else "above",
                                "window": window.size,
                            },
                            source=source,
                        )
                    )
        return out or _NO_EVENTS
