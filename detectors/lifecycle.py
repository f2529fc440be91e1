"""Alert lifecycle of one (key, detector): warm-up, warning vs drift, cooldown, re-arm.

A :class:`Watcher` owns one detector watching one signal of one key
(model_id, model_version, segment): a River detector built from its spec (an ADWIN in
:class:`~detectors.river_detectors.SlottedADWIN`, River's own window), or any
:class:`~detectors.streaming.StreamingDetector` (the windowed feature detectors of
:mod:`detectors.feature_signals`) handed to it. For a River detector the caller feeds the
detector (``watcher.detector.update``), counts the sample (``watcher.n += 1``) and adds it to
the running sum (``watcher.total += x``) on its hot path; a streaming detector is fed through
:meth:`Watcher.feed`, which counts it. Only when the detector reports something does the caller
call :meth:`Watcher.on_drift` or :meth:`Watcher.on_warning_change`, which decide whether the
firing is *published*. The detector itself is never skipped or reset by Driftline, so firing
positions are exactly the detector's. The rules below are the same for both; a streaming
detector's evidence is its own :meth:`~detectors.streaming.StreamingDetector.evidence`, and
``samples_seen`` counts the watcher's samples since the previous firing (streaming detectors
reset their own ``n`` when they fire).

Rules (``n`` is the 1-based count of samples this watcher has fed its detector):

* warm-up: firings at ``n <= warmup`` are suppressed (``suppressed_warmup``);
* a drift at ``n`` is published unless ``n <= quiet_until``; publishing sets
  ``quiet_until = n + cooldown``, so one drift episode (River re-fires after its own reset)
  publishes one event. Suppressed firings are counted (``suppressed_cooldown``); once the
  cooldown has passed the watcher is re-armed;
* an ADWIN with a ``direction`` (``up`` or ``down``, see
  :class:`~detectors.river_detectors.ADWINSpec`) publishes a drift only when the kept window's
  mean moved that way from the dropped part's; a cut the other way is a reset that publishes
  nothing and starts no cooldown (counted, ``suppressed_direction``);
* a warning is published on the *rising edge* of River's ``warning_detected`` unless
  ``n <= warn_quiet_until``; a published warning or drift silences warnings for ``cooldown``.

``total`` is the sum of the values fed since River last reset the detector: River resets every
detector on the update after a drift, so :meth:`Watcher.on_drift` moves it to ``fired_total``
and starts again from zero. ADWIN's evidence uses it to recover the mean of the part its cut
dropped (see :func:`detectors.river_detectors.evidence`).

A feature's River ADWIN reads each value clipped at its running mean ± 6 sd (``clip``, a
:class:`~detectors.running_clip.RunningClip`; None for every other watcher): the caller feeds
``watcher.clip.clip(x)`` instead of ``x`` (and sums that into ``total``), :meth:`Watcher.on_drift`
restarts the clip with the detector, and :meth:`Watcher.evidence` reports the real means of both
sides of the cut.

>>> import random
>>> from detectors.river_detectors import DDMSpec
>>> rng = random.Random(7)
>>> stream = [rng.random() < 0.1 for _ in range(1000)] + [rng.random() < 0.5 for _ in range(500)]
>>> w = Watcher(DDMSpec(warm_start=30), signal="error", warmup=100, cooldown=300)
>>> published = []
>>> for x in stream:
...     w.detector.update(x)
...     w.n += 1
...     w.total += x
...     if w.detector.drift_detected:
...         if w.on_drift():
...             published.append(("drift", w.n))
...     elif w.detector.warning_detected is not w.in_warning:
...         if w.on_warning_change():
...             published.append(("warning", w.n))
>>> published
[('warning', 433), ('warning', 1037), ('drift', 1084)]
>>> w.suppressed_warmup, w.suppressed_cooldown
(0, 7)

A streaming detector, with a drift kind of its own:

>>> from detectors.data_quality import MissingRateDetector, MissingRateSpec
>>> spec = MissingRateSpec()
>>> w = Watcher(spec, signal="feature:amount", warmup=100, cooldown=1000,
...             detector=MissingRateDetector(spec), kind="quality")
>>> values = [1.0] * 2000 + [None if i % 5 == 0 else 1.0 for i in range(500)]
>>> [(w.n, w.fired_samples) for x in values if w.feed(x) and w.on_drift()]
[(2066, 2066)]
>>> w.kind, w.label, w.evidence()["window_count"]
('quality', 'missing_rate', 14)

An ADWIN publishing rises only: the error rate falls 30% -> 5% at 2,000 (a cut, not published)
and rises to 40% at 4,000 (published):

>>> from detectors.river_detectors import ADWINSpec
>>> rng = random.Random(3)
>>> stream = ([rng.random() < 0.3 for _ in range(2000)] + [rng.random() < 0.05 for _ in range(2000)]
...           + [rng.random() < 0.4 for _ in range(1000)])
>>> w = Watcher(ADWINSpec(delta=0.0002, direction="up"), signal="error", warmup=100, cooldown=1000)
>>> published = []
>>> for x in stream:
...     w.detector.update(x)
...     w.n += 1
...     w.total += x
...     if w.detector.drift_detected and w.on_drift():
...         published.append(w.n)
>>> published, w.suppressed_direction
([4064], 1)
"""

from __future__ import annotations

from typing import Any
from weakref import WeakValueDictionary

from river.drift import ADWIN

from detectors.change_point import ChangePointEstimator, known_estimator, shared_estimator
from detectors.river_detectors import SlottedADWIN, build, evidence, has_warning
from detectors.running_clip import RunningClip, clip_for
from detectors.streaming import StreamingDetector

__all__ = ["Watcher", "WatcherPlan", "plan_for", "signal_kind"]


def signal_kind(signal: str) -> str:
    """The drift ``kind`` of a signal (SPEC §3)."""
    if signal in ("error", "residual"):
        return "concept"
    if signal == "score":
        return "prediction"
    if signal.startswith("metric:"):
        return "performance"
    return "data"


class WatcherPlan:
    """What a watcher is, as opposed to where it is: its spec and the settings read from it,
    the same for every key whose watcher was made from the same spec object with the same
    settings (one object shared by all of them, :func:`plan_for`; never written after it is
    made)."""

    __slots__ = ("__weakref__", "cooldown", "direction", "kind", "label", "signal", "spec",
                 "step", "streaming", "warmup", "warns")

    def __init__(self, spec: Any, signal: str, warmup: int, cooldown: int, kind: str,
                 streaming: bool) -> None:
        self.spec = spec
        self.signal = signal
        self.kind = kind
        self.label: str = spec.label
        self.warns = has_warning(spec)
        self.warmup = warmup
        self.cooldown = cooldown
        self.direction: str = getattr(spec, "direction", "both")
        self.step = _check_step(spec)
        self.streaming = streaming


#: The plans in use, by the identity of their spec object and their settings: the keys of one
#: configuration share them, and so do the keys restored from one snapshot (whose specs are
#: one set of objects); a plan no watcher uses any more is dropped. By identity, not equality,
#: so a watcher's spec is the very object its snapshot and its detector were made with.
_PLANS: WeakValueDictionary[tuple[Any, ...], WatcherPlan] = WeakValueDictionary()


def plan_for(spec: Any, signal: str, warmup: int, cooldown: int, kind: str | None = None,
             streaming: bool = False) -> WatcherPlan:
    """The shared :class:`WatcherPlan` of these settings (``kind`` None: the signal's)."""
    kind = signal_kind(signal) if kind is None else kind
    key = (id(spec), signal, warmup, cooldown, kind, streaming)
    plan = _PLANS.get(key)
    if plan is None:
        plan = _PLANS[key] = WatcherPlan(spec, signal, warmup, cooldown, kind, streaming)
    return plan


def _plan_field(name: str) -> Any:
    def read(self: Watcher) -> Any:
        return getattr(self.plan, name)

    read.__name__ = name
    read.__doc__ = f"The plan's ``{name}`` (:class:`WatcherPlan`)."
    return property(read)


class Watcher:
    """One River detector on one signal of one key, with its alert lifecycle.

    What the watcher is (spec, signal, kind, label, warm-up, cooldown, ...) is its
    :class:`WatcherPlan`, shared by every key watching that signal that way, and read through
    attributes of the same names; the slots below are the key's own. A snapshot holds every
    field by name, as it always did (:data:`_STATE`)."""

    __slots__ = (
        "base",
        "clip",
        "detector",
        "due",
        "estimator",
        "fired_samples",
        "fired_total",
        "in_warning",
        "n",
        "plan",
        "quiet_until",
        "reset_at",
        "severity",
        "suppressed",
        "total",
        "warn_quiet_until",
    )

    cooldown = _plan_field("cooldown")
    direction = _plan_field("direction")
    kind = _plan_field("kind")
    label = _plan_field("label")
    signal = _plan_field("signal")
    spec = _plan_field("spec")
    step = _plan_field("step")
    streaming = _plan_field("streaming")
    warmup = _plan_field("warmup")
    warns = _plan_field("warns")

    def __init__(
        self,
        spec: Any,
        *,
        signal: str,
        warmup: int,
        cooldown: int,
        detector: StreamingDetector | None = None,
        kind: str | None = None,
    ) -> None:
        """``detector``: a streaming detector built for ``spec`` (None: River's, built here);
        ``kind``: the drift kind of its events (None: :func:`signal_kind` of ``signal``)."""
        streaming = detector is not None
        self.plan = plan_for(spec, signal, warmup, cooldown, kind, streaming)
        self.detector: Any = build(spec) if detector is None else detector
        self.n = 0
        self.reset_at = 0
        self.fired_samples = 0
        self.total = 0.0
        self.fired_total = 0.0
        self.quiet_until = warmup
        self.warn_quiet_until = warmup
        self.in_warning = False
        self.severity = "drift"
        #: Firings suppressed by warm-up, cooldown and direction: None (none yet, the common
        #: case: no list per watcher), then ``[warmup, cooldown, direction]``.
        self.suppressed: list[int] | None = None
        #: Where the new regime began, read from the detector's own state (None: no estimator
        #: for this detector); see :mod:`detectors.change_point`.
        self.estimator: ChangePointEstimator | None = known_estimator(self.detector)
        self.base = 0
        self.due = -1
        #: What the caller feeds the detector instead of a value (``clip.clip(x)``): None, or
        #: for a feature's ADWIN the value within its running mean ± 6 sd
        #: (:mod:`detectors.running_clip`); restarted when the detector fires.
        self.clip: RunningClip | None = None if streaming else clip_for(signal, spec)

    def __getstate__(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _STATE}  # the suppressed counts by name

    def __setstate__(self, state: dict[str, Any]) -> None:
        streaming = state.pop("streaming", False)  # False: from before streaming detectors
        self.plan = plan_for(state.pop("spec"), state.pop("signal"), state.pop("warmup"),
                             state.pop("cooldown"), state.pop("kind"), streaming)
        for name in _DERIVED:
            state.pop(name, None)
        counts = [state.pop("suppressed_warmup", 0), state.pop("suppressed_cooldown", 0),
                  state.pop("suppressed_direction", 0)]  # none: from before ADWIN's direction
        self.suppressed = counts if any(counts) else None
        detector = state.get("detector")
        if detector.__class__ is ADWIN:  # River's (pickled so): the same window, two slots
            state["detector"] = SlottedADWIN.adopt(detector)
        for name, value in state.items():
            setattr(self, name, value)
        if "total" not in state:  # a snapshot from before the running sum existed
            self.fired_total = 0.0
            self.total = _window_total(self.detector)
        if "estimator" not in state:  # a snapshot from before change points
            self.estimator = known_estimator(self.detector)
        else:
            self.estimator = shared_estimator(self.estimator)
        if "base" not in state:  # a snapshot from before shared counts (see KeyMonitor)
            self.base = 0
            self.due = -1
        if "clip" not in state:  # a snapshot from before clipping: a fresh clip
            self.clip = None if streaming else clip_for(self.signal, self.spec)

    def feed(self, value: Any) -> bool:
        """Feed a streaming detector one sample and count it; True when it fires."""
        self.n += 1
        return bool(self.detector.update(value))

    def count_to(self, n: int) -> None:
        """Set :attr:`n`, for a caller that feeds a group of streaming detectors together and
        counts the group once (it calls this before :meth:`on_drift` and before reading ``n``)."""
        self.n = n

    def key_counted(self, count: int) -> None:
        """Switch to the key's shared count: ``count`` events seen so far, ``n`` of them fed.

        Sets :attr:`base` (``n == count - base``) and :attr:`due`, the key count of the next
        update at which River's ADWIN can test for a cut (every ``clock`` samples since its
        reset, the only updates at which it can fire); the caller reads ADWIN's window total
        into :attr:`total` just before that update (and adds the value if it fires), which is
        then exactly the running sum, so nothing is summed per update.
        """
        self.base = count - self.n
        step = self.step
        if step:
            s = self.n - self.reset_at
            self.due = self.base + self.reset_at + (s // step + 1) * step
            self.read_total()
        else:
            self.due = -1

    def read_total(self) -> None:
        """:attr:`total` from ADWIN's window, before an update (see :meth:`key_counted`)."""
        self.total = _window_total(self.detector)

    def on_drift(self) -> bool:
        """River reported a drift at sample ``n``: publish it? Sets :attr:`severity`."""
        n = self.n
        self.severity = "drift"
        self.fired_samples = n - self.reset_at
        self.reset_at = n  # River resets the detector on its next update
        self.fired_total = self.total
        self.total = 0.0
        if self.clip is not None:  # ADWIN kept its last ``width`` values at its cut
            self.clip.restart(kept=int(self.detector.width))
        if self.warns:
            self.in_warning = bool(getattr(self.detector, "warning_detected", False))
        if self.direction != "both" and not self._moved_as_wanted():
            self._count_suppressed(2)
            return False
        if n <= self.quiet_until:
            self._suppress(n)
            return False
        self.quiet_until = n + self.cooldown
        self.warn_quiet_until = n + self.cooldown
        return True

    def _moved_as_wanted(self) -> bool:
        """ADWIN's kept window mean moved in :attr:`direction` from the part its cut dropped
        (True when the dropped part is unknown: nothing is withheld on a guess)."""
        stats = evidence(self.spec, self.detector, samples=self.fired_samples,
                         total=self.fired_total)
        before, after = stats["mean_before"], stats["mean_after"]
        if before is None or after is None:
            return True
        return after > before if self.direction == "up" else after < before

    def on_warning_change(self) -> bool:
        """River's warning flag changed at sample ``n``: publish a warning (rising edge)?"""
        now = bool(getattr(self.detector, "warning_detected", False))
        self.in_warning = now
        if not now:
            return False
        self.severity = "warning"
        n = self.n
        self.fired_samples = n - self.reset_at
        if n <= self.warn_quiet_until:
            self._suppress(n)
            return False
        self.warn_quiet_until = n + self.cooldown
        return True

    def _suppress(self, n: int) -> None:
        self._count_suppressed(0 if n <= self.warmup else 1)

    def _count_suppressed(self, reason: int) -> None:
        """One more firing suppressed by warm-up (0), cooldown (1) or direction (2)."""
        counts = self.suppressed
        if counts is None:
            counts = self.suppressed = [0, 0, 0]
        counts[reason] += 1

    @property
    def suppressed_warmup(self) -> int:
        """Firings suppressed by the warm-up."""
        return self.suppressed[0] if self.suppressed is not None else 0

    @property
    def suppressed_cooldown(self) -> int:
        """Firings suppressed by the cooldown."""
        return self.suppressed[1] if self.suppressed is not None else 0

    @property
    def suppressed_direction(self) -> int:
        """ADWIN cuts the other way than its ``direction`` (not published)."""
        return self.suppressed[2] if self.suppressed is not None else 0

    def evidence(self) -> dict[str, Any]:
        """The detector's evidence for the current firing."""
        if self.streaming:
            return dict(self.detector.evidence())
        if self.severity == "drift":
            stats = evidence(
                self.spec, self.detector, samples=self.fired_samples, total=self.fired_total
            )
            if self.clip is not None:
                return self.clip.evidence(int(self.detector.width), self.fired_samples, stats)
            return stats
        return evidence(self.spec, self.detector)


#: A snapshot's fields of a watcher, by name (the plan's and the key's own, as before plans).
_STATE = ("base", "clip", "cooldown", "detector", "direction", "due", "estimator",
          "fired_samples", "fired_total", "in_warning", "kind", "label", "n", "quiet_until",
          "reset_at", "severity", "signal", "spec", "step", "streaming", "suppressed_cooldown",
          "suppressed_direction", "suppressed_warmup", "total", "warmup", "warn_quiet_until",
          "warns")
#: Fields of a snapshot the plan derives from its spec (ignored on restore).
_DERIVED = ("direction", "label", "step", "warns")


def _check_step(spec: Any) -> int:
    """How often River's ADWIN tests for a cut (its ``clock``); 0 for other detectors."""
    return int(spec.clock) if spec.type == "adwin" else 0


def _window_total(detector: Any) -> float:
    """Sum since River's last reset, recovered from a restored detector.

    ADWIN's window only shrinks at a drift, after which River resets it, so between drifts its
    ``total`` is exactly that sum; other detectors' evidence does not use it.
    """
    if getattr(detector, "_drift_detected", False):
        return 0.0
    return float(getattr(detector, "total", 0.0))
