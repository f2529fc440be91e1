"""Monitor of one key (model_id, model_version, segment): every signal, detector and metric.

A :class:`KeyMonitor` feeds each numeric feature (clipped at its running mean ± 6 sd before its
ADWIN, :mod:`detectors.running_clip`) and the score of each prediction (in arrival order) and the ``error`` or ``residual`` of each joined label (in label-arrival order) to the
River detectors the configuration assigns to that signal, every feature of each prediction to
its :class:`~detectors.feature_watch.FeatureWatch` (windowed detectors by feature kind, the
``joint`` signal, estimated performance), keeps the rolling performance windows,
and returns the *published* :class:`~detectors.contracts.DriftEvent` values (after warm-up and
cooldown, see :mod:`detectors.lifecycle`). Detectors for a feature are created when the feature
is first seen. The hot path does no allocation unless something fires.

Drift events: ``detected_at`` and ``source`` are the triggering event's (the prediction for
``score`` and ``feature:*``, the label for ``error``, ``residual`` and ``metric:*``);
``samples_seen`` counts the detector's samples since River last reset it; ``event_id`` is
:func:`~detectors.contracts.drift_event_id`, so a replay publishes the same ids.

>>> import random
>>> from detectors.config import DetectionConfig
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
...               event.samples_seen, *((s["width_before"], s["width"],
...               round(s["mean_before"], 2), round(s["mean_after"], 2))
...               if event.detector == "adwin" else (s["category_1"], s["recent_share_1"])))
feature:amount adwin drift 2015 2016 2016 80 0.02 0.59
feature:amount shape_drift drift 2098 2099 [1.27, inf) 0.268
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from itertools import takewhile
from operator import not_
from typing import Any
from weakref import WeakValueDictionary

from detectors.change_point import RecentBits, SampleTrail
from detectors.config import DetectionConfig
from detectors.contracts import ChangePoint, DriftEvent, SourceLike, as_source, drift_event_id
from detectors.events import InputPrediction
from detectors.feature_signals import FeatureSignalsConfig
from detectors.feature_watch import FeatureWatch
from detectors.lifecycle import Watcher
from detectors.performance import ClassificationWindow, PerformanceAlerts, RegressionWindow
from detectors.river_detectors import SlottedADWIN, evidence
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


#: The value classes the River detectors of a feature read.
_NUMBERS = frozenset({float, int})

_CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1")
#: The order thresholds are checked (and their events published) in, whatever the config's.
_METRIC_ORDER = (*_CLASSIFICATION_METRICS, "mae")

#: ``next_due`` of a key without ADWIN prediction watchers.
_NEVER = 1 << 62

#: Change points: every 16th prediction and label of a key is kept in its trails (so a change
#: point's time and source are at most 15 samples early), the last 256 of each (reach 4,096
#: samples, 8 KiB per trail when full), and the last 4,096 ``error`` values (one byte each) for
#: the least-squares estimate of where the error rate rose.
TRAIL_EVERY = 16
_TRAIL_MASK = TRAIL_EVERY - 1
TRAIL_CAPACITY = 256
RECENT_ERRORS = 4096
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def _epoch_ms(when: datetime) -> int:
    return (when - _EPOCH) // _MS


def _rank(prediction: InputPrediction, k: int, names: list[str]) -> int:
    """Where column ``k``'s events go among the prediction's (see
    :meth:`KeyMonitor._observe_columns`): the score's (column 0) first, then each feature's
    (``names[k]``) in the order of the prediction's features, then the feature watch's."""
    if k == 0:
        return 0
    if k >= len(names):
        return 1 << 30
    return 1 + list(prediction.features).index(names[k])


def _per_update(w: Watcher) -> bool:
    """The watcher's change-point estimator reads every update of its detector."""
    return w.estimator is not None and w.estimator.per_update


class KeySettings:
    """What the configuration says for one model's keys, read once and shared by them (never
    written): the configuration itself, warm-up, cooldown, task and metric thresholds."""

    __slots__ = ("__weakref__", "config", "cooldown", "metric_thresholds", "task", "warmup")

    def __init__(self, config: DetectionConfig, model_id: str) -> None:
        self.config = config
        self.warmup: int = config.setting(model_id, "warmup_samples")
        self.cooldown: int = config.setting(model_id, "cooldown_samples")
        self.task: str = config.setting(model_id, "task")
        # The configuration's own (frozen) dict: read, never written.
        self.metric_thresholds: dict[str, float] = config.setting(model_id, "metric_thresholds")


#: The settings in use, by the identity of their configuration and the model (dropped when no
#: key reads them any more).
_SETTINGS: WeakValueDictionary[tuple[int, str], KeySettings] = WeakValueDictionary()


def settings_for(config: DetectionConfig, model_id: str) -> KeySettings:
    """The shared :class:`KeySettings` of ``model_id`` under ``config``."""
    key = (id(config), model_id)
    found = _SETTINGS.get(key)
    if found is None:
        found = _SETTINGS[key] = KeySettings(config, model_id)
    return found


class KeyMonitor:
    """Detectors, windows and alert lifecycles of one (model_id, model_version, segment)."""

    __slots__ = (
        "alerts",
        "class_window",
        "clock",
        "errors",
        "feature_watch",
        "features",
        "label_trail",
        "labels",
        "last_seen",
        "model_id",
        "model_version",
        "next_due",
        "prediction_trail",
        "recent_errors",
        "reg_window",
        "residuals",
        "score",
        "score_solo",
        "seen",
        "segment",
        "settings",
        "solo",
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
        self.alerts: PerformanceAlerts | None = None
        self.seen = 0
        self.labels = 0
        #: Made at the first sample kept (the ``TRAIL_EVERY``-th): None until then.
        self.prediction_trail: SampleTrail | None = None
        self.label_trail: SampleTrail | None = None
        self.recent_errors: RecentBits | None = None
        self.feature_watch: FeatureWatch | None = None
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
        self.settings = settings_for(config, self.model_id)
        self.clock = clock
        signals: FeatureSignalsConfig = config.setting(self.model_id, "feature_signals")
        watch = self.feature_watch
        if not signals.enabled:
            self.feature_watch = None
        elif watch is None:
            self.feature_watch = FeatureWatch(signals, warmup=self.warmup, cooldown=self.cooldown)
        else:
            watch.attach(signals, warmup=self.warmup, cooldown=self.cooldown)

    def _index(self) -> None:
        """``solo``/``score_solo``: (the detector, its watcher's clip) of each feature/the
        score's detector, when it is the only one watching it (a cache derived from the
        watchers, not snapshotted)."""
        self.solo = {name: (g[0].detector, g[0].clip) for name, g in self.features.items()
                     if len(g) == 1 and not _per_update(g[0])}
        self.score_solo = (self.score[0].detector
                           if len(self.score) == 1 and not _per_update(self.score[0]) else None)

    @property
    def config(self) -> DetectionConfig:
        return self.settings.config

    @property
    def warmup(self) -> int:
        return self.settings.warmup

    @property
    def cooldown(self) -> int:
        return self.settings.cooldown

    @property
    def task(self) -> str:
        return self.settings.task

    @property
    def metric_thresholds(self) -> dict[str, float]:
        return self.settings.metric_thresholds

    def __getstate__(self) -> dict[str, Any]:
        self._sync()
        skip = {"clock", "score_solo", "settings", "solo"}
        # The settings are the configuration's: a restored key reads them again (attach).
        return {name: getattr(self, name) for name in self.__slots__ if name not in skip}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name in ("config", "cooldown", "metric_thresholds", "task", "warmup"):
            state.pop(name, None)  # the configuration's (attach), in some snapshots
        legacy = state.pop("metric_watchers", None)
        self.feature_watch = None  # a snapshot from before the feature watch: made by attach()
        for name, value in state.items():
            setattr(self, name, value)
        if "alerts" not in state:  # a snapshot from before baselines: its threshold watchers
            self.alerts = PerformanceAlerts.restored(legacy) if legacy else None
        if "labels" not in state:  # a snapshot from before change points: no trails
            self.labels = 0
            self.prediction_trail = self.label_trail = None
            self.recent_errors = None
        else:  # a snapshot from before lazy trails: an empty trail is none
            if self.prediction_trail is not None and not self.prediction_trail.counts:
                self.prediction_trail = None
            if self.label_trail is not None and not self.label_trail.counts:
                self.label_trail = None
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

    def estimated_metrics(self) -> dict[str, float]:
        """CBPE's current estimates from scores alone ({} when none); read-only."""
        watch = self.feature_watch
        return watch.estimated_metrics() if watch is not None else {}

    def estimated_gap(self) -> dict[str, float]:
        """CBPE's estimated minus realized metrics ({} before labels); read-only."""
        watch = self.feature_watch
        return watch.estimated_gap() if watch is not None else {}

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
        if self.feature_watch is not None:
            found.extend(self.feature_watch.watchers())
        return found

    # -- events ------------------------------------------------------------------------------

    def _fire(
        self, w: Watcher, drift: bool, when: datetime, source: SourceLike
    ) -> DriftEvent | None:
        if not drift:
            if not w.on_warning_change():
                return None
            return self._event(kind=w.kind, severity=w.severity, signal=w.signal,
                               detector=w.label, when=when, samples=w.fired_samples,
                               stats=w.evidence(), source=source)
        published = w.on_drift()
        estimator = w.estimator
        # River resets the detector on its next update: the estimators that follow every update
        # start again too, published or not (at_drift resets them).
        local = estimator.at_drift(w.detector, w.fired_samples) if estimator else 0
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
            change_point=self._change_point(w, local),
        )

    def _change_point(self, w: Watcher, local: int) -> ChangePoint | None:
        """Where the new regime of ``w``'s published drift began (None: beyond the trail).

        ``local`` is the estimator's count (since River's last reset) of its first sample; for
        ``error`` the least-squares split of the recent errors is used instead (the detectors'
        own estimates are bounds that lean early). Counts of the watcher's signal map onto the
        key's trail: ``n - point`` samples before the triggering one.
        """
        n, since = w.n, w.fired_samples
        label_fed = w.signal in ("error", "residual")
        bits = self.recent_errors
        if w.signal == "error" and bits is not None:
            point = bits.change_point(n=n, since=since)
            name = "least_squares"
        elif w.estimator is not None:
            point = n - since + local
            name = w.estimator.name
        elif w.streaming and self.feature_watch is not None:
            lag = self.feature_watch.change_lag(w)  # predictions before this one
            if lag is None:
                return None
            trail = self.prediction_trail
            found = trail.locate(self.seen - lag) if trail is not None else None
            if found is None:
                return None
            return ChangePoint(at=found[0], source=found[1], samples=lag + 1,
                               estimator="window_cusum")
        else:
            return None
        if label_fed:
            trail, count = self.label_trail, self.labels - (n - point)
        else:
            trail, count = self.prediction_trail, self.seen - (n - point)
        found = trail.locate(count) if trail is not None else None
        if found is None:
            return None
        at, where = found
        return ChangePoint(at=at, source=where, samples=n - point + 1, estimator=name)

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
        change_point: ChangePoint | None = None,
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
            change_point=change_point,
        )

    def observe_prediction(
        self, prediction: InputPrediction, source: SourceLike
    ) -> Sequence[DriftEvent]:
        """Feed the prediction's score and features; return the published events
        (:meth:`observe_predictions` of a one-prediction run, then :meth:`observe_estimate`)."""
        out = self._predict(prediction, source, None)
        estimated = self.observe_estimate(prediction, source)
        if estimated:
            out = out or []
            out.extend(estimated)
        return out or _NO_EVENTS

    def observe_predictions(
        self, run: Sequence[tuple[int, InputPrediction, SourceLike]]
    ) -> list[tuple[int, DriftEvent]] | None:
        """Feed a run of this key's predictions ``(index, prediction, source)``, in order, to
        every prediction detector but CBPE (which reads labels: :meth:`observe_estimate`, fed
        in arrival order with :meth:`observe_label`); the published events with their
        prediction's index, in order, or None. Nothing the label path writes is read here."""
        columns = self._columns(run) if len(run) > 1 else None
        if columns is not None:
            return self._observe_columns(run, *columns)
        out: list[tuple[int, DriftEvent]] | None = None
        predict = self._predict
        for i, prediction, source in run:
            events = predict(prediction, source, None)
            if events:
                out = out or []
                out.extend([(i, e) for e in events])
        return out

    def _columns(
        self, run: Sequence[tuple[int, InputPrediction, SourceLike]]
    ) -> tuple[list[Any], dict[str, list[Any]]] | None:
        """The run's scores and each watched feature's values, when the run is *regular*: every
        prediction has a score and a number for each of the key's numeric features, each
        watched by a lone detector (``score_solo``, ``solo``), and no number for any other
        feature; else None (fed prediction by prediction)."""
        solo = self.solo
        if self.score_solo is None or len(solo) != len(self.features):
            return None
        scores = [p.score for _, p, _ in run]
        if None in scores:
            return None
        feats = [p.features for _, p, _ in run]
        if set(map(len, feats)) != {len(solo)} and not all(
            name in solo or v.__class__ not in _NUMBERS for f in feats for name, v in f.items()
        ):
            return None  # a numeric value of a feature not watched yet (a new group)
        columns: dict[str, list[Any]] = {}
        try:
            for name in solo:
                values = columns[name] = [f[name] for f in feats]
                if not set(map(type, values)) <= _NUMBERS:
                    return None
        except KeyError:
            return None
        return scores, columns

    def _observe_columns(
        self,
        run: Sequence[tuple[int, InputPrediction, SourceLike]],
        scores: list[Any],
        columns: dict[str, list[Any]],
    ) -> list[tuple[int, DriftEvent]] | None:
        """:meth:`observe_predictions` of a regular run (:meth:`_columns`): each lone detector
        fed its whole column (:meth:`_feed_column`), the feature watch the run's rows
        (:meth:`~detectors.feature_watch.FeatureWatch.observe_rows`). Every firing is published
        in position order (the key's count and trail brought to the firing prediction first,
        as the per-prediction path has them), then the events are put in per-prediction order
        (score, features in the prediction's order, the feature watch)."""
        c0 = self.seen
        n = len(run)
        watchers = [(self.score[0], scores)]
        watchers.extend((self.features[name][0], values) for name, values in columns.items())
        # Each column's next firing: [position, fired value or watch firings], by column.
        heads: list[list[Any]] = [self._feed_column(w, values, 0, c0) for w, values in watchers]
        watch = self.feature_watch
        rows = [p.features for _, p, _ in run]
        if watch is not None:
            heads.append(list(watch.observe_rows(rows, 0)))
        names = ["", *columns]
        found: list[tuple[int, int, int, DriftEvent]] | None = None
        trail_at = c0
        while True:
            best = -1
            best_key = (n, 0)
            for k, head in enumerate(heads):
                j = head[0]
                if j < n:
                    key = (j, _rank(run[j][1], k, names))
                    if key < best_key:
                        best, best_key = k, key
            if best < 0:
                break
            j, payload = heads[best]
            c = c0 + j + 1
            trail_at = self._trail_to(run, c0, trail_at, c)
            self.seen = c
            _, prediction, source = run[j]
            if best < len(watchers):
                w, values = watchers[best]
                events = self._fired(w, c, payload, prediction, source, None)
                if w.due == c:
                    w.due = c + w.step
                heads[best] = self._feed_column(w, values, j + 1, c0)
            else:
                events = self._feature_events(payload, prediction, source, None)
                heads[best] = list(watch.observe_rows(rows, j + 1))  # type: ignore[union-attr]
            for m, event in enumerate(events or ()):
                found = found or []
                found.append((j, best_key[1], m, event))
        self._trail_to(run, c0, trail_at, c0 + n)
        self.seen = c0 + n
        self.next_due = _next_due(self._prediction_watchers())
        if found is None:
            return None
        found.sort(key=lambda item: item[:3])
        return [(run[j][0], event) for j, _, _, event in found]

    def _trail_to(self, run: Sequence[tuple[int, InputPrediction, SourceLike]], c0: int,
                  done: int, c: int) -> int:
        """Record the trail's samples among predictions ``done + 1 .. c`` of the run; ``c``."""
        first = (done // TRAIL_EVERY + 1) * TRAIL_EVERY
        for count in range(first, c + 1, TRAIL_EVERY):
            _, prediction, source = run[count - c0 - 1]
            self._prediction_trail().record(count, _epoch_ms(prediction.timestamp), source)
        return c

    def _prediction_trail(self) -> SampleTrail:
        """The prediction trail, made at its first sample."""
        trail = self.prediction_trail
        if trail is None:
            trail = self.prediction_trail = SampleTrail(TRAIL_EVERY, TRAIL_CAPACITY)
        return trail

    def _feed_column(self, w: Watcher, values: list[Any], start: int, c0: int) -> list[Any]:
        """Feed a lone prediction watcher's detector ``values[start:]`` (position ``j`` is the
        key's prediction ``c0 + j + 1``) up to its next firing: ``[position, value fed]``
        (``[len(values), None]`` when none). ADWIN's window total is read before each update at
        which it can cut (``due``); between those, ADWIN cannot cut, so the values go to its
        Rust window in one C-level pass (River's ``update`` minus its Python frame, as
        :meth:`observe_prediction` does one by one)."""
        d = w.detector
        clip = w.clip
        n = len(values)
        j = start
        adwin = d.__class__ is SlottedADWIN
        while j < n:
            c = c0 + j + 1
            due = w.due
            if adwin and c != due and not d._drift_detected:
                stop = min(n, due - c0 - 1) if due > c else n
                part = values[j:stop]
                fed = len(list(takewhile(not_, map(
                    d._helper.update, clip.clip_run(part) if clip is not None else part))))
                if fed < len(part):  # pragma: no cover - River's ADWIN cuts only at its clock
                    raise RuntimeError(f"ADWIN cut between its checks (sample {c + fed})")
                j = stop
                continue
            if c == due:
                w.read_total()
            x = values[j]
            if clip is not None:
                x = clip.clip(x)
            if adwin and not d._drift_detected:
                fired = d._helper.update(x)
                if fired:
                    d._drift_detected = True
            else:
                d.update(x)
                fired = d._drift_detected
            if fired:
                return [j, x]
            if c == due:
                w.due = c + w.step
            j += 1
        return [n, None]

    def observe_estimate(
        self, prediction: InputPrediction, source: SourceLike
    ) -> list[DriftEvent] | None:
        """Feed a prediction's score to CBPE (estimated performance); its events, or None."""
        watch = self.feature_watch
        score = prediction.score
        if watch is None or score is None:
            return None
        breached = watch.observe_estimate(score, prediction.prediction)
        if breached is None:
            return None
        return self._feature_events(breached, prediction, source, None)

    def _predict(
        self, prediction: InputPrediction, source: SourceLike, out: list[DriftEvent] | None
    ) -> list[DriftEvent] | None:
        """Feed the prediction's score and numeric features (and its features to the feature
        watch but CBPE); the published events, or None.

        Hot path: per detector update, River's ``update`` and a read of River's drift flag
        (without the property call; for a lone River ADWIN, the two lines of its ``update``,
        ``if drift_detected: reset`` and ``drift_detected = helper.update(x)``, inline: the
        same calls on River's own Rust window, without a Python frame; a feature's value is
        first clipped, :meth:`RunningClip.clip <detectors.running_clip.RunningClip.clip>`);
        nothing per watcher is counted or summed. The key counts
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
        c = self.seen + 1
        self.seen = c
        if not c & _TRAIL_MASK:
            self._prediction_trail().record(c, _epoch_ms(prediction.timestamp), source)
        due = self.next_due
        if c == due:
            self._read_totals(c)
        score = prediction.score
        if score is not None:
            d = self.score_solo
            if d is not None:
                if d.__class__ is SlottedADWIN and not d._drift_detected:
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
                    if _per_update(w):
                        w.estimator.observe(det, c - w.base - w.reset_at)  # type: ignore[union-attr]
                    if det._drift_detected:
                        out = self._fired(w, c, score, prediction, source, out)
        features = self.features
        solo = self.solo
        fed = 0
        for name, value in prediction.features.items():
            cls = value.__class__
            if cls is float or cls is int:
                fed += 1
                lone = solo.get(name)
                if lone is not None:
                    d, clip = lone
                    if clip is not None:
                        value = clip.clip(value)
                    if d.__class__ is SlottedADWIN and not d._drift_detected:
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
        watch = self.feature_watch
        if watch is not None:
            firings = watch.observe_features(prediction.features)
            if firings is not None:
                out = self._feature_events(firings, prediction, source, out)
        return out

    def _feature_events(
        self,
        fired: list[Any],
        prediction: InputPrediction,
        source: SourceLike,
        out: list[DriftEvent] | None,
    ) -> list[DriftEvent] | None:
        """Events of the feature watch's firings: its watchers, and CBPE's breached metrics."""
        when = prediction.timestamp
        for item in fired:
            event: DriftEvent | None
            if item.__class__ is str:
                event = self._estimated_event(item, when, source)
            else:
                event = self._fire(item, True, when, source)
            if event is not None:
                out = out or []
                out.append(event)
        return out

    def _estimated_event(self, metric: str, when: datetime, source: SourceLike) -> DriftEvent:
        """CBPE's estimate of ``metric`` crossed its threshold (a threshold event of its own)."""
        watch = self.feature_watch
        assert watch is not None and watch.cbpe is not None
        cbpe = watch.cbpe
        return self._event(
            kind="performance",
            severity="drift",
            signal="metric:estimated_" + metric,
            detector=cbpe.spec.label,
            when=when,
            samples=cbpe.filled,
            stats=cbpe.evidence_for(metric),
            source=source,
        )

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
            if len(group) == 1 and not _per_update(group[0]):
                self.solo[name] = (group[0].detector, group[0].clip)
        for w in group:
            det = w.detector
            x = value if w.clip is None else w.clip.clip(value)
            det.update(x)
            if _per_update(w):
                w.estimator.observe(det, c - w.base - w.reset_at)  # type: ignore[union-attr]
            if det._drift_detected:
                out = self._fired(w, c, x, prediction, source, out)
        return out

    def observe_label(
        self,
        predicted: Any,
        actual: Any,
        when: datetime,
        source: SourceLike,
        predicted_at: datetime | None = None,
        score: float | None = None,
    ) -> Sequence[DriftEvent] | str:
        """Feed a joined pair (label-arrival order); events, or a reason when it cannot be used.

        ``when`` is the label's event time, ``predicted_at`` the labelled prediction's (what a
        label-fed drift's ``change_point.at`` reports; ``when`` if not given). Every joined pair
        also goes to the key's performance alerts (:class:`~detectors.performance.
        PerformanceAlerts`: ``metric:*`` against the version's own baseline and thresholds).
        ``score``: the prediction's, for the estimated-performance calibration (CBPE).
        """
        out: list[DriftEvent] | None = None
        if self.feature_watch is not None:
            self.feature_watch.observe_label(score, predicted, actual)
        regression = is_regression(predicted, self.settings.task)
        if regression:
            residual = residual_value(predicted, actual)
            if residual is None:
                return f"regression needs numbers: prediction {predicted!r}, label {actual!r}"
            group = self.residuals
            if group is None:
                group = self.residuals = self._watchers("residual")
            value: float | int = residual
            window: Any = self.reg_window
            if window is None:
                window = self.reg_window = RegressionWindow(
                    self.config.setting(self.model_id, "metric_window")
                )
            window.update(residual)
        else:
            value = 0 if predicted == actual else 1
            group = self.errors
            if group is None:
                group = self.errors = self._watchers("error")
                self.recent_errors = RecentBits(RECENT_ERRORS)
            window = self.class_window
            if window is None:
                window = self.class_window = ClassificationWindow(
                    self.config.setting(self.model_id, "metric_window"),
                    self.config.setting(self.model_id, "positive_label"),
                )
            window.update(predicted, actual)
            bits = self.recent_errors
            if bits is not None:
                bits.append(value)
        count = self.labels + 1
        self.labels = count
        if not count & _TRAIL_MASK:
            trail = self.label_trail
            if trail is None:
                trail = self.label_trail = SampleTrail(TRAIL_EVERY, TRAIL_CAPACITY)
            trail.record(count, _epoch_ms(predicted_at or when), source)
        for w in group:
            det = w.detector
            det.update(value)
            w.n += 1
            w.total += value
            if regression and _per_update(w):  # a residual's estimator reads every update
                w.estimator.observe(det, w.n - w.reset_at)  # type: ignore[union-attr]
            # River's own flags, read without its property calls (as observe_prediction does).
            drift = det._drift_detected
            if drift or (w.plan.warns and det._warning_detected is not w.in_warning):
                event = self._fire(w, drift, when, source)
                if event is not None:
                    out = out or []
                    out.append(event)
        alerts = self.alerts
        if alerts is None:
            alerts = self.alerts = self._new_alerts()
        for signal, detector, severity, stats in alerts.observe(predicted, actual, window):
            out = out or []
            out.append(self._event(kind="performance", severity=severity, signal=signal,
                                   detector=detector, when=when, samples=window.size,
                                   stats=stats, source=source))
        return out or _NO_EVENTS

    def _new_alerts(self) -> PerformanceAlerts:
        baseline = self.config.setting(self.model_id, "performance_baseline")
        return PerformanceAlerts(
            baseline_metrics=tuple(baseline.metrics),
            baseline_samples=baseline.baseline_samples,
            z=baseline.z,
            min_positives=baseline.min_positives,
            thresholds={name: self.metric_thresholds[name] for name in _METRIC_ORDER
                        if name in self.metric_thresholds},
            cooldown=self.cooldown,
            window=self.config.setting(self.model_id, "metric_window"),
            positive=self.config.setting(self.model_id, "positive_label"),
        )

    def alerts_suppressed(self) -> int:
        """Performance alerts suppressed by their cooldown."""
        return 0 if self.alerts is None else self.alerts.suppressed_cooldown
