"""What asks for a retrain, normalised: drift events, on-demand triggers, the schedule.

Contract: every source becomes a :class:`TriggerRef` whose ``trigger_id`` is stable across
replays and restarts, so the policy can dedupe by id and the decision log can tell which triggers
were answered:

* a drift event keeps its own ``event_id`` (deterministic per SPEC §3); its ``change_point`` is
  the event's ``change_point.at``, or its ``detected_at`` when the detector gave no estimate;
* an on-demand :class:`~retrain_worker.contracts.Trigger` keeps its ``trigger_id``;
* the schedule names each interval slot: ``schedule:<model_id>:<interval>:<slot>``, where the slot
  is ``floor(now / interval)``; one slot is answered once, whatever restarts happen.

A retrain event's ``event_id`` is derived from the set of trigger ids it answers
(:func:`retrain_event_id`), so a retry of the same decision carries the same id.

>>> ref = schedule_trigger("fraud", 3600.0, now=7300.0)
>>> ref.trigger_id, ref.origin, ref.event_time.isoformat()
('schedule:fraud:3600:2', 'schedule', '1970-01-01T02:00:00+00:00')
>>> retrain_event_id(["b", "a"]) == retrain_event_id(["a", "b", "a"])
True
>>> retrain_event_id(["a"])
'rt-ca978112ca1bbdcafac231b3'
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from detectors.contracts import DriftEvent
from retrain_worker.contracts import Trigger

Origin = Literal["drift", "on_demand", "schedule", "follow_up"]


@dataclass(frozen=True)
class TriggerRef:
    """One request for a retrain, whatever its source."""

    trigger_id: str
    model_id: str
    origin: Origin
    event_time: datetime
    #: Wall-clock time (epoch seconds) the worker first saw it: trigger-to-decision latency.
    received_at: float
    kind: str | None = None
    severity: str | None = None
    segment: str | None = None
    model_version: str | None = None
    reason: str = ""
    #: Where the new regime began (a drift event's ``change_point.at``), when known.
    change_point: datetime | None = None
    #: Whether ``change_point`` is a detector's estimate (False: the detection time stands in).
    estimated: bool = False


def from_drift_event(event: DriftEvent, received_at: float) -> TriggerRef:
    return TriggerRef(
        trigger_id=event.event_id,
        model_id=event.model_id,
        origin="drift",
        event_time=event.detected_at,
        received_at=received_at,
        kind=event.kind,
        severity=event.severity,
        segment=event.segment,
        model_version=event.model_version,
        reason=f"{event.kind} {event.severity} on {event.signal} ({event.detector})",
        # Without the detector's estimate, the detection itself: later than the change, so a
        # window from it holds the new regime only (it waits longer for enough of it).
        change_point=event.change_point.at if event.change_point is not None else event.detected_at,
        estimated=event.change_point is not None,
    )


def from_trigger(trigger: Trigger, received_at: float) -> TriggerRef:
    return TriggerRef(
        trigger_id=trigger.trigger_id,
        model_id=trigger.model_id,
        origin="on_demand",
        event_time=trigger.timestamp,
        received_at=received_at,
        reason=f"on demand by {trigger.requested_by or 'unknown'}: {trigger.reason}",
    )


def schedule_trigger(model_id: str, interval_s: float, now: float) -> TriggerRef:
    """The trigger of the interval slot that contains ``now``."""
    slot = int(now // interval_s)
    return TriggerRef(
        trigger_id=f"schedule:{model_id}:{interval_s:g}:{slot}",
        model_id=model_id,
        origin="schedule",
        event_time=datetime.fromtimestamp(slot * interval_s, tz=UTC),
        received_at=now,
        reason=f"every {interval_s:g} s",
    )


def follow_up_trigger(
    model_id: str, parent_event_id: str, count: int, change_point: datetime | None, now: float
) -> TriggerRef:
    """The ``count``-th follow-up retrain after the decision ``parent_event_id`` (a promotion on
    a short post-change window): its id is derived from the parent's, so the decision log tells
    whether it was answered.

    >>> follow_up_trigger("fraud", "rt-abc", 1, None, 0.0).trigger_id
    'follow_up:fraud:rt-abc:1'
    """
    return TriggerRef(
        trigger_id=f"follow_up:{model_id}:{parent_event_id}:{count}",
        model_id=model_id,
        origin="follow_up",
        event_time=datetime.fromtimestamp(now, tz=UTC),
        received_at=now,
        reason=f"follow-up {count} as the new regime's data grows",
        change_point=change_point,
    )


def follow_up_count(trigger_id: str) -> int:
    """The follow-up number of a follow-up trigger id, 0 for any other trigger.

    >>> follow_up_count("follow_up:fraud:rt-abc:2"), follow_up_count("de-123")
    (2, 0)
    """
    if not trigger_id.startswith("follow_up:"):
        return 0
    try:
        return int(trigger_id.rsplit(":", 1)[1])
    except ValueError:
        return 0


def retrain_event_id(trigger_ids: Iterable[str]) -> str:
    """Deterministic id of the decision answering exactly these triggers."""
    material = "\x1f".join(sorted(set(trigger_ids)))
    return "rt-" + hashlib.sha256(material.encode()).hexdigest()[:24]


def deferral_event_id(trigger_ids: Iterable[str]) -> str:
    """Deterministic id of the ``deferred`` notice for these triggers (not their answer).

    >>> deferral_event_id(["a"]) != retrain_event_id(["a"])
    True
    """
    material = "deferred\x1f" + "\x1f".join(sorted(set(trigger_ids)))
    return "rt-" + hashlib.sha256(material.encode()).hexdigest()[:24]


__all__ = [
    "Origin",
    "TriggerRef",
    "deferral_event_id",
    "follow_up_count",
    "follow_up_trigger",
    "from_drift_event",
    "from_trigger",
    "retrain_event_id",
    "schedule_trigger",
]
