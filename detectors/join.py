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

Per model, entries are kept in *segments* by arrival: the open (newest) segment takes new
entries until it holds :data:`SEGMENT_ENTRIES`, then it is sealed and a new one opens. A
checkpoint (:meth:`LabelJoin.checkpoint_model`) exports the open segment and a list of the
sealed ones (the model's *head*), plus only the sealed segments that changed since the model's
last checkpoint (:meth:`LabelJoin.mark_clean`): a label that turns an entry into a tombstone, or
joins a waiting label, dirties its segment; a segment emptied leaves the list. Expiry and
eviction pop the oldest entries (a FIFO) without dirtying their segment: the head records, per
model, the FIFO position of the last entry popped, and a restore drops every entry at or before
it (entries of a model are popped in that order, and every entry added later is behind it), so
a sealed segment written before some of its entries expired restores exactly. Checkpoints thus
write O(entries added or changed), not O(entries held).

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

Segments (here of two entries): a checkpoint writes the head (the open segment, the list of
sealed ones) and the sealed segments that changed; what it wrote restores the same join.

>>> join = LabelJoin(join_ttl=60, label_wait_ttl=10, max_pending=100, max_waiting=100,
...                  segment_entries=2)
>>> for i in range(5):
...     _ = join.add_prediction(Prediction(prediction_id=f"p{i}", model_id="m",
...         model_version="v1", timestamp=1_000 * i, prediction=True), src, watermark=float(i))
>>> topic = {}
>>> def checkpoint():
...     head, changed = join.checkpoint_model("m")
...     join.mark_clean({"m"})
...     topic.update(changed)
...     return head["segments"], len(head["pending"]), sorted(changed)
>>> checkpoint()  # sealed [0, 2): segments 0 and 1 written; p4 in the open one (the head)
([[0, 2]], 1, [0, 1])
>>> _ = join.add_label(Label(prediction_id="p3", model_id="m", timestamp=9_000, label=True),
...                    src, None, watermark=9.0)
>>> checkpoint()  # the tombstone of p3 dirtied segment 1 only
([[0, 2]], 1, [1])
>>> join.expire(62.5)  # p0, p1 and p2 expire: segment 0 emptied, segment 1 not rewritten
[]
>>> checkpoint()
([[1, 2]], 1, [])
>>> restored = LabelJoin(join_ttl=60, label_wait_ttl=10, max_pending=100, max_waiting=100,
...                      segment_entries=2)
>>> restored.install("m", restored.prepare("m", join.checkpoint_model("m")[0], topic),
...                  persisted=True)
>>> restored.export_model("m") == join.export_model("m"), len(restored.pending_of("m"))
(True, 2)
"""

from __future__ import annotations

import pickle
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from detectors.contracts import Source, SourceLike, as_source
from detectors.events import InputLabel, InputPrediction
from detectors.rejection import Rejection

__all__ = ["SEGMENT_ENTRIES", "LabelJoin", "PendingPrediction", "WaitingLabel", "join_segment_ids"]

JoinKey = tuple[str, str]

#: Entries a model's open segment takes before it is sealed (see the module docstring).
SEGMENT_ENTRIES = 256

#: FIFO position (deadline, seq) before every entry: nothing popped yet.
_NOTHING_POPPED = (float("-inf"), -1)


class _Segment:
    """A model's entries that arrived together, in arrival order: pending predictions (and
    tombstones) and waiting labels, by prediction id. ``dirty``: changed since the model's last
    checkpoint (other than by FIFO pops; meaningful once sealed)."""

    __slots__ = ("dirty", "id", "pending", "waiting")

    def __init__(self, segment_id: int) -> None:
        self.id = segment_id
        self.pending: dict[str, PendingPrediction] = {}
        self.waiting: dict[str, WaitingLabel] = {}
        self.dirty = False


class _ModelJoin:
    """One model's segments (ascending ids, the open one last) and the FIFO position of the
    last entry popped from each FIFO."""

    __slots__ = ("open", "open_count", "popped_pending", "popped_waiting", "segments", "seq")

    def __init__(self, open_id: int = 0) -> None:
        self.open = _Segment(open_id)
        self.segments: dict[int, _Segment] = {open_id: self.open}
        #: Entries placed in the open segment (it is sealed when one more arrives at the cap).
        self.open_count = 0
        self.popped_pending: tuple[float, int] = _NOTHING_POPPED
        self.popped_waiting: tuple[float, int] = _NOTHING_POPPED
        #: When restored: the highest arrival number of its entries, or the join's arrival
        #: counter its head recorded if higher (the entries that arrived since may all be gone).
        self.seq = 0

    def empty(self) -> bool:
        return len(self.segments) == 1 and not self.open.pending and not self.open.waiting

    def sealed(self) -> list[_Segment]:
        return [segment for segment in self.segments.values() if segment is not self.open]


class PendingPrediction:
    """A prediction waiting for its label (or, once joined, a tombstone).

    ``frozen`` caches the entry's snapshot bytes (:func:`_freeze`): an entry is serialized at
    most once while it waits, not at every checkpoint. ``segment``: the model's segment that
    holds it (:class:`LabelJoin` sets it; None outside a join).
    """

    __slots__ = ("deadline", "frozen", "prediction", "segment", "seq", "source")

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
        self.segment: _Segment | None = None

    def __getstate__(self) -> tuple[Any, ...]:
        return (self.prediction, self.source, self.deadline, self.seq)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self.prediction, self.source, self.deadline, self.seq = state
        self.frozen = None
        self.segment = None


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
        if not isinstance(entry, PendingPrediction) or not isinstance(pid, str):
            raise TypeError("pending entries are not (prediction id, PendingPrediction) pairs")
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
    """A label that arrived before its prediction (``segment`` as for
    :class:`PendingPrediction`)."""

    __slots__ = ("deadline", "label", "raw", "segment", "seq", "source")

    def __init__(
        self, label: InputLabel, source: Source, raw: bytes | None, deadline: float, seq: int
    ) -> None:
        self.label = label
        self.source = source
        self.raw = raw
        self.deadline = deadline
        self.seq = seq
        self.segment: _Segment | None = None

    def __getstate__(self) -> tuple[Any, ...]:
        return (self.label, self.source, self.raw, self.deadline, self.seq)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self.label, self.source, self.raw, self.deadline, self.seq = state
        self.segment = None


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
        self, *, join_ttl: float, label_wait_ttl: float, max_pending: int, max_waiting: int,
        segment_entries: int = SEGMENT_ENTRIES,
    ) -> None:
        self.join_ttl = join_ttl
        self.label_wait_ttl = label_wait_ttl
        self.max_pending = max_pending
        self.max_waiting = max_waiting
        self.segment_entries = segment_entries
        self._pending: dict[JoinKey, PendingPrediction] = {}
        self._waiting: dict[JoinKey, WaitingLabel] = {}
        # The FIFOs, oldest first: popping the first item of a dict is O(deleted slots before
        # it) in CPython, a deque's is O(1). Pending entries leave only from the head (or
        # by install, which reorders); waiting labels also leave by joining (stale items,
        # skipped by _waiting_head).
        self._pending_fifo: deque[JoinKey] = deque()
        self._waiting_fifo: deque[tuple[JoinKey, WaitingLabel]] = deque()
        self._models: dict[str, _ModelJoin] = {}
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
        #: Entries were added out of FIFO order by :meth:`install`; :meth:`_order` sorts.
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
            self._pending_fifo = deque(self._pending)
            self._waiting_fifo = deque(self._waiting.items())
            self._unordered = False

    def _waiting_head(self) -> tuple[JoinKey, WaitingLabel] | None:
        """The oldest waiting label (dropping the FIFO's items of labels that joined)."""
        fifo, waiting = self._waiting_fifo, self._waiting
        while fifo:
            key, label = fifo[0]
            if waiting.get(key) is label:
                return key, label
            fifo.popleft()
        return None

    def _refresh_deadline(self) -> None:
        self._order()
        head = float("inf")
        if self._pending_fifo:
            head = self._pending[self._pending_fifo[0]].deadline
        oldest = self._waiting_head()
        if oldest is not None:
            head = min(head, oldest[1].deadline)
        self.next_deadline = head

    # -- segments --------------------------------------------------------------------------------

    def _open_segment(self, model_id: str) -> _Segment:
        """The model's segment for a new entry (sealing the open one when it is full)."""
        model = self._models.get(model_id)
        if model is None:
            model = self._models[model_id] = _ModelJoin()
        model.open_count += 1
        if model.open_count > self.segment_entries:
            model.open_count = 1
            full = model.open
            if full.pending or full.waiting:  # sealed (an emptied one takes new entries)
                full.dirty = True
                model.open = model.segments[full.id + 1] = _Segment(full.id + 1)
        return model.open

    def _changed(self, model: _ModelJoin, segment: _Segment) -> None:
        """An entry of ``segment`` changed or left it other than by a FIFO pop."""
        if segment.pending or segment.waiting:
            segment.dirty = True
        else:
            self._emptied(model, segment)

    @staticmethod
    def _emptied(model: _ModelJoin, segment: _Segment) -> None:
        if segment is not model.open:
            del model.segments[segment.id]

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
            segment = waiting.segment
            assert segment is not None
            del segment.waiting[key[1]]
            self._changed(self._models[model_id], segment)
            self.joined += 1
            entry = PendingPrediction(None, None, deadline, self._seq)  # tombstone
        else:
            entry = PendingPrediction(prediction, source, deadline, self._seq)
            self.live_pending += 1
        was_empty = not self._pending
        self._pending[key] = entry
        self._pending_fifo.append(key)
        segment = entry.segment = self._open_segment(model_id)
        segment.pending[key[1]] = entry
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
            segment = entry.segment
            assert segment is not None
            segment.dirty = True  # still holds the entry, a tombstone now
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
        self._waiting_fifo.append((key, waiting))
        segment = waiting.segment = self._open_segment(model_id)
        segment.waiting[key[1]] = waiting
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
            key = self._pending_fifo[0]
            entry = self._pending[key]
            self._pop_pending(key, entry)
            if entry.prediction is not None:
                self.live_pending -= 1
                self.evicted += 1

    def _evict_waiting(self) -> list[Rejection]:
        self._order()
        orphans = []
        while len(self._waiting) > self.max_waiting:
            oldest = self._waiting_head()
            assert oldest is not None
            key, entry = oldest
            self._pop_waiting(key, entry)
            self.orphaned += 1
            orphans.append(_orphan(entry, f"evicted: more than {self.max_waiting} labels waiting"))
        return orphans

    def _pop_pending(self, key: JoinKey, entry: PendingPrediction) -> None:
        """Remove the head of the pending FIFO (expired or evicted)."""
        del self._pending[key]
        self._pending_fifo.popleft()
        model = self._models[key[0]]
        model.popped_pending = (entry.deadline, entry.seq)
        segment = entry.segment
        assert segment is not None
        del segment.pending[key[1]]
        self._popped(key[0], model, segment)

    def _pop_waiting(self, key: JoinKey, entry: WaitingLabel) -> None:
        """Remove the head of the waiting FIFO (expired, evicted or drained: after
        :meth:`_waiting_head`)."""
        del self._waiting[key]
        self._waiting_fifo.popleft()
        model = self._models[key[0]]
        model.popped_waiting = (entry.deadline, entry.seq)
        segment = entry.segment
        assert segment is not None
        del segment.waiting[key[1]]
        self._popped(key[0], model, segment)

    def _popped(self, model_id: str, model: _ModelJoin, segment: _Segment) -> None:
        """An entry left ``segment`` by a FIFO pop: the segment is not rewritten for it (the
        head's FIFO positions leave it out on restore), unless the segment or model empties."""
        if not segment.pending and not segment.waiting:
            self._emptied(model, segment)
            if model.empty():
                del self._models[model_id]
        self.touched.add(model_id)

    def expire(self, watermark: float) -> list[Rejection]:
        """Drop pending predictions and reject waiting labels whose deadline has passed."""
        if watermark < self.next_deadline:
            return []
        self._order()
        pending, fifo = self._pending, self._pending_fifo
        while fifo:
            key = fifo[0]
            entry = pending[key]
            if entry.deadline > watermark:
                break
            self._pop_pending(key, entry)
            if entry.prediction is not None:
                self.live_pending -= 1
                self.expired += 1
        orphans = []
        while (oldest := self._waiting_head()) is not None:
            key, label = oldest
            if label.deadline > watermark:
                break
            self._pop_waiting(key, label)
            self.orphaned += 1
            orphans.append(_orphan(label, "no prediction arrived within label_wait_ttl"))
        self._refresh_deadline()
        return orphans

    def drain(self) -> list[Rejection]:
        """End of input: reject every waiting label as an orphan (replay calls this)."""
        self._order()
        orphans = []
        while (oldest := self._waiting_head()) is not None:
            key, entry = oldest
            self._pop_waiting(key, entry)
            self.orphaned += 1
            orphans.append(_orphan(entry, "no prediction before the end of the input"))
        self._refresh_deadline()
        return orphans

    # -- per-model state -----------------------------------------------------------------------------

    def export_models(self) -> set[str]:
        """Models that have pending predictions or waiting labels."""
        return set(self._models)

    def pending_of(self, model_id: str) -> dict[str, PendingPrediction]:
        """The model's pending entries (tombstones included) by prediction id, in arrival order."""
        model = self._models.get(model_id)
        if model is None:
            return {}
        return {pid: e for s in model.segments.values() for pid, e in s.pending.items()}

    def waiting_of(self, model_id: str) -> int:
        """How many labels of the model wait for their prediction."""
        model = self._models.get(model_id)
        return 0 if model is None else sum(len(s.waiting) for s in model.segments.values())

    def export_model(self, model_id: str) -> dict[str, Any]:
        """The model's whole join state: pending entries and waiting labels, in arrival order.

        Pending entries are exported as bytes, each serialized once while it waits (so a
        checkpoint costs a copy per pending prediction, not a serialization).
        """
        model = self._models.get(model_id)
        segments = [] if model is None else list(model.segments.values())
        return {
            "pending": [_freeze(pid, e) for s in segments for pid, e in s.pending.items()],
            "waiting": [item for s in segments for item in s.waiting.items()],
        }

    def checkpoint_model(self, model_id: str) -> tuple[dict[str, Any], dict[int, dict[str, Any]]]:
        """The model's join state as a checkpoint writes it: its head (the open segment, the
        ids of the sealed ones, the last FIFO positions popped) and the sealed segments changed
        since :meth:`mark_clean` (each its pending entries, as bytes, and waiting labels)."""
        model = self._models.get(model_id)
        if model is None:
            model = _ModelJoin()
        sealed = [i for i in model.segments if i != model.open.id]
        head = {
            "segments": _runs(sealed),
            "open_id": model.open.id,
            "open_count": model.open_count,
            "popped": [list(model.popped_pending), list(model.popped_waiting)],
            "seq": self._seq,
            **_segment_state(model.open),
        }
        return head, {s.id: _segment_state(s) for s in model.sealed() if s.dirty}

    def mark_clean(self, model_ids: Iterable[str]) -> None:
        """The models' changed segments are persisted (with their heads)."""
        for model_id in model_ids:
            model = self._models.get(model_id)
            if model is not None:
                for segment in model.segments.values():
                    segment.dirty = False

    def replace_model(self, model_id: str, state: dict[str, Any]) -> None:
        """Replace the model's state with an exported one (:meth:`export_model`)."""
        self.install(model_id, self.prepare(model_id, state))

    def prepare(self, model_id: str, state: dict[str, Any],
                segments: Mapping[int, dict[str, Any]] | None = None) -> _ModelJoin:
        """A model's join state, decoded from a whole export (:meth:`export_model`) or from a
        head and its sealed segments (:meth:`checkpoint_model`: ``segments`` by id, at least
        those the head lists), without changing this join; KeyError, TypeError or ValueError
        if it is not one."""
        if "segments" not in state:  # a whole export: cut into segments by arrival
            entries = _entries(state)
            entries.sort(key=_by_seq)
            model = _ModelJoin()
            size = self.segment_entries
            for start in range(0, len(entries), size):
                segment = model.open if start == 0 else _Segment(start // size)
                model.segments[segment.id] = segment
                model.open = segment
                model.open_count = min(size, len(entries) - start)
                top = _fill(segment, entries[start:start + size], _NOTHING_POPPED,
                            _NOTHING_POPPED)
                model.seq = max(model.seq, top)
            for segment in model.sealed():
                segment.dirty = True
            return model
        (pd, ps), (wd, ws) = state["popped"]
        popped_pending, popped_waiting = (float(pd), int(ps)), (float(wd), int(ws))
        model = _ModelJoin(int(state["open_id"]))
        model.open_count = int(state["open_count"])
        model.popped_pending, model.popped_waiting = popped_pending, popped_waiting
        model.seq = int(state.get("seq", 0))
        model.segments = {}
        for segment_id in join_segment_ids(state):
            if segments is None or segment_id not in segments:
                raise KeyError(f"segment {segment_id} of the join is missing")
            segment = _Segment(segment_id)
            top = _fill(segment, _entries(segments[segment_id]), popped_pending, popped_waiting)
            model.seq = max(model.seq, top)
            if segment.pending or segment.waiting:
                model.segments[segment_id] = segment
        model.seq = max(model.seq, _fill(model.open, _entries(state), popped_pending,
                                          popped_waiting))
        model.segments[model.open.id] = model.open
        return model

    def install(self, model_id: str, model: _ModelJoin, *, persisted: bool = False) -> None:
        """Replace the model's join state with a prepared one (rebuilding the FIFO order).
        ``persisted``: its sealed segments are the ones the store holds (else they are all
        written at the model's next checkpoint)."""
        old = self._models.pop(model_id, None)
        if old is not None:
            for segment in old.segments.values():
                for pid, entry in segment.pending.items():
                    del self._pending[(model_id, pid)]
                    if entry.prediction is not None:
                        self.live_pending -= 1
                for pid in segment.waiting:
                    del self._waiting[(model_id, pid)]
        if not persisted:
            for segment in model.sealed():
                segment.dirty = True
        pending, waiting = self._pending, self._waiting
        for segment in model.segments.values():
            for pid, entry in segment.pending.items():
                pending[(model_id, pid)] = entry
                if entry.prediction is not None:
                    self.live_pending += 1
            for pid, label in segment.waiting.items():
                waiting[(model_id, pid)] = label
        if not model.empty():
            self._models[model_id] = model
        self._unordered = True  # sorted once, when the order is next needed (see _order)
        self._seq = max(self._seq, model.seq)
        self.touched.add(model_id)
        self.next_deadline = float("-inf")  # the caller's next watermark advance calls expire


_Entry = tuple[str, PendingPrediction | WaitingLabel]


def _by_seq(item: _Entry) -> int:
    return item[1].seq


def _segment_state(segment: _Segment) -> dict[str, Any]:
    return {"pending": [_freeze(pid, e) for pid, e in segment.pending.items()],
            "waiting": list(segment.waiting.items())}


def _entries(state: Mapping[str, Any]) -> list[_Entry]:
    """``(prediction id, entry)`` of an exported state's pending entries and waiting labels."""
    entries: list[_Entry] = [_thaw(item) for item in state["pending"]]
    for pid, label in state["waiting"]:
        if not isinstance(label, WaitingLabel) or not isinstance(pid, str):
            raise TypeError("waiting labels are not (prediction id, WaitingLabel) pairs")
        entries.append((pid, label))
    return entries


def _fill(segment: _Segment, entries: Iterable[_Entry], popped_pending: tuple[float, int],
          popped_waiting: tuple[float, int]) -> int:
    """Put ``entries`` in ``segment``, leaving out those popped from their FIFO (at or before
    the FIFO position of the model's last entry popped: see the module docstring); the highest
    arrival number seen."""
    pd, ps = popped_pending
    wd, ws = popped_waiting
    pending, waiting = segment.pending, segment.waiting
    top = 0
    for pid, entry in entries:
        deadline, seq = entry.deadline, entry.seq
        if seq > top:
            top = seq
        if entry.__class__ is PendingPrediction:
            if deadline > pd or (deadline == pd and seq > ps):
                pending[pid] = entry
                entry.segment = segment
        elif deadline > wd or (deadline == wd and seq > ws):
            waiting[pid] = entry  # type: ignore[assignment]
            entry.segment = segment
    return top


def _runs(ids: list[int]) -> list[list[int]]:
    """Ascending ids as ``[start, end)`` runs.

    >>> _runs([0, 1, 2, 5, 7, 8])
    [[0, 3], [5, 6], [7, 9]]
    """
    runs: list[list[int]] = []
    for i in ids:
        if runs and runs[-1][1] == i:
            runs[-1][1] = i + 1
        else:
            runs.append([i, i + 1])
    return runs


def _ids(runs: Iterable[Iterable[int]]) -> list[int]:
    """The ids of :func:`_runs`."""
    return [i for start, end in runs for i in range(int(start), int(end))]


def join_segment_ids(head: Mapping[str, Any]) -> list[int]:
    """The sealed segment ids a model's join head (:meth:`LabelJoin.checkpoint_model`) lists."""
    return _ids(head["segments"])
