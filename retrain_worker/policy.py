"""Retrain policy per model: which triggers start a training, which are answered without one.

Pure: no Kafka, no clock of its own (callers pass ``now``, wall-clock epoch seconds).

Contract:

1. Dedupe by trigger id: an id already answered (decision log) or already waiting/running is a
   ``duplicate`` and never answered twice.
2. Drift triggers count only when their kind and severity are configured for the model; others
   are ``ignored`` (they need no answer), and so are drift triggers on a model version a
   promotion has replaced (``previous_version`` of a ``promoted`` decision, until it is promoted
   again): the old version's detectors still report the regime its replacement was trained
   for while serving swaps over, and such a report is not a new regime.
3. Episode: the first trigger of a model opens an episode; triggers arriving before it is decided
   join it, and so do triggers arriving while its training runs (``joined_running``). One episode
   gives one decision, which lists every trigger it answers.
4. An episode is ready ``episode_window_s`` after it opened. Then, if the model's last trained
   decision (promoted, rejected or failed) is younger than ``cooldown_s``, it is answered with
   ``skipped``/``cooldown`` — unless an on-demand trigger bypasses the policy.
5. At most ``max_concurrent`` trainings run at once over all models, one per model; a ready
   episode waits for a slot, oldest first.
6. :meth:`Policy.finished` records a published decision: its triggers become answered; a trained
   decision restarts the cooldown and moves the "new samples since" mark.
7. Deferral: a training that found too few post-change labelled records comes back as
   :meth:`Policy.deferred`: the episode waits (triggers arriving meanwhile join it) and is ready
   again ``deferral.recheck_s`` later, without a cooldown check; it may wait until
   ``deferral.deadline_s`` after it was first deferred (:meth:`Policy.may_defer`), then the job
   answers ``skipped``. The ``deferred`` notice is published once per episode: a ``deferred``
   event in the decision log marks its triggers (not answered), so after a restart or a
   rebalance the re-read triggers resume the wait with its original start.
8. Follow-up: a promotion trained on fewer than ``follow_up.short_window`` records schedules a
   follow-up retrain (a synthetic trigger whose id derives from that decision's), ready every
   ``follow_up.recheck_s``; the job trains once the change-point window holds ``growth_factor``
   times the records of the last training (at most ``window.last_n``, what a window holds). Each follow-up decision may schedule the next, up to
   ``max_count``; a new drift trigger or the follow-up's deadline drops it (no event).

>>> from retrain_worker.config import ModelPolicy
>>> from retrain_worker.triggers import TriggerRef
>>> from datetime import UTC, datetime
>>> p = Policy(lambda m: ModelPolicy(episode_window_s=5), max_concurrent=1)
>>> def drift(i):
...     return TriggerRef(f"d{i}", "fraud", "drift", datetime.now(UTC), 0.0,
...                       kind="concept", severity="drift")
>>> [p.offer(drift(i), now=100.0 + i) for i in (1, 2, 2)]
['opened', 'joined', 'duplicate']
>>> p.ready(now=103.0)
[]
>>> [(d.action, d.trigger_ids) for d in p.ready(now=106.0)]
[('train', ['d1', 'd2'])]
>>> p.offer(drift(3), now=107.0)
'joined_running'
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from retrain_worker.config import ModelPolicy
from retrain_worker.contracts import RetrainEvent
from retrain_worker.triggers import TriggerRef, follow_up_count, follow_up_trigger

Offer = Literal["ignored", "duplicate", "opened", "joined", "joined_running"]
TRAINED_STATUSES = frozenset({"promoted", "rejected", "failed"})


@dataclass
class Episode:
    """Triggers of one model answered by one decision."""

    model_id: str
    opened_at: float
    triggers: list[TriggerRef] = field(default_factory=list)
    #: Wall-clock time (epoch s) the episode was first deferred (None: never).
    deferred_since: float | None = None
    #: Whether its ``deferred`` notice is in the decision log.
    deferral_published: bool = False
    #: Not ready before this time (a deferred episode's next check).
    not_before: float = 0.0
    #: A follow-up trains only once its window holds this many records.
    min_records: int = 0

    @property
    def trigger_ids(self) -> list[str]:
        return [t.trigger_id for t in self.triggers]

    @property
    def bypasses_policy(self) -> bool:
        return any(t.origin == "on_demand" for t in self.triggers)

    @property
    def is_follow_up(self) -> bool:
        return all(t.origin == "follow_up" for t in self.triggers)

    @property
    def change_point(self) -> datetime | None:
        """Where its regime began: the median of its triggers' estimates (several detectors
        saw one change; the median is robust to one that leans early or late), else the
        earliest detection time standing in for one (every detection is after the change)."""
        estimates = sorted(t.change_point for t in self.triggers
                           if t.change_point is not None and t.estimated)
        if estimates:
            return estimates[(len(estimates) - 1) // 2]
        stand_ins = [t.change_point for t in self.triggers if t.change_point is not None]
        return min(stand_ins) if stand_ins else None


@dataclass(frozen=True)
class Ready:
    """An episode the caller must act on now: train it, or answer it with ``skipped``."""

    episode: Episode
    action: Literal["train", "skip"]
    reason: str = ""

    @property
    def trigger_ids(self) -> list[str]:
        return self.episode.trigger_ids


@dataclass
class _FollowUp:
    trigger: TriggerRef
    min_records: int
    due_by: float
    not_before: float = 0.0


@dataclass
class _ModelState:
    pending: Episode | None = None
    running: Episode | None = None
    last_trained_at: float | None = None
    #: End of the last trained window: records labelled after it are "new samples".
    last_window_end: datetime | None = None
    current_version: str | None = None
    #: The latest change point seen for the model (the current regime's start).
    change_point: datetime | None = None
    follow_up: _FollowUp | None = None
    #: Versions a promotion replaced: their drift triggers are ``ignored`` (contract 2).
    replaced_versions: set[str] = field(default_factory=set)


class Policy:
    """Decides, per model, when triggers lead to a training (see the module docstring)."""

    def __init__(self, policy_for: Callable[[str], ModelPolicy], max_concurrent: int) -> None:
        self._policy_for = policy_for
        self._max_concurrent = max_concurrent
        self._models: dict[str, _ModelState] = {}
        self._answered: set[str] = set()
        #: trigger id → wall-clock time its episode was first deferred (decision log).
        self._deferred_at: dict[str, float] = {}

    # -- state -------------------------------------------------------------------------------
    def _state(self, model_id: str) -> _ModelState:
        return self._models.setdefault(model_id, _ModelState())

    def is_answered(self, trigger_id: str) -> bool:
        return trigger_id in self._answered

    def last_window_end(self, model_id: str) -> datetime | None:
        return self._state(model_id).last_window_end

    def current_version(self, model_id: str) -> str | None:
        return self._state(model_id).current_version

    def change_point(self, episode: Episode) -> datetime | None:
        """Where the episode's training window starts: its triggers' change point, else the
        model's latest known one (None: no change point known)."""
        return episode.change_point or self._state(episode.model_id).change_point

    def may_defer(self, episode: Episode, now: float) -> bool:
        """Whether a training short of post-change records may wait (instead of ``skipped``)."""
        if episode.is_follow_up:
            return now < self._follow_up_due(episode)
        deferral = self._policy_for(episode.model_id).deferral
        if not deferral.enabled:
            return False
        if episode.bypasses_policy and not deferral.on_demand:
            return False
        if all(t.origin == "schedule" for t in episode.triggers):
            return False
        since = episode.deferred_since if episode.deferred_since is not None else now
        return now - since < deferral.deadline_s

    def _follow_up_due(self, episode: Episode) -> float:
        follow_up = self._state(episode.model_id).follow_up
        return follow_up.due_by if follow_up is not None else 0.0

    @property
    def running_count(self) -> int:
        return sum(1 for s in self._models.values() if s.running is not None)

    @property
    def pending_count(self) -> int:
        return sum(len(s.pending.triggers) for s in self._models.values() if s.pending)

    def restore(self, decisions: Iterable[RetrainEvent]) -> None:
        """Replay the decision log (retrain events, oldest first)."""
        for event in decisions:
            self.finished(event)

    # -- transitions -------------------------------------------------------------------------
    def offer(self, trigger: TriggerRef, now: float) -> Offer:
        """Take one trigger; say what became of it."""
        if trigger.trigger_id in self._answered:
            return "duplicate"
        state = self._state(trigger.model_id)
        for episode in (state.pending, state.running):
            if episode is not None and trigger.trigger_id in episode.trigger_ids:
                return "duplicate"
        if trigger.origin == "drift":
            policy = self._policy_for(trigger.model_id)
            if (
                trigger.kind not in policy.trigger_kinds
                or trigger.severity not in policy.trigger_severities
            ):
                return "ignored"
            if trigger.model_version in state.replaced_versions:
                return "ignored"
            if trigger.change_point is not None and (
                state.change_point is None or trigger.change_point > state.change_point
            ):
                state.change_point = trigger.change_point
                state.follow_up = None  # a new regime: its own retrain, its own follow-ups
        if state.running is not None and state.pending is None and not state.running.is_follow_up:
            state.running.triggers.append(trigger)
            return "joined_running"
        if state.pending is None:
            state.pending = Episode(trigger.model_id, opened_at=now, triggers=[trigger])
            self._mark_deferred(state.pending, trigger)
            return "opened"
        state.pending.triggers.append(trigger)
        self._mark_deferred(state.pending, trigger)
        return "joined"

    def _mark_deferred(self, episode: Episode, trigger: TriggerRef) -> None:
        """A trigger the decision log says was deferred: its episode resumes that wait."""
        since = self._deferred_at.get(trigger.trigger_id)
        if since is None:
            return
        episode.deferral_published = True
        if episode.deferred_since is None or since < episode.deferred_since:
            episode.deferred_since = since

    def ready(self, now: float) -> list[Ready]:
        """Episodes to act on now; the ``train`` ones count as running from here."""
        out: list[Ready] = []
        candidates = sorted(
            (s for s in self._models.values() if s.pending is not None),
            key=lambda s: s.pending.opened_at if s.pending else 0.0,
        )
        for state in candidates:
            episode = state.pending
            assert episode is not None
            policy = self._policy_for(episode.model_id)
            if now - episode.opened_at < policy.episode_window_s or state.running is not None:
                continue
            if now < episode.not_before:
                continue
            bypass = episode.bypasses_policy and policy.on_demand_bypasses_policy
            if (
                not bypass
                and episode.deferred_since is None
                and state.last_trained_at is not None
                and now - state.last_trained_at < policy.cooldown_s
            ):
                state.pending = None
                left = policy.cooldown_s - (now - state.last_trained_at)
                out.append(Ready(episode, "skip", f"cooldown: {left:.0f} s left"))
                continue
            if self.running_count >= self._max_concurrent:
                continue
            state.pending = None
            state.running = episode
            out.append(Ready(episode, "train"))
        for model_id, state in self._models.items():
            follow_up = state.follow_up
            if follow_up is None or state.pending is not None or state.running is not None:
                continue
            if now >= follow_up.due_by:
                state.follow_up = None
                continue
            if now < follow_up.not_before or self.running_count >= self._max_concurrent:
                continue
            episode = Episode(model_id, opened_at=now, triggers=[follow_up.trigger],
                              min_records=follow_up.min_records)
            state.running = episode
            out.append(Ready(episode, "train"))
        return out

    def deferred(self, episode: Episode, now: float, *, published: bool) -> None:
        """The training of ``episode`` found too few post-change records: wait and retry."""
        state = self._state(episode.model_id)
        if state.running is episode:
            state.running = None
        if episode.is_follow_up:
            if state.follow_up is not None:
                state.follow_up.not_before = now + self._policy_for(
                    episode.model_id).follow_up.recheck_s
            return
        if episode.deferred_since is None:
            episode.deferred_since = now
        episode.deferral_published = episode.deferral_published or published
        episode.not_before = now + self._policy_for(episode.model_id).deferral.recheck_s
        if state.pending is not None:  # triggers that arrived meanwhile join the wait
            known = set(episode.trigger_ids)
            episode.triggers.extend(t for t in state.pending.triggers
                                    if t.trigger_id not in known)
        episode.triggers = [t for t in episode.triggers if t.trigger_id not in self._answered]
        state.pending = episode if episode.triggers else None

    def finished(self, event: RetrainEvent) -> None:
        """A decision was published (or read back from the decision log)."""
        state = self._state(event.model_id)
        if event.status == "deferred":  # a notice, not an answer
            at = event.timestamp.timestamp()
            for tid in event.triggers:
                self._deferred_at[tid] = min(at, self._deferred_at.get(tid, at))
            for episode in (state.pending, state.running):
                if episode is not None and set(event.triggers) & set(episode.trigger_ids):
                    episode.deferral_published = True
                    if episode.deferred_since is None or at < episode.deferred_since:
                        episode.deferred_since = at
            return
        self._answered.update(event.triggers)
        if state.running is not None and set(state.running.trigger_ids) <= set(event.triggers):
            state.running = None
        if state.pending is not None:
            state.pending.triggers = [
                t for t in state.pending.triggers if t.trigger_id not in self._answered
            ]
            if not state.pending.triggers:
                state.pending = None
        if event.status in TRAINED_STATUSES:
            at = event.timestamp.timestamp()
            state.last_trained_at = max(at, state.last_trained_at or at)
            if event.training is not None and event.training.end is not None:
                state.last_window_end = event.training.end
        if event.status == "promoted" and event.new_version:
            state.current_version = event.new_version
            state.replaced_versions.discard(event.new_version)
            if event.previous_version and event.previous_version != event.new_version:
                state.replaced_versions.add(event.previous_version)
        if event.training is not None and event.training.change_point is not None and (
            state.change_point is None or event.training.change_point > state.change_point
        ):
            state.change_point = event.training.change_point
        self._schedule_follow_up(state, event)

    def _schedule_follow_up(self, state: _ModelState, event: RetrainEvent) -> None:
        """After a trained decision on a short post-change window: the next follow-up."""
        count = max((follow_up_count(t) for t in event.triggers), default=0)
        if count and state.follow_up is not None and (
            state.follow_up.trigger.trigger_id in event.triggers
        ):
            state.follow_up = None
        if event.status not in ("promoted", "rejected") or event.training is None:
            return
        if count == 0 and event.status != "promoted":
            return
        policy = self._policy_for(event.model_id)
        config = policy.follow_up
        trained = event.training.sample_count
        cap = policy.window.last_n  # a window never holds more: grow up to it
        if (
            event.training.change_point is None
            or config.short_window == 0
            or trained >= min(config.short_window, cap)
            or count >= config.max_count
        ):
            return
        at = event.timestamp.timestamp()
        trigger = follow_up_trigger(event.model_id, event.event_id, count + 1,
                                    event.training.change_point, at)
        if trigger.trigger_id in self._answered:
            return
        wanted = min(cap, math.ceil(config.growth_factor * max(1, trained)))
        state.follow_up = _FollowUp(trigger, wanted, due_by=at + config.deadline_s,
                                    not_before=at + config.recheck_s)

    def abandon(self, model_id: str) -> Episode | None:
        """Forget a running episode without a decision (its partition was revoked)."""
        state = self._state(model_id)
        episode, state.running = state.running, None
        return episode

    def drop(self, trigger_ids: set[str]) -> None:
        """Forget waiting triggers (their partition was revoked; the new owner answers them)."""
        for state in self._models.values():
            if state.pending is not None:
                state.pending.triggers = [
                    t for t in state.pending.triggers if t.trigger_id not in trigger_ids
                ]
                if not state.pending.triggers:
                    state.pending = None


__all__ = ["Episode", "Offer", "Policy", "Ready"]
