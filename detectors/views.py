"""Typed, read-only views of the detection core's state, for metrics and tools.

Callers outside ``detectors/`` (the consumer's Prometheus collectors, reports) read the core
through these views instead of its fields: the core owns its state and may change how it keeps
it; a view is a frozen snapshot of values, built on request, that cannot change the core.

* :meth:`detectors.pipeline.Pipeline.counter_view` → :class:`CounterView`: the accounting
  (the identity ``consumed + restored_waiting == processed + rejected + waiting`` holds on it),
  join outcomes, keys, suppressed firings.
* :meth:`detectors.pipeline.Pipeline.key_views` → one :class:`KeyView` per tracked key: its
  rolling metrics (full windows only), estimated metrics and their gap to the realized ones
  (CBPE, :mod:`detectors.feature_watch`) and, optionally, each River detector's statistics
  (its evidence, numbers only).

>>> from detectors.contracts import Source
>>> from detectors.pipeline import Pipeline
>>> pipeline = Pipeline()
>>> _ = pipeline.process_raw(b'{"type": "prediction", "prediction_id": "p1", "model_id": "m",'
...     b' "model_version": "v1", "timestamp": 1000, "prediction": 1, "score": 0.5}',
...     Source(topic="t", partition=0, offset=0))
>>> c = pipeline.counter_view()
>>> c.consumed, c.processed, c.pending, c.tracked_keys, c.balanced
(1, 1, 1, 1, True)
>>> [(v.model_id, v.model_version, v.segment, [d.signal for d in v.detectors])
...  for v in pipeline.key_views()]
[('m', 'v1', None, ['score'])]
>>> sorted(next(pipeline.key_views()).detectors[0].statistics)
['delta', 'mean_after', 'variance', 'width']

A snapshot's head keeps each key's view as a :data:`FrozenView` (builtin types only, so a head
never depends on these classes' import paths); :func:`thawed_view` makes it a view again:

>>> view = next(pipeline.key_views())
>>> thawed_view("m", "v1", None, frozen_view(view)) == view
True
>>> thawed_view("m", "v1", None, frozen_view(view), detector_statistics=False).detectors
()
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["CounterView", "DetectorView", "FrozenView", "KeyView", "frozen_view", "thawed_view"]


@dataclass(frozen=True, slots=True)
class CounterView:
    """A pipeline's counters at one moment (cumulative since it was created)."""

    consumed: int
    processed: int
    rejected: Mapping[str, int]
    restored_waiting: int
    pending: int
    waiting: int
    joined: int
    duplicates: int
    orphaned: int
    expired: int
    evicted: int
    keys_refused: int
    keys_retired: int
    tracked_keys: int
    drift_events: int
    suppressed_warmup: int
    suppressed_cooldown: int
    #: ADWIN cuts the other way than their ``direction`` (resets, not published).
    suppressed_direction: int = 0

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    @property
    def balanced(self) -> bool:
        """The accounting identity of :mod:`detectors.pipeline`."""
        return (self.consumed + self.restored_waiting
                == self.processed + self.rejected_total + self.waiting)


@dataclass(frozen=True, slots=True)
class DetectorView:
    """One detector of one key: the signal it watches, its name, its statistics right now."""

    signal: str
    detector: str
    statistics: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class KeyView:
    """One tracked key (model_id, model_version, segment)."""

    model_id: str
    model_version: str
    segment: str | None
    #: ``accuracy``/``precision``/``recall``/``f1`` or ``mae`` over a *full* window (NaN left out).
    rolling_metrics: Mapping[str, float]
    #: Empty unless asked for (reading River's evidence costs a little per detector).
    detectors: tuple[DetectorView, ...]
    #: CBPE's estimates (``accuracy``, ``precision``, ``recall``, ``f1``) over its window, from
    #: scores alone; empty before its window first fills or for a model it does not watch.
    estimated_metrics: Mapping[str, float] = field(default_factory=dict)
    #: Estimated minus realized metric on the last labelled predictions; empty before any label.
    estimated_gap: Mapping[str, float] = field(default_factory=dict)


def finite_statistics(values: Mapping[str, object]) -> dict[str, float]:
    """The finite numbers of a detector's evidence (booleans, strings and None left out)."""
    out: dict[str, float] = {}
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if math.isfinite(value):
            out[name] = value
    return out


#: A :class:`KeyView` without its key, in builtin types only: rolling metrics, detectors as
#: ``(signal, detector, statistics)``, estimated metrics, estimated gap.
FrozenView = tuple[dict[str, float], tuple[tuple[str, str, dict[str, float]], ...],
                   dict[str, float], dict[str, float]]


def frozen_view(view: KeyView) -> FrozenView:
    """``view`` as builtin types (what a snapshot's head keeps; :func:`thawed_view` reverses)."""
    return (dict(view.rolling_metrics),
            tuple((d.signal, d.detector, dict(d.statistics)) for d in view.detectors),
            dict(view.estimated_metrics), dict(view.estimated_gap))


def thawed_view(model_id: str, model_version: str, segment: str | None, frozen: FrozenView, *,
                detector_statistics: bool = True, estimates: bool = True) -> KeyView:
    """The :class:`KeyView` of a :data:`FrozenView`; without the detectors' statistics unless
    ``detector_statistics``, without CBPE's estimates unless ``estimates``."""
    rolling, detectors, estimated, gap = frozen
    return KeyView(
        model_id, model_version, segment, rolling,
        tuple(DetectorView(*d) for d in detectors) if detector_statistics else (),
        estimated if estimates else {}, gap if estimates else {},
    )
