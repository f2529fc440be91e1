"""River's drift detectors as configuration: one spec per detector, a factory and its evidence.

Driftline does not reimplement any detector. Each spec below names a River class and its
parameters (same names, same meaning as River's), :func:`build` instantiates it, and
:func:`evidence` reads the detector's own state after a firing, for the ``stats`` of a drift event.
Because the detector *is* River's, detection positions equal a plain River loop over the same
sequence of values. (An ADWIN is River's own Rust window in :class:`SlottedADWIN`, a two-slot
object instead of River's ``ADWIN`` with its per-instance ``__dict__``: the same window, the same
calls, less memory per key.)

Binary detectors (``ddm``, ``eddm``, ``hddm_a``) read a stream of 0/1 values (the ``error``
signal); the others read any number.

>>> spec = PageHinkleySpec(threshold=20.0)
>>> detector = build(spec)
>>> type(detector).__name__, detector.threshold
('PageHinkley', 20.0)
>>> for x in [0.0] * 40 + [5.0] * 10:
...     detector.update(x)
...     if detector.drift_detected:
...         break
>>> sorted(evidence(spec, detector))
['mean', 'statistic', 'threshold']

ADWIN's evidence is the window width and the means before and after its cut. River drops the
cut-off buckets at the detection, so the caller passes what it fed the detector since River last
reset it (``samples`` and their ``total``, one float add per update) and the part that was
dropped is derived: ``mean_before = (total - mean_after * width) / (samples - width)``. River
cuts at bucket granularity, so the kept window (``mean_after``) can still hold samples from
before the change:

>>> import random
>>> rng = random.Random(3)
>>> spec = ADWINSpec()
>>> detector = build(spec)
>>> samples, total = 0, 0.0
>>> for x in [rng.gauss(0.1, 0.1) for _ in range(1000)] + [rng.gauss(0.9, 0.1) for _ in range(200)]:
...     detector.update(x)
...     samples, total = samples + 1, total + x
...     if detector.drift_detected:
...         break
>>> stats = evidence(spec, detector, samples=samples, total=total)
>>> {k: round(v, 3) for k, v in stats.items() if k not in ("variance", "delta")}
{'width': 80, 'mean_after': 0.352, 'width_before': 1024, 'mean_before': 0.096}
"""

from __future__ import annotations

import copyreg
import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from river import drift
from river._river_rust.drift import AdaptiveWindowing
from river.drift import binary

__all__ = [
    "BINARY_DETECTORS",
    "ADWINSpec",
    "DDMSpec",
    "DetectorSpec",
    "EDDMSpec",
    "HDDMASpec",
    "KSWINSpec",
    "PageHinkleySpec",
    "SlottedADWIN",
    "build",
    "evidence",
    "has_warning",
]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The name drift events carry in ``detector``; defaults to the spec's ``type``.
    name: str | None = Field(default=None, min_length=1, max_length=64)

    @property
    def label(self) -> str:
        return self.name or str(getattr(self, "type"))  # noqa: B009


class ADWINSpec(_Spec):
    """:class:`river.drift.ADWIN`: adaptive window; any numeric signal.

    ``direction`` is Driftline's publishing policy, not River's (River's ADWIN cuts on a change
    either way and is not told): ``up`` publishes only cuts where the kept window's mean is above
    the dropped part's (e.g. the error rate rose), ``down`` only falls; a cut the other way is a
    reset that publishes nothing (see :meth:`detectors.lifecycle.Watcher.on_drift`).
    """

    type: Literal["adwin"] = "adwin"
    delta: float = Field(default=0.002, gt=0, lt=1)
    clock: int = Field(default=32, ge=1)
    #: At least 2: River 0.26's ADWIN panics on some streams with 1 (``slice index starts at 1
    #: but ends at 0``, a Rust panic no ``except Exception`` catches), so 1 is refused here, at
    #: start-up, rather than met on data.
    max_buckets: int = Field(default=5, ge=2)
    min_window_length: int = Field(default=5, ge=1)
    grace_period: int = Field(default=10, ge=1)
    #: Publish cuts where the mean rose (``up``), fell (``down``) or either (Driftline's policy).
    direction: Literal["both", "up", "down"] = "both"


class PageHinkleySpec(_Spec):
    """:class:`river.drift.PageHinkley`: CUSUM on the fading mean; scale-dependent ``threshold``."""

    type: Literal["page_hinkley"] = "page_hinkley"
    min_instances: int = Field(default=30, ge=1)
    delta: float = Field(default=0.005, ge=0)
    threshold: float = Field(default=50.0, gt=0)
    alpha: float = Field(default=1 - 0.0001, gt=0, le=1)
    mode: Literal["up", "down", "both"] = "both"


class KSWINSpec(_Spec):
    """:class:`river.drift.KSWIN`: Kolmogorov-Smirnov test over a sliding window."""

    type: Literal["kswin"] = "kswin"
    alpha: float = Field(default=0.005, gt=0, lt=1)
    window_size: int = Field(default=100, ge=2)
    stat_size: int = Field(default=30, ge=1)
    seed: int | None = 42


class DDMSpec(_Spec):
    """:class:`river.drift.binary.DDM`: error rate vs its minimum; warning and drift levels."""

    type: Literal["ddm"] = "ddm"
    warm_start: int = Field(default=30, ge=1)
    warning_threshold: float = Field(default=2.0, gt=0)
    drift_threshold: float = Field(default=3.0, gt=0)


class EDDMSpec(_Spec):
    """:class:`river.drift.binary.EDDM`: distance between errors; warning and drift levels."""

    type: Literal["eddm"] = "eddm"
    warm_start: int = Field(default=30, ge=1)
    alpha: float = Field(default=0.95, gt=0, le=1)
    beta: float = Field(default=0.9, gt=0, le=1)


class HDDMASpec(_Spec):
    """:class:`river.drift.binary.HDDMA`: Hoeffding bounds on moving averages."""

    type: Literal["hddm_a"] = "hddm_a"
    drift_confidence: float = Field(default=0.001, gt=0, lt=1)
    warning_confidence: float = Field(default=0.005, gt=0, lt=1)
    two_sided_test: bool = False


DetectorSpec = Annotated[
    ADWINSpec | PageHinkleySpec | KSWINSpec | DDMSpec | EDDMSpec | HDDMASpec,
    Field(discriminator="type"),
]

#: Detectors that read 0/1 values only.
BINARY_DETECTORS = frozenset({"ddm", "eddm", "hddm_a"})
_WARNING_DETECTORS = frozenset({"ddm", "eddm", "hddm_a"})


class SlottedADWIN:
    """River's ADWIN in two slots: the same Rust window (River's ``AdaptiveWindowing``, what
    :class:`river.drift.ADWIN` keeps in ``_helper``) driven by the same two lines as River's
    ``update``, without River's per-instance ``__dict__`` (about 200 bytes of Python objects
    per detector; River's own window, the Rust part, is unchanged).

    The parameters live in the window (read back with its ``__getnewargs__``, as River's own
    pickling does), so nothing else is kept. Every flag, width, total, variance and detection
    count equals River's ADWIN fed the same values (``tests/detectors/test_slotted_adwin.py``
    checks each update on random streams). It pickles as River's ADWIN (snapshot bytes as
    before); a River ADWIN (unpickled, or from an older snapshot) becomes one with :meth:`adopt`,
    keeping its window.

    >>> import random
    >>> rng = random.Random(12345)
    >>> adwin = SlottedADWIN()
    >>> for i, x in enumerate(rng.choices([0, 1], k=1000) + rng.choices(range(4, 8), k=1000)):
    ...     adwin.update(x)
    ...     if adwin.drift_detected:
    ...         print(f"Change detected at index {i}, input value: {x}")
    Change detected at index 1023, input value: 4
    >>> adwin.delta, adwin.clock, adwin.width, adwin.n_detections
    (0.002, 32, 976.0, 0)
    """

    __slots__ = ("_drift_detected", "_helper")

    def __init__(self, delta: float = 0.002, clock: int = 32, max_buckets: int = 5,
                 min_window_length: int = 5, grace_period: int = 10) -> None:
        self._drift_detected = False
        self._helper = AdaptiveWindowing(delta=delta, clock=clock, max_buckets=max_buckets,
                                         min_window_length=min_window_length,
                                         grace_period=grace_period)

    @classmethod
    def adopt(cls, river_adwin: Any) -> SlottedADWIN:
        """The same detector (River's window itself, not a copy) from a River ADWIN."""
        adwin = cls.__new__(cls)
        adwin._drift_detected = bool(river_adwin._drift_detected)
        adwin._helper = river_adwin._helper
        return adwin

    def _reset(self) -> None:
        self._helper = AdaptiveWindowing(*self._helper.__getnewargs__())

    def update(self, x: float) -> None:
        """River's ``ADWIN.update``: reset after a drift, then feed the window."""
        if self._drift_detected:
            self._reset()
        self._drift_detected = self._helper.update(x)

    @property
    def drift_detected(self) -> bool:
        return self._drift_detected

    def _params(self) -> tuple[float, int, int, int, int]:
        args: tuple[float, int, int, int, int] = self._helper.__getnewargs__()
        return args

    @property
    def delta(self) -> float:
        return self._params()[0]

    @property
    def clock(self) -> int:
        return self._params()[1]

    @property
    def max_buckets(self) -> int:
        return self._params()[2]

    @property
    def min_window_length(self) -> int:
        return self._params()[3]

    @property
    def grace_period(self) -> int:
        return self._params()[4]

    @property
    def width(self) -> float:
        """Window size (a float, as River's own ``width`` returns it)."""
        return self._helper.get_width()

    @property
    def n_detections(self) -> int:
        return self._helper.get_n_detections()

    @property
    def variance(self) -> float:
        return self._helper.get_variance()

    @property
    def total(self) -> float:
        return self._helper.get_total()

    @property
    def estimation(self) -> float:
        width = self.width
        return 0.0 if width == 0 else self.total / width

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        """Pickled as River's own ADWIN, so a snapshot reads the same in a build without this
        class; :meth:`adopt` makes it this class again."""
        delta, clock, max_buckets, min_window_length, grace_period = self._params()
        state = {"_drift_detected": self._drift_detected, "delta": delta, "clock": clock,
                 "max_buckets": max_buckets, "min_window_length": min_window_length,
                 "grace_period": grace_period, "_helper": self._helper}
        return copyreg._reconstructor, (drift.ADWIN, object, None), state  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        return "ADWIN ({})".format(", ".join(
            f"{name}={value}" for name, value in zip(
                ("delta", "clock", "max_buckets", "min_window_length", "grace_period"),
                self._params(), strict=True)))


def has_warning(spec: Any) -> bool:
    """Whether the detector raises warnings as well as drifts."""
    return spec.type in _WARNING_DETECTORS


def build(spec: Any) -> Any:
    """A fresh River detector for ``spec`` (ADWIN: River's window in :class:`SlottedADWIN`)."""
    params = spec.model_dump(exclude={"type", "name", "direction"})
    kind = spec.type
    if kind == "adwin":
        return SlottedADWIN(**params)
    if kind == "page_hinkley":
        return drift.PageHinkley(**params)
    if kind == "kswin":
        return drift.KSWIN(**params)
    if kind == "ddm":
        return binary.DDM(**params)
    if kind == "eddm":
        return binary.EDDM(**params)
    if kind == "hddm_a":
        return binary.HDDMA(**params)
    raise ValueError(f"unknown detector type {kind!r}")  # pragma: no cover - specs are closed


def _num(value: Any) -> float | int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _mean(stat: Any) -> float | None:
    try:
        return _num(stat.get())
    except Exception:  # pragma: no cover - defensive across River versions
        return None


def _adwin_before(width: int, mean_after: float, samples: int | None, total: float | None) -> Any:
    """Mean of the part ADWIN dropped at its cut (``None`` when nothing was dropped or unknown)."""
    if samples is None or total is None or samples <= width:
        return None
    return _num((total - mean_after * width) / (samples - width))


def evidence(
    spec: Any, detector: Any, *, samples: int | None = None, total: float | None = None
) -> dict[str, float | int | None]:
    """The detector's own evidence right after an update, as JSON-safe numbers.

    Reads River's attributes (some private); a name River no longer has reads as ``None``.
    ``samples`` and ``total`` are the count and sum of the values fed since River last reset
    the detector (this update included); ADWIN's ``width_before`` and ``mean_before`` need them.
    """
    kind = spec.type
    out: dict[str, float | int | None] = {}
    if kind == "adwin":
        width = int(detector.width)
        mean_after = float(detector.estimation)
        out["width"] = width
        out["mean_after"] = _num(mean_after)
        out["width_before"] = samples
        out["mean_before"] = _adwin_before(width, mean_after, samples, total)
        out["variance"] = _num(detector.variance)
        out["delta"] = spec.delta
    elif kind == "page_hinkley":
        inc = getattr(detector, "_sum_increase", 0.0) - getattr(detector, "_min_increase", 0.0)
        dec = getattr(detector, "_max_decrease", 0.0) - getattr(detector, "_sum_decrease", 0.0)
        if spec.mode == "up":
            statistic = inc
        elif spec.mode == "down":
            statistic = dec
        else:
            statistic = max(inc, dec)
        out["statistic"] = _num(statistic)
        out["threshold"] = spec.threshold
        out["mean"] = _mean(getattr(detector, "_x_mean", None))
    elif kind == "ddm":
        mean = getattr(detector, "_p", None)
        p = _mean(mean)
        n = getattr(mean, "n", 0)
        out["p"] = p
        out["s"] = _num(math.sqrt(p * (1 - p) / n)) if p is not None and n else None
        out["p_min"] = _num(getattr(detector, "_p_min", None))
        out["s_min"] = _num(getattr(detector, "_s_min", None))
        out["warning_threshold"] = spec.warning_threshold
        out["drift_threshold"] = spec.drift_threshold
    elif kind == "eddm":
        distances = getattr(detector, "_error_distances", None)
        mean_distance = _mean(getattr(distances, "mean", None)) if distances is not None else None
        variance = _mean(distances) if distances is not None else None
        maximum = _num(getattr(detector, "_p2s_prime_max", None))
        out["mean_distance"] = mean_distance
        out["std_distance"] = _num(math.sqrt(variance)) if variance and variance > 0 else 0.0
        out["p2s_max"] = maximum
        out["n_errors"] = _num(getattr(detector, "_n_errors", None))
        out["alpha"] = spec.alpha
        out["beta"] = spec.beta
    elif kind == "hddm_a":
        out["mean"] = _mean(getattr(detector, "_z", None))
        out["mean_min"] = _mean(getattr(detector, "_x_min", None))
        out["mean_max"] = _mean(getattr(detector, "_x_max", None))
        out["drift_confidence"] = spec.drift_confidence
        out["warning_confidence"] = spec.warning_confidence
    elif kind == "kswin":
        out["p_value"] = _num(getattr(detector, "p_value", None))
        out["alpha"] = spec.alpha
        out["window_size"] = spec.window_size
    return out
