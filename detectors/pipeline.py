"""The whole per-partition detection state: validation, join, detectors, lifecycle, snapshots.

:class:`Pipeline` is what replay and the Kafka consumer both run, input by input. It keeps
this contract:

1. **Errors are values.** :meth:`Pipeline.process_raw` and :meth:`Pipeline.process` never raise
   on data: a refused input comes out as a :class:`~detectors.rejection.Rejection` with its stage
   (``deserialize``, ``validate``, ``join``, ``process``), the original raw bytes and the source
   of the *original* record (an orphan label that expires later carries the label's source).
2. **Every input is accounted for.** Each input ends up exactly once as processed or rejected,
   or is a label still waiting for its prediction::

       consumed + restored_waiting == processed + rejected + waiting

   (``restored_waiting`` counts waiting labels brought in by :meth:`Pipeline.restore_model`).
   A prediction is processed on arrival (its score and features are fed at once); a label is
   processed when it joins. Predictions that never get a label are counted as ``expired`` or
   ``evicted`` (they were already processed).
3. **Event time only.** The watermark is the maximum event timestamp seen. Expiry of joins and
   retirement of idle keys happen inside :meth:`Pipeline.process` as the watermark advances, so
   the same input order gives the same outputs in replay and in the consumer. There is no
   ``flush_expired``: at the end of a *file*, :meth:`Pipeline.drain` rejects the labels still
   waiting (replay calls it); a long-running consumer never drains, it snapshots them instead.
4. **Detections equal River.** Detectors are River's own, fed the per-key value sequence;
   Driftline only decides which firings are published (warm-up, cooldown, warning edges).
5. **Per-model state.** Keys, detectors, windows and the model's pending joins form one unit:
   :meth:`Pipeline.snapshot_model` / :meth:`Pipeline.restore_model` move it as versioned bytes
   (:mod:`detectors.snapshot`: two snapshots back to back, the model's head — watermark,
   pending joins, each key's last-seen time and frozen view (what :meth:`Pipeline.key_views`
   gives), suppressed counts — then its keys);
   :meth:`Pipeline.dirty_models` says which changed since :meth:`Pipeline.mark_clean` (or since
   their restore with ``persisted=True``: the snapshot is the one the store already holds).
   A checkpoint takes :meth:`Pipeline.checkpoint_model` instead: the same head, but the label
   join's sealed segments apart, only those changed since the model's last checkpoint
   (:mod:`detectors.join`), so its cost follows the join's changes, not the entries it holds;
   ``restore_model(..., segments=...)`` reads both back.
6. **Lazy restore.** ``restore_model(..., lazy=True)`` decodes the head only and keeps the keys'
   bytes; the keys are decoded when first needed: an event of the model, an idle-key sweep that
   would retire one of them, :meth:`Pipeline.monitor`. Until then joins, expiry, counters,
   :meth:`Pipeline.keys` and the suppressed counts are as after an eager restore, a snapshot
   of the model writes its keys' bytes back unchanged, and :meth:`Pipeline.key_views` gives
   the views its head kept (the keys' views at the snapshot: equal to an eager restore's; a
   snapshot written before heads kept views gives none until the keys are decoded). Keys'
   bytes that turn out corrupt when decoded are logged and the model's keys start fresh (an
   eager restore refuses the whole snapshot instead).

Outputs of one call, in order: orphans expired by this event's watermark advance, then the
event's own outputs (drift events of a prediction; or the labelled record of a join followed by
its drift events).

>>> from detectors.contracts import Source
>>> pipeline = Pipeline(DetectionConfig())
>>> src = Source(topic="events", partition=0, offset=0)
>>> pipeline.process_raw(b'{"type": "prediction", "prediction_id": "p1", "model_id": "m",'
...     b' "model_version": "v1", "timestamp": 1000, "prediction": true}', src)
[]
>>> [type(o).__name__ for o in pipeline.process_raw(b'{"type": "label", "prediction_id": "p1",'
...     b' "model_id": "m", "timestamp": 2000, "label": false}', src)]
['LabelledRecord']
>>> pipeline.process_raw(b'{"type": "label"', src)[0].stage
'deserialize'
>>> c = pipeline.counters
>>> c.consumed, c.processed, c.rejected_total, c.joined
(3, 2, 1, 1)
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from detectors.config import DetectionConfig
from detectors.contracts import (
    DriftEvent,
    Label,
    LabelledRecord,
    Prediction,
    Source,
    SourceLike,
    as_source,
)
from detectors.decoding import EventDecoder, Refusal
from detectors.events import InputLabel, InputPrediction, from_contract
from detectors.exceptions import SnapshotError
from detectors.join import LabelJoin, PendingPrediction, join_segment_ids
from detectors.labelled import labelled_record
from detectors.lifecycle import Watcher
from detectors.monitor import Clock, KeyMonitor, utc_now
from detectors.rejection import Rejection, Stage
from detectors.snapshot import (
    FORMAT_VERSION,
    SEGMENTED_FORMAT,
    ModelCheckpoint,
    decode,
    encode,
    split,
)
from detectors.views import CounterView, KeyView, PackedViews

__all__ = ["Counters", "Output", "Pipeline"]

log = logging.getLogger(__name__)

Output = DriftEvent | LabelledRecord | Rejection
KeyId = tuple[str, str | None]  # (model_version, segment) within a model

#: A decoded input (:mod:`detectors.events`) or a contract model (tests and tools build those).
InputEvent = InputPrediction | InputLabel | Prediction | Label


Counts = tuple[int, int, int]  # firings suppressed by warm-up, cooldown, direction


#: One operation of a key in a batch: ``(index, prediction, source, label, raw)``: a
#: prediction (``label`` None; ``raw`` unused) or a joined pair (the label's source and raw).
_Op = tuple[int, InputPrediction, SourceLike, InputLabel | None, bytes | None]

#: The clock of a key's monitor while :meth:`Pipeline.process_batch` runs its operations:
#: drift events are stamped ``published_at`` afterwards, in output order.
_UNSTAMPED = datetime(1970, 1, 1, tzinfo=UTC)


def _unstamped() -> datetime:
    return _UNSTAMPED


#: The record index of a tagged output (C-level, for the phase-3 sort).
_index_of = itemgetter(0)


class _KeyRun:
    """A key's operations in one batch: its predictions, and every operation in record order.
    Runs are kept by monitor (``id``; the run holds it): a key retired and made again within a
    batch is two runs."""

    __slots__ = ("monitor", "ops", "predictions")

    def __init__(self, monitor: KeyMonitor) -> None:
        self.monitor = monitor
        self.predictions: list[tuple[int, InputPrediction, SourceLike]] = []
        self.ops: list[_Op] = []


class _LazyKeys:
    """A lazily restored model's keys until they are decoded: their snapshot bytes, each key's
    ``last_seen`` and view (:class:`~detectors.views.PackedViews`; none when the snapshot
    has none), the keys' suppressed counts and the feature watches' part of them, as written;
    ``features``: whether this reader's configuration keeps the feature watches (a decoded key
    drops its feature watch when ``feature_signals`` is off, and with it that part)."""

    __slots__ = ("features", "frame", "last_seen", "oldest", "suppressed_all",
                 "suppressed_features", "views")

    def __init__(self, frame: memoryview, last_seen: dict[KeyId, float], suppressed: Counts,
                 suppressed_features: Counts, views: PackedViews | None,
                 features: bool) -> None:
        self.frame = frame
        self.last_seen = last_seen
        self.oldest = min(last_seen.values(), default=float("inf"))
        self.suppressed_all = suppressed
        self.suppressed_features = suppressed_features
        self.views = views
        self.features = features

    @property
    def suppressed(self) -> Counts:
        """The suppressed counts the keys will have once decoded under this configuration."""
        if self.features:
            return self.suppressed_all
        all_, feat = self.suppressed_all, self.suppressed_features
        return (all_[0] - feat[0], all_[1] - feat[1], all_[2] - feat[2])


def _sum_suppressed(watchers: Iterable[Watcher], extra_cooldown: int = 0) -> Counts:
    warmup = cooldown = direction = 0
    for w in watchers:
        warmup += w.suppressed_warmup
        cooldown += w.suppressed_cooldown
        direction += w.suppressed_direction
    return warmup, cooldown + extra_cooldown, direction


def _suppressed_of(keys: dict[KeyId, KeyMonitor]) -> Counts:
    """Firings suppressed by warm-up, cooldown and direction over ``keys``."""
    return _sum_suppressed((w for m in keys.values() for w in m.watchers()),
                           sum(m.alerts_suppressed() for m in keys.values()))


def _feature_suppressed_of(keys: dict[KeyId, KeyMonitor]) -> Counts:
    """The part of :func:`_suppressed_of` by the keys' feature watches."""
    return _sum_suppressed(w for m in keys.values() if m.feature_watch is not None
                           for w in m.feature_watch.watchers())


def _counts(value: Any) -> Counts:
    warmup, cooldown, direction = (int(n) for n in value)
    return warmup, cooldown, direction


class Counters:
    """Accounting of one pipeline (one partition) since it was created."""

    __slots__ = (
        "_join",
        "consumed",
        "drift_events",
        "keys_refused",
        "keys_retired",
        "processed",
        "rejected",
        "restored_waiting",
    )

    def __init__(self, join: LabelJoin) -> None:
        self._join = join
        self.consumed = 0
        self.processed = 0
        self.rejected: dict[str, int] = {}
        self.restored_waiting = 0
        self.keys_refused = 0
        self.keys_retired = 0
        self.drift_events = 0

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    @property
    def joined(self) -> int:
        return self._join.joined

    @property
    def orphaned(self) -> int:
        return self._join.orphaned

    @property
    def duplicates(self) -> int:
        return self._join.duplicates

    @property
    def expired(self) -> int:
        return self._join.expired

    @property
    def evicted(self) -> int:
        return self._join.evicted

    @property
    def pending(self) -> int:
        return self._join.live_pending

    @property
    def waiting(self) -> int:
        return self._join.waiting

    def balanced(self) -> bool:
        """The accounting identity of the module docstring."""
        return (
            self.consumed + self.restored_waiting
            == self.processed + self.rejected_total + self.waiting
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "consumed": self.consumed,
            "processed": self.processed,
            "rejected": dict(self.rejected),
            "restored_waiting": self.restored_waiting,
            **self._join.counters(),
            "keys_refused": self.keys_refused,
            "keys_retired": self.keys_retired,
            "drift_events": self.drift_events,
        }


class Pipeline:
    """Per-partition detection state; see the module docstring for the contract."""

    def __init__(self, config: DetectionConfig | None = None, clock: Clock = utc_now) -> None:
        self.config = config if config is not None else DetectionConfig()
        self.clock = clock
        cfg = self.config
        self._known = frozenset(cfg.known_models) if cfg.known_models is not None else None
        self.join = LabelJoin(
            join_ttl=cfg.join_ttl_s,
            label_wait_ttl=cfg.label_wait_ttl_s,
            max_pending=cfg.max_pending_joins,
            max_waiting=cfg.max_waiting_labels,
        )
        self.counters = Counters(self.join)
        self.watermark = float("-inf")
        self._models: dict[str, dict[KeyId, KeyMonitor]] = {}
        #: Lazily restored models whose keys are not decoded yet (never also in ``_models``).
        self._lazy: dict[str, _LazyKeys] = {}
        self._n_keys = 0
        self._idle_ttl = cfg.idle_key_ttl_s
        self._next_sweep = float("-inf")
        self._dirty: set[str] = set()
        self._refused_logged: set[str] = set()
        self._decoder = EventDecoder()

    # -- inputs ------------------------------------------------------------------------------------

    def _reject(
        self,
        stage: Stage,
        error_class: str,
        message: str,
        source: SourceLike,
        raw: bytes | None,
        model_id: str | None,
    ) -> Rejection:
        rejection = Rejection(stage, error_class, message, as_source(source), raw, model_id)
        self._count_rejection(rejection)
        return rejection

    def _count_rejection(self, rejection: Rejection) -> None:
        reason = rejection.reason
        self.counters.rejected[reason] = self.counters.rejected.get(reason, 0) + 1

    def process_raw(self, raw: bytes, source: Source) -> list[Output]:
        """Decode one JSON input (:mod:`detectors.decoding`, no field mapping) and process it."""
        event = self._decoder.decode(raw, source.topic)
        if isinstance(event, Refusal):
            return self.refuse(event, source, raw)
        return self.process(event, source, raw)

    def refuse(self, refusal: Refusal, source: Source, raw: bytes | None) -> list[Output]:
        """Account for an input its decoder refused (it is consumed and rejected)."""
        self.counters.consumed += 1
        return [self._reject(*refusal, source, raw, None)]

    def process(
        self, event: InputEvent, source: SourceLike, raw: bytes | None = None
    ) -> list[Output]:
        """Process one validated prediction or label; see the module docstring."""
        return [o for _, o in self.process_batch(((event, source, raw),))]

    def process_batch(
        self, records: Sequence[tuple[InputEvent, SourceLike, bytes | None]]
    ) -> list[tuple[int, Output]]:
        """Process a batch of ``(event, source, raw)`` in order: the same outputs, in the same
        order, and the same state as :meth:`process` called record by record; each output
        comes with the index of the record whose processing emitted it (an orphan expiring
        comes with the record whose event time expired it, its ``source`` is the label's).

        A source may be given as ``(topic, partition, offset)``: a :class:`Source` is made
        only for the outputs that carry one (drift events, rejections, waiting labels).

        Per key, in three phases (keys are independent of each other; a key's own operations
        keep their order):

        1. in record order, every decision shared by the keys: watermark, join expiry and
           idle-key sweeps, key lookup (``last_seen``) or refusal, the join's duplicate and
           waiting decisions, counters; refusals, duplicates and orphans are output here, and
           each accepted record becomes an operation of its key (a prediction; a joined pair);
        2. per key, its operations (:class:`_KeyRun`): its predictions' detectors over the
           whole run (:meth:`KeyMonitor.observe_predictions`), then in record order each
           prediction's estimated performance and each joined pair
           (:meth:`KeyMonitor.observe_label`: labels feed CBPE's calibration, which the next
           predictions read);
        3. the outputs merged by record index (a record's phase-1 outputs before its key's),
           and each drift event stamped ``published_at`` from the clock in that order (the
           clock is called once per event, in output order, as record by record).
        """
        tagged: list[tuple[int, Output]] = []
        runs: dict[int, _KeyRun] = {}
        admit = self._admit
        for i, (event, source, raw) in enumerate(records):
            admit(i, event, source, raw, tagged, runs)
        if not runs:
            return tagged
        events = self.counters.drift_events
        key_outputs = [self._run_key(run) for run in runs.values()]
        key_outputs = [o for o in key_outputs if o]
        if not key_outputs:
            return tagged
        if tagged or len(key_outputs) > 1:
            for o in key_outputs:
                tagged.extend(o)
            tagged.sort(key=_index_of)  # stable: a record's phase-1 outputs stay first
        else:
            tagged = key_outputs[0]
        if self.counters.drift_events == events:
            return tagged
        clock = self.clock
        for k, (i, out) in enumerate(tagged):
            if out.__class__ is DriftEvent:
                tagged[k] = (i, out.model_copy(update={"published_at": clock()}))
        return tagged

    def _admit(
        self,
        i: int,
        event: InputEvent,
        source: SourceLike,
        raw: bytes | None,
        out: list[tuple[int, Output]],
        runs: dict[int, _KeyRun],
    ) -> None:
        """Phase 1 of :meth:`process_batch` for record ``i``."""
        self.counters.consumed += 1
        cls = event.__class__
        if cls is not InputPrediction and cls is not InputLabel:
            event = from_contract(event)  # type: ignore[arg-type]
            cls = event.__class__
        model_id = event.model_id
        if self._known is not None and model_id not in self._known:
            out.append((i, self._reject(
                "validate",
                "UnknownModel",
                f"model {model_id!r} is not in detection.known_models",
                source,
                raw,
                model_id,
            )))
            return
        ts = event.timestamp.timestamp()
        if ts > self.watermark:
            self.watermark = ts
            if ts >= self.join.next_deadline:
                for orphan in self.join.expire(ts):
                    self._count_rejection(orphan)
                    out.append((i, orphan))
            if ts >= self._next_sweep:
                self._sweep_idle_keys()
        if cls is InputPrediction:
            self._on_prediction(i, event, source, raw, out, runs)  # type: ignore[arg-type]
        else:
            self._on_label(i, event, source, raw, out, runs)  # type: ignore[arg-type]

    def _monitor(self, model_id: str, version: str, segment: str | None) -> KeyMonitor | None:
        keys = self._models.get(model_id)
        if keys is None:
            keys = self._keys_of(model_id)
        monitor = keys.get((version, segment))
        if monitor is None:
            if self._n_keys >= self.config.max_tracked_keys:
                self.counters.keys_refused += 1
                if model_id not in self._refused_logged:
                    self._refused_logged.add(model_id)
                    log.warning(
                        "refusing new key (%s, %s, %s): max_tracked_keys=%d reached",
                        model_id,
                        version,
                        segment,
                        self.config.max_tracked_keys,
                    )
                return None
            monitor = keys[(version, segment)] = KeyMonitor(
                self.config, model_id, version, segment, self.clock
            )
            self._n_keys += 1
        monitor.last_seen = self.watermark
        return monitor

    def _refuse_key(
        self, model_id: str, version: str, segment: str | None, source: SourceLike, raw: bytes | None
    ) -> Rejection:
        return self._reject(
            "process",
            "KeyCapacityExceeded",
            f"key ({model_id}, {version}, {segment}) refused: max_tracked_keys="
            f"{self.config.max_tracked_keys} keys are tracked",
            source,
            raw,
            model_id,
        )

    def _on_prediction(
        self,
        i: int,
        prediction: InputPrediction,
        source: SourceLike,
        raw: bytes | None,
        out: list[tuple[int, Output]],
        runs: dict[int, _KeyRun],
    ) -> None:
        model_id = prediction.model_id
        monitor = self._monitor(model_id, prediction.model_version, prediction.segment)
        if monitor is None:
            out.append((i, self._refuse_key(
                model_id, prediction.model_version, prediction.segment, source, raw
            )))
            return
        status, waiting = self.join.add_prediction(prediction, source, self.watermark)
        if status == "duplicate":
            out.append((i, self._reject(
                "join",
                "DuplicatePrediction",
                f"prediction {prediction.prediction_id!r} of model {model_id!r} seen before",
                source,
                raw,
                model_id,
            )))
            return
        self._dirty.add(model_id)
        self.counters.processed += 1
        run = runs.get(id(monitor))
        if run is None:
            run = runs[id(monitor)] = _KeyRun(monitor)
        run.predictions.append((i, prediction, source))
        run.ops.append((i, prediction, source, None, None))
        if waiting is not None:
            run.ops.append((i, prediction, waiting.source, waiting.label, waiting.raw))

    def _on_label(
        self,
        i: int,
        label: InputLabel,
        source: SourceLike,
        raw: bytes | None,
        out: list[tuple[int, Output]],
        runs: dict[int, _KeyRun],
    ) -> None:
        model_id = label.model_id
        status, found = self.join.add_label(label, source, raw, self.watermark)
        if status == "duplicate":
            out.append((i, self._reject(
                "join",
                "DuplicateLabel",
                f"second label for prediction {label.prediction_id!r} of model {model_id!r}",
                source,
                raw,
                model_id,
            )))
            return
        self._dirty.add(model_id)
        if status == "waiting":
            if found:
                for orphan in found:
                    self._count_rejection(orphan)
                    out.append((i, orphan))
            return
        entry: PendingPrediction = found
        prediction = entry.prediction
        assert prediction is not None
        monitor = self._monitor(model_id, prediction.model_version, prediction.segment)
        if monitor is None:
            out.append((i, self._refuse_key(
                model_id, prediction.model_version, prediction.segment, source, raw
            )))
            return
        run = runs.get(id(monitor))
        if run is None:
            run = runs[id(monitor)] = _KeyRun(monitor)
        run.ops.append((i, prediction, source, label, raw))

    def _run_key(self, run: _KeyRun) -> list[tuple[int, Output]]:
        """Phase 2 of :meth:`process_batch` for one key: its outputs, by record index."""
        monitor = run.monitor
        out: list[tuple[int, Output]] = []
        events = 0
        monitor.clock = _unstamped  # published_at is stamped in phase 3
        try:
            fired = monitor.observe_predictions(run.predictions)
            if fired is not None:
                events += len(fired)
            k = 0
            for i, prediction, source, label, raw in run.ops:
                if label is None:
                    while fired is not None and k < len(fired) and fired[k][0] == i:
                        out.append(fired[k])
                        k += 1
                    estimated = monitor.observe_estimate(prediction, source)
                    if estimated:
                        events += len(estimated)
                        out.extend([(i, e) for e in estimated])
                else:
                    events += self._joined(i, prediction, label, source, raw, monitor, out)
        finally:
            monitor.clock = self.clock
        self.counters.drift_events += events
        return out

    def _joined(
        self,
        i: int,
        prediction: InputPrediction,
        label: InputLabel,
        source: SourceLike,
        raw: bytes | None,
        monitor: KeyMonitor,
        out: list[tuple[int, Output]],
    ) -> int:
        """A joined pair through the key's label path; how many drift events it output."""
        result = monitor.observe_label(
            prediction.prediction, label.label, label.timestamp, source, prediction.timestamp,
            score=prediction.score,
        )
        if isinstance(result, str):
            out.append((i, self._reject(
                "process", "LabelTypeMismatch", result, source, raw, label.model_id
            )))
            return 0
        self.counters.processed += 1
        out.append((i, labelled_record(prediction, label)))
        if result:
            out.extend([(i, e) for e in result])
        return len(result)

    def drain(self) -> list[Output]:
        """End of input: reject every label still waiting for its prediction (as orphans)."""
        orphans = self.join.drain()
        for orphan in orphans:
            self._count_rejection(orphan)
        return list(orphans)

    # -- keys ----------------------------------------------------------------------------------------

    def _keys_of(self, model_id: str) -> dict[KeyId, KeyMonitor]:
        """The model's keys, decoded first if it was restored lazily (created empty if new)."""
        keys = self._models.get(model_id)
        if keys is not None:
            return keys
        lazy = self._lazy.pop(model_id, None)
        keys = {}
        if lazy is not None:
            self._n_keys -= len(lazy.last_seen)
            try:
                keys = self._decode_keys(model_id, lazy.frame)
            except SnapshotError as exc:
                log.error("model %s: its restored keys cannot be decoded (%s); they start fresh",
                          model_id, exc)
                self._dirty.add(model_id)
            self._n_keys += len(keys)
        self._models[model_id] = keys
        return keys

    def _decode_keys(self, model_id: str, frame: bytes | memoryview) -> dict[KeyId, KeyMonitor]:
        """Decoded and attached keys of a keys snapshot; :class:`SnapshotError` if refused."""
        keys = decode(bytes(frame), model_id)
        if not isinstance(keys, dict) or not all(isinstance(m, KeyMonitor)
                                                 for m in keys.values()):
            raise SnapshotError(f"snapshot of model {model_id!r}: keys are not KeyMonitor "
                                "objects")
        for monitor in keys.values():
            monitor.attach(self.config, self.clock)
        return keys

    def _sweep_idle_keys(self) -> None:
        horizon = self.watermark - self._idle_ttl
        for model_id in [m for m, lazy in self._lazy.items() if lazy.oldest < horizon]:
            self._keys_of(model_id)  # a key to retire: decoded, then swept below
        for model_id, keys in self._models.items():
            idle = [key for key, monitor in keys.items() if monitor.last_seen < horizon]
            for key in idle:
                del keys[key]
                self._n_keys -= 1
                self.counters.keys_retired += 1
                self._dirty.add(model_id)
        self._next_sweep = self.watermark + self._idle_ttl / 8

    def keys(self) -> list[tuple[str, str, str | None]]:
        """The tracked keys (model_id, model_version, segment)."""
        return [(m, v, s) for m, keys in self._models.items() for (v, s) in keys] + [
            (m, v, s) for m, lazy in self._lazy.items() for (v, s) in lazy.last_seen]

    def monitor(self, model_id: str, version: str, segment: str | None) -> KeyMonitor | None:
        """The monitor of a key, if tracked (a lazily restored model's keys are decoded)."""
        if model_id in self._lazy:
            self._keys_of(model_id)
        return self._models.get(model_id, {}).get((version, segment))

    def counter_view(self) -> CounterView:
        """The counters as a frozen :class:`~detectors.views.CounterView`."""
        c = self.counters
        join = self.join
        suppressed = self.suppressed()
        return CounterView(
            consumed=c.consumed, processed=c.processed, rejected=dict(c.rejected),
            restored_waiting=c.restored_waiting, pending=join.live_pending,
            waiting=join.waiting, joined=join.joined, duplicates=join.duplicates,
            orphaned=join.orphaned, expired=join.expired, evicted=join.evicted,
            keys_refused=c.keys_refused, keys_retired=c.keys_retired, tracked_keys=self._n_keys,
            drift_events=c.drift_events, suppressed_warmup=suppressed["warmup"],
            suppressed_cooldown=suppressed["cooldown"],
            suppressed_direction=suppressed["direction"],
        )

    def key_views(self, detector_statistics: bool = True) -> Iterator[KeyView]:
        """A frozen :class:`~detectors.views.KeyView` of every tracked key (its detectors'
        statistics only when ``detector_statistics``); a lazily restored model's keys: the views
        its snapshot kept (none from a snapshot written before views were kept)."""
        for model_id, keys in self._models.items():
            for key, monitor in keys.items():
                yield _view(model_id, key, monitor, detector_statistics)
        for model_id, lazy in self._lazy.items():
            if lazy.views is not None:
                yield from lazy.views.views(model_id, detector_statistics=detector_statistics,
                                            estimates=lazy.features)

    def suppressed(self) -> dict[str, int]:
        """Firings suppressed by warm-up, by cooldown and by direction (an ADWIN cut the way
        its ``direction`` does not publish), over all tracked keys."""
        warmup = cooldown = direction = 0
        counts = [_suppressed_of(keys) for keys in self._models.values()]
        for w, c, d in counts + [lazy.suppressed for lazy in self._lazy.values()]:
            warmup, cooldown, direction = warmup + w, cooldown + c, direction + d
        return {"warmup": warmup, "cooldown": cooldown, "direction": direction}

    # -- per-model state --------------------------------------------------------------------------

    def model_ids(self) -> set[str]:
        """Models with any state here (keys or joins)."""
        ids = set(self._models)
        ids.update(self._lazy)
        ids.update(self.join.export_models())
        return ids

    def dirty_models(self) -> set[str]:
        """Models whose state changed since the last :meth:`mark_clean`."""
        self._dirty.update(self.join.touched)
        return set(self._dirty)

    def mark_clean(self) -> None:
        """The dirty models' state (and their join's changed segments) is persisted."""
        self.join.mark_clean(self._dirty | self.join.touched)
        self._dirty.clear()
        self.join.touched.clear()

    def snapshot_model(self, model_id: str) -> bytes:
        """Versioned bytes of the model's keys, detectors, windows and pending joins: the head
        (watermark, joins, each key's last-seen time and frozen view, suppressed counts), then
        the keys (a lazily restored model's keys: their bytes and head fields as restored)."""
        return self._snapshot(model_id, self.join.export_model(model_id), FORMAT_VERSION)

    def checkpoint_model(self, model_id: str) -> ModelCheckpoint:
        """The model's state as a checkpoint stores it (:class:`~detectors.snapshot.ModelCheckpoint`):
        :meth:`snapshot_model`'s, but the head holds only the join's open segment and the list of
        its sealed ones, and only the sealed segments changed since :meth:`mark_clean` come
        with it (:mod:`detectors.join`): O(join changes), not O(join entries)."""
        join_head, changed = self.join.checkpoint_model(model_id)
        return ModelCheckpoint(
            self._snapshot(model_id, join_head, SEGMENTED_FORMAT),
            {i: encode(model_id, {"segment": i, **state}, SEGMENTED_FORMAT)
             for i, state in changed.items()},
            frozenset(join_segment_ids(join_head)))

    def _snapshot(self, model_id: str, join_state: dict[str, Any], snapshot_format: int
                  ) -> bytes:
        lazy = self._lazy.get(model_id)
        if lazy is not None:
            frame, last_seen, views = bytes(lazy.frame), lazy.last_seen, lazy.views
            suppressed, suppressed_features = lazy.suppressed_all, lazy.suppressed_features
        else:
            keys = self._models.get(model_id, {})
            frame = encode(model_id, keys)
            last_seen = {key: monitor.last_seen for key, monitor in keys.items()}
            views = PackedViews.pack((key, _view(model_id, key, monitor, True))
                                     for key, monitor in keys.items())
            suppressed = _suppressed_of(keys)
            suppressed_features = _feature_suppressed_of(keys)
        head = {
            "model_id": model_id,
            "watermark": self.watermark,
            "join": join_state,
            "last_seen": last_seen,
            "suppressed": suppressed,
            # Since views were kept (a reader from before ignores both):
            "suppressed_features": suppressed_features,
            "views": views.head() if views is not None else None,
        }
        return encode(model_id, head, snapshot_format) + frame

    def restore_model(self, model_id: str, data: bytes | memoryview, *, lazy: bool = False,
                      persisted: bool = False,
                      segments: Mapping[int, bytes | memoryview] | None = None) -> None:
        """Replace the model's state with a snapshot; :class:`SnapshotError` leaves it unchanged.

        ``data``: a whole snapshot (:meth:`snapshot_model`) or a checkpoint's head
        (:meth:`checkpoint_model`), whose join's sealed segments are read from ``segments``
        (the latest bytes stored of each, by id; those its head lists must be there).
        ``lazy``: decode the head only and the keys when first needed (module docstring, 6);
        the keys' bytes are checked then. Restored detectors keep the parameters they were built
        with; the current configuration applies to keys and features created from now on.
        ``persisted``: ``data`` (and ``segments``) is the model's state as last persisted (the
        state topic's latest records), so the model is clean until it changes; otherwise it is
        dirty. (A whole snapshot's join is cut into segments here: they are written, with the
        head, the next time the model is.)
        """
        head, frame = split(data)
        payload = decode(head, model_id)
        keys: dict[KeyId, KeyMonitor] | None = None
        views: PackedViews | None = None
        suppressed_features: Counts = (0, 0, 0)
        try:
            join_state = payload["join"]
            watermark = float(payload["watermark"])
            if payload["model_id"] != model_id:
                raise TypeError("unexpected payload layout")
            if "keys" in payload:  # written before the keys had a snapshot of their own
                keys = payload["keys"]
                if not isinstance(keys, dict) or not all(isinstance(m, KeyMonitor)
                                                         for m in keys.values()):
                    raise TypeError("keys are not KeyMonitor objects")
                for monitor in keys.values():
                    monitor.attach(self.config, self.clock)
                last_seen: dict[KeyId, float] = {}
                suppressed: Counts = (0, 0, 0)
            else:
                last_seen = {key: float(seen) for key, seen in payload["last_seen"].items()}
                suppressed = _counts(payload["suppressed"])
                # Both written since heads keep views (a lazy model from before: None, 0s).
                if payload.get("views") is not None:
                    views = PackedViews.from_head(payload["views"], last_seen)
                if "suppressed_features" in payload:
                    suppressed_features = _counts(payload["suppressed_features"])
            segmented = "segments" in join_state
            segment_states = self._segment_states(model_id, join_state, segments)
            join = self.join.prepare(model_id, join_state, segment_states)
        except (KeyError, TypeError, ValueError) as exc:
            raise SnapshotError(f"snapshot of model {model_id!r}: {exc}") from exc
        if keys is None and not lazy:
            keys = self._decode_keys(model_id, frame)
        # Validated: apply (nothing below can fail on the snapshot's content).
        previous = self._models.pop(model_id, {})
        was_lazy = self._lazy.pop(model_id, None)
        self._n_keys -= len(previous) + (len(was_lazy.last_seen) if was_lazy else 0)
        if keys is None:
            features = self.config.setting(model_id, "feature_signals").enabled
            self._lazy[model_id] = _LazyKeys(frame, last_seen, suppressed, suppressed_features,
                                             views, features)
            self._n_keys += len(last_seen)
        else:
            self._models[model_id] = keys
            self._n_keys += len(keys)
        previous_waiting = self.join.waiting_of(model_id)
        self.join.install(model_id, join, persisted=persisted and segmented)
        self.counters.restored_waiting += self.join.waiting_of(model_id) - previous_waiting
        if watermark > self.watermark:
            self.watermark = watermark
        if persisted:
            self._dirty.discard(model_id)
            self.join.touched.discard(model_id)
        else:
            self._dirty.add(model_id)

    def restore_watermark(self, watermark: float) -> None:
        """Raise the watermark to a persisted one (the partition's at its last checkpoint:
        events refused there may have advanced it without changing any model). Nothing
        expires: an uninterrupted run already expired what that watermark passed, which
        changed those models, so their restored heads are as of then or later."""
        if watermark > self.watermark:
            self.watermark = watermark

    @staticmethod
    def _segment_states(model_id: str, join_state: dict[str, Any],
                        segments: Mapping[int, bytes | memoryview] | None
                        ) -> dict[int, dict[str, Any]] | None:
        """The decoded sealed segments a segmented join's head lists (None for a whole one);
        KeyError when one is missing, :class:`SnapshotError` when one is refused."""
        if "segments" not in join_state:
            return None
        states = {}
        for segment_id in join_segment_ids(join_state):
            data = (segments or {}).get(segment_id)
            if data is None:
                raise KeyError(f"segment {segment_id} of its label join is not stored")
            state = decode(bytes(data), model_id)
            if not isinstance(state, dict) or state.get("segment") != segment_id:
                raise TypeError(f"segment {segment_id} of its label join holds another one")
            states[segment_id] = state
        return states


def _view(model_id: str, key: KeyId, monitor: KeyMonitor, detector_statistics: bool
          ) -> KeyView:
    version, segment = key
    return KeyView(model_id, version, segment, monitor.rolling_metrics(),
                   monitor.detector_views() if detector_statistics else (),
                   monitor.estimated_metrics(), monitor.estimated_gap())

