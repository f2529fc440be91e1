"""Retrain policy per model: which triggers start a training, which are answered without one.

Pure: no Kafka, no clock of its own (callers pass ``now``, wall-clock epoch seconds).

Contract:

1. Dedupe by trigger id: an id already answered (decision log) or already waiting/running is a
   ``duplicate`` and never answered twice.
2. Drift triggers count only when their kind and severity are configured for the model; others
   are ``ignored`` (they need no answer).
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

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from retrain_worker.config import ModelPolicy
from retrain_worker.contracts import RetrainEvent
from retrain_worker.triggers import TriggerRef

Offer = Literal["ignored", "duplicate", "opened", "joined", "joined_running"]
TRAINED_STATUSES = frozenset({"promoted", "rejected", "failed"})


@dataclass
class Episode:
    """Triggers of one model answered by one decision."""

    model_id: str
    opened_at: float
    triggers: list[TriggerRef] = field(default_factory=list)

    @property
    def trigger_ids(self) -> list[str]:
        return [t.trigger_id for t in self.triggers]

    @property
    def bypasses_policy(self) -> bool:
        return any(t.origin == "on_demand" for t in self.triggers)


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
class _ModelState:
    pending: Episode | None = None
    running: Episode | None = None
    last_trained_at: float | None = None
    #: End of the last trained window: records labelled after it are "new samples".
    last_window_end: datetime | None = None
    current_version: str | None = None


class Policy:
    """Decides, per model, when triggers lead to a training (see the module docstring)."""

    def __init__(self, policy_for: Callable[[str], ModelPolicy], max_concurrent: int) -> None:
        self._policy_for = policy_for
        self._max_concurrent = max_concurrent
        self._models: dict[str, _ModelState] = {}
        self._answered: set[str] = set()

    # -- state -------------------------------------------------------------------------------
    def _state(self, model_id: str) -> _ModelState:
        return self._models.setdefault(model_id, _ModelState())

    def is_answered(self, trigger_id: str) -> bool:
        return trigger_id in self._answered

    def last_window_end(self, model_id: str) -> datetime | None:
        return self._state(model_id).last_window_end

    def current_version(self, model_id: str) -> str | None:
        return self._state(model_id).current_version

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
        if state.running is not None and state.pending is None:
            state.running.triggers.append(trigger)
            return "joined_running"
        if state.pending is None:
            state.pending = Episode(trigger.model_id, opened_at=now, triggers=[trigger])
            return "opened"
        state.pending.triggers.append(trigger)
        return "joined"

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
            bypass = episode.bypasses_policy and policy.on_demand_bypasses_policy
            if (
                not bypass
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
        return out

    def finished(self, event: RetrainEvent) -> None:
        """A decision was published (or read back from the decision log)."""
        self._answered.update(event.triggers)
        state = self._state(event.model_id)
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
