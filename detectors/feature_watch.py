"""Every feature of one key under the windowed detectors of its kind, plus the joint and CBPE signals.

A :class:`FeatureWatch` is what a :class:`~detectors.monitor.KeyMonitor` feeds each prediction
(and, for CBPE, each joined label) beside its River detectors (SPEC §4, "every feature is
watched"). Its detectors are those :class:`~detectors.feature_signals.FeatureSignalsConfig`
lists, each behind a :class:`~detectors.lifecycle.Watcher` (the same warm-up, cooldown and
counting rules as River's).

Contract, per prediction (:meth:`FeatureWatch.observe`):

* a feature becomes known at its first non-null value of a known kind
  (:func:`~detectors.feature_signals.feature_kind`: numeric, boolean, categorical), which picks
  its detectors for good;
* every known feature feeds its value (``None`` when the event lacks it) to its *quality*
  watchers (``missing_rate``, ``type_change``: drift kind ``quality``), and a value of its own
  kind to the others (``shape_drift``, ``category_drift``, ``new_category``: kind ``data``), all
  on the signal ``feature:<name>``;
* the ``joint`` signal (kind ``data``) reads the whole feature mapping once per prediction; it
  is made at the first prediction with two or more numeric features;
* ``cbpe`` reads ``(score, bool(prediction))`` of a scored prediction whose prediction is a
  boolean or the integer 0/1 (a binary classifier), and each joined label of one
  (:meth:`FeatureWatch.observe_label`); its firings are threshold events on
  ``metric:estimated_<metric>`` (kind ``performance``), edge-triggered by its own thresholds.

Values no detector can fire on are fed in runs (exactly as one ``update`` each): a feature's
present values of the quality detectors' ``quiet_classes`` are counted and fed with
``feed_quiet``; its values within the value detectors' ``quiet_for`` are listed and fed with
``feed_run``. A run is fed before the next value that can fire, before the watchers are read
(:meth:`FeatureWatch.watchers`) and before the watch is pickled, so firings, counts and
snapshots are those of the per-update path (``tests/detectors/test_feature_runs.py``).

:meth:`FeatureWatch.observe` returns ``None`` when nothing fired (the common case: no
allocation), else the fired watchers (the monitor decides publication with
:meth:`~detectors.lifecycle.Watcher.on_drift` and builds the events) and, for CBPE, the names
of the estimated metrics that crossed their thresholds.

The configuration is not part of a snapshot: :meth:`FeatureWatch.attach` binds it again after
a restore (as :class:`~detectors.monitor.KeyMonitor` does with its own).

>>> from detectors.feature_signals import FeatureSignalsConfig
>>> watch = FeatureWatch(FeatureSignalsConfig(), warmup=100, cooldown=1000)
>>> fired = []
>>> for i in range(3000):
...     country = "DE" if i < 2000 else "US"
...     for item in watch.observe({"country": country, "amount": 1.0 * (i % 7)}, None, True) or ():
...         fired.append((i, item.signal, item.label, item.kind, item.on_drift()))
>>> fired
[(2013, 'feature:country', 'new_category', 'data', True), (2048, 'feature:country', 'category_drift', 'data', True)]
>>> [spec.label for spec in watch.features["amount"].specs()]
['shape_drift', 'missing_rate', 'type_change']
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from detectors.estimated_performance import EstimatedPerformance
from detectors.feature_signals import FeatureKind, FeatureSignalsConfig, build, feature_kind
from detectors.lifecycle import Watcher

__all__ = ["QUALITY_DETECTORS", "FeatureWatch", "WatchedFeature"]

#: Detector types whose firings are data-quality events (drift kind ``quality``).
QUALITY_DETECTORS = frozenset({"missing_rate", "type_change"})

#: The value classes each kind's value detectors read (``bool`` is not numeric).
_CLASSES: dict[str, tuple[type, ...]] = {
    "numeric": (float, int),
    "boolean": (bool,),
    "categorical": (str,),
}


class WatchedFeature:
    """One feature of one key: its kind and its watchers.

    The watchers of a group (``quality``, ``values``) are fed together, so the group is counted
    once per sample (``quality_seen``, ``values_seen``) and a watcher's own count is set from it
    when it fires or is read (:meth:`~detectors.lifecycle.Watcher.count_to`): one Python call
    less per detector update on the hot path."""

    #: What a snapshot holds (the quiet run is fed to the detectors first, so a snapshot is
    #: the same bytes as if every value had been fed one by one).
    _STATE = ("classes", "kind", "quality", "quality_seen", "values", "values_seen")

    __slots__ = (*_STATE, "budget", "quiet", "quiet_classes", "run")

    def __init__(self, kind: FeatureKind, quality: tuple[Watcher, ...],
                 values: tuple[Watcher, ...]) -> None:
        self.kind = kind
        self.classes = _CLASSES[kind]
        #: Fed every prediction (the value, or None when absent): (watcher, its detector).
        self.quality = tuple((w, w.detector) for w in quality)
        #: Fed values of the feature's own kind only.
        self.values = tuple((w, w.detector) for w in values)
        self.quality_seen = 0
        self.values_seen = 0
        self._no_run()

    def _no_run(self) -> None:
        #: Present values of ``quiet_classes`` counted but not yet fed to the quality detectors.
        self.quiet = 0
        #: Classes whose (non-NaN) values no quality detector can fire on now: every quality
        #: detector's ``quiet_classes`` (none until they are all known).
        self.quiet_classes: tuple[type, ...] = ()
        #: Values of the feature's kind not yet fed to the value detectors.
        self.run: list[Any] = []
        #: How many more values may join ``run``: no value detector can fire on them.
        self.budget = 0

    def plan_run(self) -> int:
        """The next values none of the value detectors can fire on (each detector's
        ``quiet_for``; 0 when one has none)."""
        budget: int | None = None
        for _, d in self.values:
            quiet = d.quiet_for() if hasattr(d, "quiet_for") else 0
            if budget is None or quiet < budget:
                budget = quiet
        return budget or 0

    def settle(self) -> None:
        """Recompute ``quiet_classes`` after values were fed one by one (a detector may have
        learnt its reference or restarted)."""
        common: tuple[type, ...] | None = None
        for _, d in self.quality:
            own = d.quiet_classes() if hasattr(d, "quiet_classes") else ()
            common = own if common is None else tuple(c for c in common if c in own)
        self.quiet_classes = common or ()

    def flush(self) -> None:
        """Feed both runs to the detectors (the same as one update per value)."""
        self.flush_quiet()
        self.flush_values()

    def flush_quiet(self) -> None:
        """Feed the ``quiet`` run to the quality detectors (the same as one update per value)."""
        k = self.quiet
        if k:
            self.quiet = 0
            for _, d in self.quality:
                d.feed_quiet(k)

    def flush_values(self) -> None:
        """Feed ``run`` to the value detectors (the same as one update per value)."""
        run = self.run
        if run:
            self.run = []
            self.budget = 0
            for _, d in self.values:
                d.feed_run(run)

    def __getstate__(self) -> tuple[None, dict[str, Any]]:
        self.flush()
        return None, {name: getattr(self, name) for name in self._STATE}

    def __setstate__(self, state: tuple[None, dict[str, Any]]) -> None:
        for name, value in state[1].items():
            setattr(self, name, value)
        self._no_run()

    def watchers(self) -> tuple[Watcher, ...]:
        """Every watcher of the feature, its count brought up to date."""
        self.flush()
        for w, _ in self.values:
            w.count_to(self.values_seen)
        for w, _ in self.quality:
            w.count_to(self.quality_seen)
        return tuple(w for w, _ in self.values + self.quality)

    def specs(self) -> list[Any]:
        return [w.spec for w in self.watchers()]


def _binary(predicted: Any) -> bool:
    cls = predicted.__class__
    return cls is bool or (cls is int and (predicted == 0 or predicted == 1))


class FeatureWatch:
    """The windowed feature, joint and CBPE detectors of one key."""

    __slots__ = ("cbpe", "cooldown", "features", "joint", "joint_checked", "signals", "warmup")

    def __init__(self, signals: FeatureSignalsConfig, *, warmup: int, cooldown: int) -> None:
        self.features: dict[str, WatchedFeature] = {}
        self.joint: Watcher | None = None
        self.joint_checked = False
        self.cbpe: EstimatedPerformance | None = None
        self.attach(signals, warmup=warmup, cooldown=cooldown)

    def attach(self, signals: FeatureSignalsConfig, *, warmup: int, cooldown: int) -> None:
        """(Re)bind the configuration (after construction or a restore); watchers keep theirs."""
        self.signals = signals
        self.warmup = warmup
        self.cooldown = cooldown

    def __getstate__(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__ if name != "signals"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            setattr(self, name, value)

    # -- construction of a feature's watchers ----------------------------------------------------

    def _watcher(self, spec: Any, signal: str) -> Watcher:
        kind = "quality" if spec.type in QUALITY_DETECTORS else "data"
        return Watcher(spec, signal=signal, warmup=self.warmup, cooldown=self.cooldown,
                       detector=build(spec), kind=kind)

    def _learn(self, name: str, value: Any) -> WatchedFeature | None:
        """A feature's first value of a known kind: its watchers (None for a null/other)."""
        kind = feature_kind(value)
        if kind is None:
            return None
        signal = "feature:" + name
        quality: list[Watcher] = []
        values: list[Watcher] = []
        for spec in self.signals.for_kind(kind):
            (quality if spec.type in QUALITY_DETECTORS else values).append(
                self._watcher(spec, signal))
        entry = self.features[name] = WatchedFeature(kind, tuple(quality), tuple(values))
        return entry

    def _start_joint(self, features: Mapping[str, Any]) -> None:
        spec = self.signals.joint
        if spec is None:
            self.joint_checked = True
            return
        numeric = sum(1 for v in features.values() if v.__class__ is float or v.__class__ is int)
        if numeric >= 2:
            self.joint = self._watcher(spec, "joint")
            self.joint_checked = True

    # -- the hot path ----------------------------------------------------------------------------

    def observe(self, features: Mapping[str, Any], score: float | None,
                predicted: Any) -> list[Any] | None:
        """Feed one prediction; the fired watchers and breached CBPE metrics, or None."""
        out: list[Any] | None = self.observe_features(features)
        if score is not None:
            breached = self.observe_estimate(score, predicted)
            if breached:
                out = out or []
                out.extend(breached)
        return out

    def observe_features(self, features: Mapping[str, Any]) -> list[Watcher] | None:
        """Feed one prediction's features to the feature and joint watchers (not CBPE, which
        reads labels: :meth:`observe_estimate`); the fired watchers, or None."""
        out: list[Any] | None = None
        known = self.features
        matched = 0
        for name, value in features.items():
            entry = known.get(name)
            if entry is None:
                entry = self._learn(name, value)
                if entry is None:
                    continue
            matched += 1
            seen = entry.quality_seen = entry.quality_seen + 1
            cls = value.__class__
            if cls in entry.quiet_classes and (cls is not float or value == value):
                entry.quiet += 1  # no quality detector can fire on it: fed with its run
            else:
                if entry.quiet:
                    entry.flush_quiet()
                for w, d in entry.quality:
                    if d.update(value):
                        w.count_to(seen)
                        out = out or []
                        out.append(w)
                entry.settle()
            if cls in entry.classes:
                seen = entry.values_seen = entry.values_seen + 1
                if entry.budget:
                    entry.budget -= 1
                    entry.run.append(value)  # no value detector can fire on it: fed with its run
                    continue
                entry.flush_values()
                budget = entry.plan_run()
                if budget:
                    entry.budget = budget - 1
                    entry.run.append(value)
                    continue
                for w, d in entry.values:
                    if d.update(value):
                        w.count_to(seen)
                        out = out or []
                        out.append(w)
        if matched < len(known):
            for name, entry in known.items():
                if name not in features:
                    seen = entry.quality_seen = entry.quality_seen + 1
                    if entry.quiet:
                        entry.flush_quiet()
                    for w, d in entry.quality:
                        if d.update(None):
                            w.count_to(seen)
                            out = out or []
                            out.append(w)
                    entry.settle()
        joint = self.joint
        if joint is None and not self.joint_checked:
            self._start_joint(features)
            joint = self.joint
        if joint is not None and joint.feed(features):
            out = out or []
            out.append(joint)
        return out

    def observe_rows(self, rows: Sequence[Mapping[str, Any]],
                     start: int) -> tuple[int, list[Watcher] | None]:
        """:meth:`observe_features` of ``rows[start:]`` in order, up to the first row on which
        something fired: ``(its position, the fired watchers)``, or ``(len(rows), None)``.

        Stretches of rows that only join the features' runs (each row has exactly the known
        features, every value of a class the feature's quality detectors are quiet on and of
        its own kind, within its value detectors' ``budget``) are counted and listed per
        feature in one pass (:meth:`_quiet_stretch`); the joint signal reads each row. Any other
        row goes through :meth:`observe_features`. Same counts, runs and firings."""
        n = len(rows)
        j = start
        while j < n:
            stretch = self._quiet_stretch(rows, j, n)
            if stretch is None:
                one = self.observe_features(rows[j])
                if one is not None:
                    return j, one
                j += 1
                continue
            end, columns = stretch
            joint = self.joint
            fired: list[Watcher] | None = None
            if joint is not None:
                feed = joint.feed
                for k in range(j, end):
                    if feed(rows[k]):
                        fired = [joint]
                        end = k + 1
                        break
            count = end - j
            known = self.features
            for name, values in columns:
                entry = known[name]
                entry.quality_seen += count
                entry.quiet += count
                entry.values_seen += count
                entry.budget -= count
                entry.run.extend(values[:count])
            if fired is not None:
                return end - 1, fired
            j = end
        return n, None

    def _quiet_stretch(self, rows: Sequence[Mapping[str, Any]], j: int,
                       n: int) -> tuple[int, list[tuple[str, list[Any]]]] | None:
        """The end of the stretch from row ``j`` in which every value only joins its
        feature's runs, and each feature's values there; None when row ``j`` does not."""
        known = self.features
        if not self.joint_checked or not known:
            return None
        end = n
        for entry in known.values():
            if entry.budget < end - j:
                end = j + entry.budget
        if end <= j:
            return None
        window = rows[j:end]
        if set(map(len, window)) != {len(known)}:
            return None
        columns = []
        try:
            for name, entry in known.items():
                values = [row[name] for row in window]
                classes = set(map(type, values))
                quiet = entry.quiet_classes
                if not all(c in quiet and c in entry.classes for c in classes):
                    return None
                if float in classes:
                    total = sum(values)
                    if total != total:  # a NaN (or infinities): fed one by one
                        return None
                columns.append((name, values))
        except (KeyError, OverflowError):
            return None
        return end, columns

    def observe_estimate(self, score: float, predicted: Any) -> list[str] | None:
        """Feed a scored prediction to CBPE (made at the first binary one); the estimated
        metrics that crossed their thresholds, or None. Its calibration reads the joined labels
        (:meth:`observe_label`), so a key's predictions and labels reach it in arrival order."""
        cbpe = self.cbpe
        if cbpe is None:
            spec = self.signals.cbpe
            if spec is None or not _binary(predicted):
                return None
            cbpe = self.cbpe = EstimatedPerformance(spec)
        if (predicted.__class__ is bool or _binary(predicted)) and cbpe.update(
            score, bool(predicted)
        ):
            return list(cbpe.breached)
        return None

    def observe_label(self, score: float | None, predicted: Any, actual: Any) -> None:
        """A joined label: refreshes CBPE's calibration (binary, scored predictions only)."""
        cbpe = self.cbpe
        if cbpe is not None and score is not None and (
            predicted.__class__ is bool or _binary(predicted)
        ) and (actual.__class__ is bool or _binary(actual)):
            cbpe.observe_label(score, bool(predicted), bool(actual))

    # -- read-only views -------------------------------------------------------------------------

    def watchers(self) -> Iterator[Watcher]:
        """Every watcher (features, then joint)."""
        for entry in self.features.values():
            yield from entry.watchers()
        if self.joint is not None:
            yield self.joint

    def change_lag(self, w: Watcher) -> int | None:
        """How many predictions before the current one ``w``'s last firing dates the change.

        The detector's own ``change_lag`` counts its samples (the CUSUM estimate over its
        window); a feature fed by every prediction counts predictions, the joint signal one in
        ``sample_every``."""
        lag: int | None = w.detector.change_lag
        if lag is None:
            return None
        if w is self.joint:
            lag *= self.joint.spec.sample_every
        return lag

    def estimated_metrics(self) -> dict[str, float]:
        """CBPE's current estimates ({} before its window first fills)."""
        return dict(self.cbpe.estimates) if self.cbpe is not None else {}

    def estimated_gap(self) -> dict[str, float]:
        """CBPE's estimated minus realized metrics on the last labelled predictions."""
        return self.cbpe.gap() if self.cbpe is not None else {}
