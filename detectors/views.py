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

A snapshot's head keeps its keys' views as :class:`PackedViews` (:meth:`PackedViews.head`):

>>> packed = PackedViews.pack([(("v1", None), view) for view in pipeline.key_views()])
>>> list(PackedViews.from_head(packed.head(), [("v1", None)]).views("m")) == list(
...     pipeline.key_views())
True
>>> [v.detectors for v in packed.views("m", detector_statistics=False)]
[()]
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CounterView", "DetectorView", "KeyView", "Layout", "PackedViews"]


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



#: What a key's view holds besides numbers: its rolling metrics' names, its detectors as
#: ``(signal, detector, statistic names)``, its estimated metrics' names, its gap's names.
Layout = tuple[tuple[str, ...], tuple[tuple[str, str, tuple[str, ...]], ...], tuple[str, ...],
               tuple[str, ...]]


class PackedViews:
    """Many keys' :class:`KeyView` s in a few objects, for a snapshot's head: each key's
    layout (shared by the keys of the same shape) and its numbers in one float array, so a head
    with 100 000 keys' views unpickles in a handful of allocations instead of millions.

    :meth:`head` is what a head keeps (builtin and :mod:`array` types only, so it never depends
    on these classes' import paths); :meth:`from_head` reads it back, its layout checked.
    """

    __slots__ = ("_head", "keys", "layout_of", "layouts", "offsets", "values")

    def __init__(self, keys: list[Any], layouts: list[Layout], layout_of: array[int],
                 offsets: array[int], values: array[float]) -> None:
        self.keys = keys
        self.layouts = layouts
        self.layout_of = layout_of
        self.offsets = offsets
        self.values = values
        self._head = (keys, layouts, layout_of, offsets, values)

    @classmethod
    def pack(cls, views: Iterable[tuple[Any, KeyView]]) -> PackedViews:
        """Pack ``(key, view)`` pairs (the key as the head identifies it)."""
        keys: list[Any] = []
        layouts: list[Layout] = []
        index: dict[Layout, int] = {}
        layout_of, offsets, values = array("q"), array("q"), array("d")
        for key, view in views:
            layout: Layout = (
                tuple(view.rolling_metrics),
                tuple((d.signal, d.detector, tuple(d.statistics)) for d in view.detectors),
                tuple(view.estimated_metrics), tuple(view.estimated_gap))
            at = index.get(layout)
            if at is None:
                at = index[layout] = len(layouts)
                layouts.append(layout)
            keys.append(key)
            layout_of.append(at)
            offsets.append(len(values))
            values.extend(view.rolling_metrics.values())
            for d in view.detectors:
                values.extend(d.statistics.values())
            values.extend(view.estimated_metrics.values())
            values.extend(view.estimated_gap.values())
        return cls(keys, layouts, layout_of, offsets, values)

    def head(self) -> tuple[Any, ...]:
        return self._head

    @classmethod
    def from_head(cls, head: Any, keys: Collection[Any]) -> PackedViews:
        """The views a head kept, for keys among ``keys``; :class:`TypeError` names what is
        wrong with their layout (the numbers are the head's, whose checksum was checked)."""
        if not (isinstance(head, tuple) and len(head) == 5):
            raise TypeError("views are not a packed views tuple")
        packed_keys, layouts, layout_of, offsets, values = head
        if not (isinstance(packed_keys, list) and isinstance(layouts, list)
                and all(isinstance(a, array) for a in (layout_of, offsets, values))
                and (layout_of.typecode, offsets.typecode, values.typecode) == ("q", "q", "d")
                and len(packed_keys) == len(layout_of) == len(offsets)):
            raise TypeError("views: keys, layouts and numbers do not line up")
        for layout in layouts:
            if not (isinstance(layout, tuple) and len(layout) == 4
                    and all(isinstance(d, tuple) and len(d) == 3 for d in layout[1])):
                raise TypeError(f"views: unknown layout {layout!r:.200}")
        if packed_keys:
            last = layouts[layout_of[-1]] if 0 <= max(layout_of) < len(layouts) else None
            if last is None or min(layout_of) < 0 or offsets[-1] + _width(last) != len(values):
                raise TypeError("views: numbers and layouts disagree")
            if not set(packed_keys) <= set(keys):
                raise TypeError("views of keys the model does not have")
        return cls(packed_keys, layouts, layout_of, offsets, values)

    def __len__(self) -> int:
        return len(self.keys)

    def views(self, model_id: str, *, detector_statistics: bool = True, estimates: bool = True
              ) -> Iterator[KeyView]:
        """The :class:`KeyView` of every key, ``(model_version, segment)`` keys of
        ``model_id``; without the detectors' statistics unless ``detector_statistics``, without
        CBPE's estimates unless ``estimates``."""
        values, offsets, layouts = self.values, self.offsets, self.layouts
        for i, (version, segment) in enumerate(self.keys):
            rolling_names, detectors, estimated_names, gap_names = layouts[self.layout_of[i]]
            at = offsets[i]
            rolling = dict(zip(rolling_names, values[at:at + len(rolling_names)], strict=True))
            at += len(rolling_names)
            found: list[DetectorView] = []
            for signal, detector, names in detectors:
                if detector_statistics:
                    found.append(DetectorView(signal, detector, dict(
                        zip(names, values[at:at + len(names)], strict=True))))
                at += len(names)
            estimated: dict[str, float] = {}
            gap: dict[str, float] = {}
            if estimates:
                estimated = dict(zip(estimated_names, values[at:at + len(estimated_names)],
                                     strict=True))
                at += len(estimated_names)
                gap = dict(zip(gap_names, values[at:at + len(gap_names)], strict=True))
            yield KeyView(model_id, version, segment, rolling, tuple(found), estimated, gap)


def _width(layout: Layout) -> int:
    """How many numbers a key of this layout has."""
    rolling, detectors, estimated, gap = layout
    return len(rolling) + sum(len(names) for _, _, names in detectors) + len(estimated) + len(gap)
