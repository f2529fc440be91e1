"""Retrain policy: dedupe, episodes, cooldown, concurrency, restore from the decision log."""

from __future__ import annotations

from datetime import UTC, datetime

from retrain_worker.config import ModelPolicy, WorkerConfig
from retrain_worker.contracts import RetrainEvent, TrainingWindow
from retrain_worker.policy import Policy
from retrain_worker.triggers import TriggerRef, retrain_event_id, schedule_trigger

NOW = 1_700_000_000.0


def drift(i: int, model: str = "m", kind: str = "concept", severity: str = "drift") -> TriggerRef:
    return TriggerRef(f"{model}-d{i}", model, "drift", datetime.now(UTC), NOW,
                      kind=kind, severity=severity)


def on_demand(i: int, model: str = "m") -> TriggerRef:
    return TriggerRef(f"{model}-t{i}", model, "on_demand", datetime.now(UTC), NOW)


def decision(model: str, ids: list[str], status: str = "promoted", at: float = NOW) -> RetrainEvent:
    return RetrainEvent(event_id=retrain_event_id(ids), model_id=model, status=status, reason="",
                        triggers=ids, new_version="r-1", duration_s=1.0, timestamp=int(at * 1000))


def make(max_concurrent: int = 2, **overrides) -> Policy:
    cfg = WorkerConfig(policy=ModelPolicy(episode_window_s=5, cooldown_s=60, **overrides),
                       max_concurrent=max_concurrent)
    return Policy(cfg.policy_for, max_concurrent)


def test_burst_of_duplicates_and_same_episode_gives_one_training() -> None:
    p = make()
    offers = [p.offer(drift(i % 3), NOW + i * 0.1) for i in range(12)]
    assert offers[:3] == ["opened", "joined", "joined"] and set(offers[3:]) == {"duplicate"}
    ready = p.ready(NOW + 6)
    assert [(r.action, sorted(r.trigger_ids)) for r in ready] == [
        ("train", ["m-d0", "m-d1", "m-d2"])]
    assert p.offer(drift(7), NOW + 7) == "joined_running"
    p.finished(decision("m", ["m-d0", "m-d1", "m-d2", "m-d7"]))
    assert p.offer(drift(1), NOW + 8) == "duplicate"
    assert p.running_count == 0


def test_unconfigured_kind_or_severity_is_ignored() -> None:
    p = make(trigger_kinds=["performance"])
    assert p.offer(drift(1, kind="data"), NOW) == "ignored"
    assert p.offer(drift(2, kind="performance", severity="warning"), NOW) == "ignored"
    assert p.offer(drift(3, kind="performance"), NOW) == "opened"


def test_drift_of_a_replaced_version_is_ignored_and_keeps_the_follow_up() -> None:
    """After v1 is replaced by r-1, v1's late drift reports (serving still swapping) are not a
    new regime: ignored, the follow-up of r-1's short training stays; r-1's own drift counts."""
    p = make()
    change = datetime(2024, 1, 1, tzinfo=UTC)

    def on(version: str, i: int, minutes: int) -> TriggerRef:
        return TriggerRef(f"m-{version}-{i}", "m", "drift", change, NOW, kind="concept",
                          severity="drift", model_version=version,
                          change_point=change.replace(minute=minutes), estimated=True)

    assert p.offer(on("v1", 1, 1), NOW) == "opened"
    assert [r.action for r in p.ready(NOW + 6)] == ["train"]
    promoted = decision("m", ["m-v1-1"]).model_copy(update={
        "previous_version": "v1", "training": TrainingWindow(
            sample_count=500, change_point=change.replace(minute=1))})
    p.finished(promoted)
    follow_up = p._state("m").follow_up
    assert follow_up is not None
    assert p.offer(on("v1", 2, 5), NOW + 7) == "ignored"  # the replaced version, a later estimate
    assert p._state("m").follow_up is follow_up and p._state("m").change_point == change.replace(
        minute=1)
    assert p.offer(on("r-1", 3, 9), NOW + 8) == "opened"  # the new version drifts: a new regime
    assert p._state("m").follow_up is None


def test_cooldown_skips_drift_but_not_on_demand() -> None:
    p = make()
    p.finished(decision("m", ["old"], at=NOW))
    p.offer(drift(1), NOW + 1)
    [ready] = p.ready(NOW + 10)
    assert ready.action == "skip" and ready.reason.startswith("cooldown")
    p.finished(decision("m", ready.trigger_ids, status="skipped", at=NOW + 10))
    p.offer(on_demand(1), NOW + 11)
    [ready] = p.ready(NOW + 20)
    assert ready.action == "train"


def test_at_most_k_trainings_at_once_oldest_first() -> None:
    p = make(max_concurrent=1)
    p.offer(drift(1, model="a"), NOW)
    p.offer(drift(1, model="b"), NOW + 1)
    assert [r.episode.model_id for r in p.ready(NOW + 10)] == ["a"]
    assert p.ready(NOW + 11) == []
    p.finished(decision("a", ["a-d1"], status="failed"))
    assert [r.episode.model_id for r in p.ready(NOW + 12)] == ["b"]


def test_restore_from_decision_log_dedupes_and_keeps_cooldown() -> None:
    p = make()
    p.restore([decision("m", ["m-d1", "m-d2"], at=NOW)])
    assert p.offer(drift(1), NOW + 1) == "duplicate"
    assert p.current_version("m") == "r-1"
    p.offer(drift(3), NOW + 2)
    assert p.ready(NOW + 10)[0].action == "skip"


def test_schedule_slots_are_stable() -> None:
    a = schedule_trigger("m", 60, NOW + 1)
    b = schedule_trigger("m", 60, NOW + 2)
    c = schedule_trigger("m", 60, NOW + 61)
    assert a.trigger_id == b.trigger_id != c.trigger_id
