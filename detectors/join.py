"""The label join as pure code: predictions wait for labels, labels wait (bounded) for predictions.

Contract (shared by replay and the Kafka consumer):

* a prediction waits in *pending* under (model_id, prediction_id) until its label arrives, or
  until ``join_ttl`` of event time has passed since its arrival (then it is *expired*, counted);
* a label whose prediction has not arrived waits in *waiting* for ``label_wait_ttl``; when that
  passes it is an *orphan*, returned as a :class:`~detectors.rejection.Rejection` (stage ``join``)
  carrying the label's original raw bytes and source;
* a joined prediction leaves a tombstone until its deadline, so a second label for it is a
  *duplicate* (a ``join`` rejection), as is a second label while the first one waits, and a second
  prediction with the same id;
* memory is bounded: beyond ``max_pending`` the oldest pending entry is evicted (counted), beyond
  ``max_waiting`` the oldest waiting label is rejected as an orphan.

Time is event time: the caller passes its watermark (the maximum event timestamp seen, in epoch
seconds). Deadlines are ``watermark at arrival + ttl``, so they are non-decreasing in arrival
order and expiry is a FIFO pop: O(1) per event, and deterministic for a given input order.
Entries are also indexed per model, so one model's join state can be exported and restored.

>>> from detectors.contracts import Label, Prediction, Source
>>> join = LabelJoin(join_ttl=60, label_wait_ttl=10, max_pending=100, max_waiting=100)
>>> src = Source(topic="t", partition=0, offset=0)
>>> label = Label(prediction_id="p1", model_id="m", timestamp=1_000, label=True)
>>> join.add_label(label, src, b"raw", watermark=1.0)
('waiting', None)
>>> p1 = Prediction(prediction_id="p1", model_id="m", model_version="v1", timestamp=2_000,
...                 prediction=True)
>>> status, waiting = join.add_prediction(p1, src, watermark=2.0)
>>> status, waiting.label.label
('joined', True)
>>> join.add_label(label, src, b"raw", watermark=3.0)[0]
'duplicate'
>>> join.add_label(Label(prediction_id="p9", model_id="m", timestamp=4_000, label=False),
...                src, b"late", watermark=4.0)
('waiting', None)
>>> [r.error_class for r in join.expire(20.0)]
['OrphanLabel']
>>> join.counters()
{'pending': 0, 'waiting': 0, 'joined': 1, 'duplicates': 1, 'orphaned': 1, 'expired': 0, 'evicted': 0}
"""

from __future__ import annotations

import pickle
from typing import Any

import msgspec

from detectors.contracts import Source, SourceLike, as_source
from detectors.events import InputLabel, InputPrediction
from detectors.rejection import Rejection

__all__ = ["LabelJoin", "PendingPrediction", "WaitingLabel"]

JoinKey = tuple[str, str]


class PendingPrediction:
    """A prediction waiting for its label (or, once joined, a tombstone).

    ``frozen`` caches the entry's snapshot bytes (:func:`_freeze`): an entry is serialized at
    most once while it waits, not at every checkpoint.
    """

    __slots__ = ("deadline", "frozen", "prediction", "seq", "source")

    def __init__(
        self,
        prediction: InputPrediction | None,
        source: SourceLike | None,
        deadline: float,
        seq: int,
    ) -> None:
        self.prediction = prediction
        self.source = source
        self.deadline = deadline
        self.seq = seq
        self.frozen: bytes | None = None

    def __getstate__(self) -> tuple[Any, ...]:
        return (self.prediction, self.source, self.deadline, self.seq)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self.prediction, self.source, self.deadline, self.seq = state
        self.frozen = None


_pack = msgspec.msgpack.Encoder().encode
_unpack = msgspec.msgpack.Decoder().decode


def _freeze(pid: str, entry: PendingPrediction) -> bytes:
    """One pending entry as snapshot bytes: a msgpack array of its values (a pickle when a value
    does not fit msgpack, such as an integer beyond 64 bits)."""
    frozen = entry.frozen
    if frozen is None:
        src = entry.source
        where = src if src is None or src.__class__ is tuple else (
            src.topic, src.partition, src.offset)  # type: ignore[union-attr]
        p = entry.prediction
        values = (pid, where, entry.deadline, entry.seq) if p is None else (
            pid, where, entry.deadline, entry.seq, p.schema_version, p.prediction_id, p.model_id,
            p.model_version, p.timestamp, p.features, p.prediction, p.score, p.segment)
        try:
            frozen = _pack(values)
        except (OverflowError, TypeError):
            frozen = pickle.dumps((pid, p, where, entry.deadline, entry.seq),
                                  pickle.HIGHEST_PROTOCOL)
        entry.frozen = frozen
    return frozen


def _thaw(item: Any) -> tuple[str, PendingPrediction]:
    """An exported pending item: frozen bytes, or a ``(pid, entry)`` pair (older snapshots)."""
    if not isinstance(item, bytes):
        pid, entry = item
        return pid, entry
    if item[:1] == b"\x80":  # a pickle (see _freeze)
        pid, prediction, where, deadline, seq = pickle.loads(item)
    else:
        values = _unpack(item)
        pid, where, deadline, seq = values[:4]
        prediction = None
        if len(values) > 4:
            (schema_version, prediction_id, model_id, model_version, timestamp, features,
             predicted, score, segment) = values[4:]
            prediction = InputPrediction(
                schema_version=schema_version, prediction_id=prediction_id, model_id=model_id,
                model_version=model_version, timestamp=timestamp, features=features,
                prediction=predicted, score=score, segment=segment)
    source = None
    if where is not None:
        source = Source.model_construct(topic=where[0], partition=where[1], offset=where[2])
    entry = PendingPrediction(prediction, source, deadline, seq)
    entry.frozen = item
    return pid, entry


class WaitingLabel:
    """A label that arrived before its prediction."""

    __slots__ = ("deadline", "label", "raw", "seq", "source")

    def __init__(
        self, label: InputLabel, source: Source, raw: bytes | None, deadline: float, seq: int
    ) -> None:
        self.label = label
        self.source = source
        self.raw = raw
        self.deadline = deadline
        self.seq = seq

    def __getstate__(self) -> tuple[Any, ...]:
        return (self.label, self.source, self.raw, self.deadline, self.seq)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self.label, self.source, self.raw, self.deadline, self.seq = state


def _fifo_order(item: tuple[JoinKey, Any]) -> tuple[float, int]:
    return item[1].deadline, item[1].seq


def _orphan(entry: WaitingLabel, why: str) -> Rejection:
    label = entry.label
    return Rejection(
        stage="join",
        error_class="OrphanLabel",
        message=f"label for prediction {label.prediction_id!r} of model {label.model_id!r}: {why}",
        source=entry.source,
        raw=entry.raw,
        model_id=label.model_id,
    )


class LabelJoin:
    """Pending predictions and waiting labels, by (model_id, prediction_id), bounded in time and size."""

    def __init__(
        self, *, join_ttl: float, label_wait_ttl: float, max_pending: int, max_waiting: int
    ) -> None:
        self.join_ttl = join_ttl
        self.label_wait_ttl = label_wait_ttl
        self.max_pending = max_pending
        self.max_waiting = max_waiting
        self._pending: dict[JoinKey, PendingPrediction] = {}
        self._waiting: dict[JoinKey, WaitingLabel] = {}
        self._pending_by_model: dict[str, dict[str, PendingPrediction]] = {}
        self._waiting_by_model: dict[str, dict[str, WaitingLabel]] = {}
        self._seq = 0
        self.live_pending = 0
        self.joined = 0
        self.duplicates = 0
        self.orphaned = 0
        self.expired = 0
        self.evicted = 0
        #: Models whose join state changed since the caller last cleared this set.
        self.touched: set[str] = set()
        #: Smallest deadline at the head of either FIFO (inf when both are empty).
        self.next_deadline = float("inf")
        #: Entries were added out of FIFO order by :meth:`replace_model`; :meth:`_order` sorts.
        self._unordered = False

    # -- accounting ------------------------------------------------------------------------------

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def counters(self) -> dict[str, int]:
        return {
            "pending": self.live_pending,
            "waiting": len(self._waiting),
            "joined": self.joined,
            "duplicates": self.duplicates,
            "orphaned": self.orphaned,
            "expired": self.expired,
            "evicted": self.evicted,
        }

    def _order(self) -> None:
        """Sort both FIFOs by (deadline, arrival) after restores: once for many models, not
        once per model (a partition restores thousands)."""
        if self._unordered:
            self._pending = dict(sorted(self._pending.items(), key=_fifo_order))
            self._waiting = dict(sorted(self._waiting.items(), key=_fifo_order))
            self._unordered = False

    def _refresh_deadline(self) -> None:
        self._order()
        head = float("inf")
        if self._pending:
            head = next(iter(self._pending.values())).deadline
        if self._waiting:
            head = min(head, next(iter(self._waiting.values())).deadline)
        self.next_deadline = head

    # -- events ----------------------------------------------------------------------------------

    def add_prediction(
        self, prediction: InputPrediction, source: SourceLike, watermark: float
    ) -> tuple[str, WaitingLabel | None]:
        """``('pending', None)``, ``('joined', waiting_label)`` or ``('duplicate', None)``."""
        model_id = prediction.model_id
        key = (model_id, prediction.prediction_id)
        if key in self._pending:
            self.duplicates += 1
            return "duplicate", None
        self.touched.add(model_id)
        waiting = self._waiting.pop(key, None)
        self._seq += 1
        deadline = watermark + self.join_ttl
        if waiting is not None:
            del self._waiting_by_model[model_id][key[1]]
            self.joined += 1
            entry = PendingPrediction(None, None, deadline, self._seq)  # tombstone
        else:
            entry = PendingPrediction(prediction, source, deadline, self._seq)
            self.live_pending += 1
        was_empty = not self._pending
        self._pending[key] = entry
        by_model = self._pending_by_model.get(model_id)
        if by_model is None:
            by_model = self._pending_by_model[model_id] = {}
        by_model[key[1]] = entry
        if len(self._pending) > self.max_pending:
            self._evict_pending()
        if was_empty or waiting is not None:
            self._refresh_deadline()
        return ("joined" if waiting is not None else "pending"), waiting

    def add_label(
        self, label: InputLabel, source: SourceLike, raw: bytes | None, watermark: float
    ) -> tuple[str, Any]:
        """``('joined', PendingPrediction)``, ``('waiting', None | [orphans])``, ``('duplicate', None)``.

        A joined entry's prediction and source are handed over and the entry becomes a tombstone.
        When the waiting cap is exceeded, the second item lists the evicted orphans.
        """
        model_id = label.model_id
        key = (model_id, label.prediction_id)
        entry = self._pending.get(key)
        if entry is not None:
            if entry.prediction is None:
                self.duplicates += 1
                return "duplicate", None
            handed = PendingPrediction(entry.prediction, entry.source, entry.deadline, entry.seq)
            entry.prediction = None
            entry.source = None
            entry.frozen = None
            self.live_pending -= 1
            self.joined += 1
            self.touched.add(model_id)
            return "joined", handed
        if key in self._waiting:
            self.duplicates += 1
            return "duplicate", None
        self.touched.add(model_id)
        self._seq += 1
        was_empty = not self._waiting
        waiting = WaitingLabel(
            label, as_source(source), raw, watermark + self.label_wait_ttl, self._seq
        )
        self._waiting[key] = waiting
        by_model = self._waiting_by_model.get(model_id)
        if by_model is None:
            by_model = self._waiting_by_model[model_id] = {}
        by_model[key[1]] = waiting
        orphans = None
        if len(self._waiting) > self.max_waiting:
            orphans = self._evict_waiting()
        if was_empty or orphans:
            self._refresh_deadline()
        return "waiting", orphans

    # -- expiry and caps ---------------------------------------------------------------------------

    def _evict_pending(self) -> None:
        self._order()
        while len(self._pending) > self.max_pending:
            key, entry = next(iter(self._pending.items()))
            self._drop_pending(key)
            if entry.prediction is not None:
                self.live_pending -= 1
                self.evicted += 1

    def _evict_waiting(self) -> list[Rejection]:
        self._order()
        orphans = []
        while len(self._waiting) > self.max_waiting:
            key, entry = next(iter(self._waiting.items()))
            self._drop_waiting(key)
            self.orphaned += 1
            orphans.append(_orphan(entry, f"evicted: more than {self.max_waiting} labels waiting"))
        return orphans

    def _drop_pending(self, key: JoinKey) -> None:
        del self._pending[key]
        by_model = self._pending_by_model[key[0]]
        del by_model[key[1]]
        if not by_model:
            del self._pending_by_model[key[0]]
        self.touched.add(key[0])

    def _drop_waiting(self, key: JoinKey) -> None:
        del self._waiting[key]
        by_model = self._waiting_by_model[key[0]]
        del by_model[key[1]]
        if not by_model:
            del self._waiting_by_model[key[0]]
        self.touched.add(key[0])

    def expire(self, watermark: float) -> list[Rejection]:
        """Drop pending predictions and reject waiting labels whose deadline has passed."""
        if watermark < self.next_deadline:
            return []
        self._order()
        pending = self._pending
        while pending:
            key, entry = next(iter(pending.items()))
            if entry.deadline > watermark:
                break
            self._drop_pending(key)
            if entry.prediction is not None:
                self.live_pending -= 1
                self.expired += 1
        orphans = []
        waiting = self._waiting
        while waiting:
            key, label = next(iter(waiting.items()))
            if label.deadline > watermark:
                break
            self._drop_waiting(key)
            self.orphaned += 1
            orphans.append(_orphan(label, "no prediction arrived within label_wait_ttl"))
        self._refresh_deadline()
        return orphans

    def drain(self) -> list[Rejection]:
        """End of input: reject every waiting label as an orphan (replay calls this)."""
        self._order()
        orphans = []
        for key in list(self._waiting):
            entry = self._waiting[key]
            self._drop_waiting(key)
            self.orphaned += 1
            orphans.append(_orphan(entry, "no prediction before the end of the input"))
        self._refresh_deadline()
        return orphans

    # -- per-model state -----------------------------------------------------------------------------

    def export_models(self) -> set[str]:
        """Models that have pending predictions or waiting labels."""
        return set(self._pending_by_model) | set(self._waiting_by_model)

    def export_model(self, model_id: str) -> dict[str, Any]:
        """The model's join state: pending entries and waiting labels, in arrival order.

        Pending entries are exported as bytes, each serialized once while it waits (so a
        checkpoint costs a copy per pending prediction, not a serialization).
        """
        return {
            "pending": [_freeze(pid, e) for pid, e in self._pending_by_model.get(model_id, {}).items()],
            "waiting": list(self._waiting_by_model.get(model_id, {}).items()),
        }

    def replace_model(self, model_id: str, state: dict[str, Any]) -> None:
        """Replace the model's join state with an exported one (rebuilding the FIFO order)."""
        for pid in list(self._pending_by_model.get(model_id, {})):
            entry = self._pending[(model_id, pid)]
            if entry.prediction is not None:
                self.live_pending -= 1
            self._drop_pending((model_id, pid))
        for pid in list(self._waiting_by_model.get(model_id, {})):
            self._drop_waiting((model_id, pid))
        pending_items = [((model_id, pid), e) for pid, e in map(_thaw, state["pending"])]
        waiting_items = [((model_id, pid), e) for pid, e in state["waiting"]]
        self._pending.update(pending_items)
        self._waiting.update(waiting_items)
        self._unordered = True  # sorted once, when the order is next needed (see _order)
        if pending_items:
            self._pending_by_model[model_id] = {k[1]: e for k, e in pending_items}
        if waiting_items:
            self._waiting_by_model[model_id] = {k[1]: e for k, e in waiting_items}
        self.live_pending += sum(1 for _, e in pending_items if e.prediction is not None)
        seqs = [e.seq for _, e in pending_items] + [e.seq for _, e in waiting_items]
        self._seq = max([self._seq, *seqs])
        self.touched.add(model_id)
        self.next_deadline = float("-inf")  # the caller's next watermark advance calls expire
