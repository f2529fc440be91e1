"""Training from the change point, deferral while post-change labels are missing, follow-ups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from detectors.contracts import LabelledRecord
from retrain_worker.config import ModelPolicy
from retrain_worker.contracts import RetrainEvent, TrainingWindow
from retrain_worker.job import run_job
from retrain_worker.policy import Policy
from retrain_worker.registry import FileRegistry
from retrain_worker.triggers import TriggerRef, deferral_event_id, retrain_event_id
from tests.retrain_worker.retrain_helpers import make_records

pytestmark = pytest.mark.slow

T0 = datetime(2024, 1, 1, tzinfo=UTC)
CHANGE = T0 + timedelta(seconds=600)


def _drift(i: int, change_point: datetime | None = CHANGE) -> TriggerRef:
    return TriggerRef(f"de-{i}", "fraud", "drift", CHANGE + timedelta(seconds=30), 0.0,
                      kind="concept", severity="drift", change_point=change_point,
                      estimated=True)


def _on_demand(i: int) -> TriggerRef:
    return TriggerRef(f"t-{i}", "fraud", "on_demand", CHANGE, 0.0, reason="asked")


class _Reader:
    """The labelled topic as a list: records predicted inside the asked window (like kafka_io)."""

    def __init__(self, records: list[LabelledRecord]) -> None:
        self.records = records
        self.asked: list[Any] = []

    def __call__(self, model_id: str, window: Any, around: Any) -> list[LabelledRecord]:
        self.asked.append(around)
        if around is None:
            return self.records[-window.last_n:]
        return [r for r in self.records if around[0] <= r.predicted_at <= around[1]]


def _job(tmp_path: Path, reader: _Reader, *, defer: bool, triggers: list[TriggerRef],
         policy: ModelPolicy | None = None, **kw: Any) -> Any:
    return run_job(model_id="fraud", triggers=triggers,
                   policy=policy or ModelPolicy(min_new_samples=0), reader=reader,
                   registry=FileRegistry(tmp_path / "registry"),
                   entry_point="retrain_worker.default_trainer:train", timeout_s=120,
                   workdir=tmp_path / "work", previous_version="v1", last_window_end=None,
                   change_point=kw.pop("change_point", CHANGE), defer=defer, **kw)


def _old_then_new(old: int, new: int) -> list[LabelledRecord]:
    """``old`` records of the old concept before CHANGE, ``new`` of the flipped one after it."""
    before = make_records(old, seed=1, start=CHANGE - timedelta(seconds=old))
    after = make_records(new, seed=2, flip=True, start=CHANGE)
    return before + after


def test_window_starts_at_the_change_point_and_trains_on_the_new_concept(tmp_path: Path) -> None:
    reader = _Reader(_old_then_new(2000, 800))
    out = _job(tmp_path, reader, defer=True, triggers=[_drift(1)])
    assert out.status == "promoted", out.reason
    assert reader.asked[0][0] == CHANGE
    assert out.training.sample_count == 800 and out.training.start >= CHANGE
    assert out.training.change_point == CHANGE
    # the challenger learned the new (flipped) concept: near perfect on the new holdout
    assert out.evaluation.challenger["accuracy"] > 0.9


def test_margin_and_mixed_windows_by_config(tmp_path: Path) -> None:
    records = _old_then_new(2000, 800)
    margin = ModelPolicy.model_validate({"min_new_samples": 0,
                                         "window": {"change_point_margin_s": 100}})
    reader = _Reader(records)
    out = _job(tmp_path, reader, defer=True, triggers=[_drift(1)], policy=margin)
    assert reader.asked[0][0] == CHANGE + timedelta(seconds=100)
    assert out.training.sample_count == 700
    mixed = ModelPolicy.model_validate({"min_new_samples": 0,
                                        "window": {"mode": "last_n", "last_n": 1500}})
    reader = _Reader(records)
    out = _job(tmp_path / "mixed", reader, defer=True, triggers=[_drift(1)], policy=mixed)
    assert reader.asked == [None] and out.training.sample_count == 1500
    assert out.training.change_point is None


def test_too_few_post_change_records_defers_then_skips_after_the_deadline(tmp_path: Path) -> None:
    reader = _Reader(_old_then_new(2000, 50))
    out = _job(tmp_path, reader, defer=True, triggers=[_drift(1)])
    assert out.status == "deferred"
    assert out.reason.startswith("waiting for labelled records since the change point 2024-")
    assert "min_samples: 50 < 200" in out.reason
    out = _job(tmp_path, reader, defer=False, triggers=[_drift(1)])
    assert out.status == "skipped" and "min_samples: 50 < 200" in out.reason
    assert "(window since the change point" in out.reason


def test_only_checks_more_data_can_fix_are_deferred(tmp_path: Path) -> None:
    other_model = [r.model_copy(update={"model_id": "other"}) for r in _old_then_new(0, 300)]
    out = _job(tmp_path, _Reader(other_model), defer=True, triggers=[_drift(1)])
    assert out.status == "skipped" and "population" in out.reason


def test_follow_up_waits_for_its_window_to_grow(tmp_path: Path) -> None:
    reader = _Reader(_old_then_new(100, 600))
    out = _job(tmp_path, reader, defer=True, triggers=[_drift(1)], min_records=900)
    assert out.status == "deferred" and "min_records: 600 < 900" in out.reason
    reader.records += make_records(400, seed=3, flip=True, start=CHANGE + timedelta(hours=1))
    out = _job(tmp_path, reader, defer=True, triggers=[_drift(1)], min_records=900)
    assert out.status == "promoted" and out.training.sample_count == 1000


# -- policy --------------------------------------------------------------------------------

def _policy(**overrides: Any) -> Policy:
    config = ModelPolicy.model_validate({"episode_window_s": 0, "cooldown_s": 600,
                                         "deferral": {"recheck_s": 10, "deadline_s": 100},
                                         **overrides})
    return Policy(lambda model_id: config, max_concurrent=2)


def _decision(status: str, triggers: list[str], at: float, *, count: int = 300,
              change_point: datetime | None = CHANGE) -> RetrainEvent:
    event_id = deferral_event_id(triggers) if status == "deferred" else retrain_event_id(triggers)
    return RetrainEvent(
        event_id=event_id, model_id="fraud", status=status, reason="", triggers=triggers,
        new_version="r-1" if status == "promoted" else None, duration_s=0.0,
        timestamp=datetime.fromtimestamp(at, UTC),
        training=TrainingWindow(sample_count=count, change_point=change_point,
                                start=change_point, end=change_point))


def test_a_deferred_episode_waits_collects_triggers_and_retries_without_cooldown() -> None:
    p = _policy()
    p.finished(_decision("promoted", ["old"], at=995.0, count=5000))  # cooldown until 1595
    assert p.offer(_drift(1), now=1000.0) == "opened"
    [ready] = p.ready(now=1000.0)
    assert ready.action == "skip"  # in cooldown: a drift inside it is skipped, as before
    assert p.offer(_drift(2), now=1700.0) == "opened"
    [ready] = p.ready(now=1700.0)
    assert ready.action == "train" and p.change_point(ready.episode) == CHANGE
    assert p.may_defer(ready.episode, now=1700.0)
    p.deferred(ready.episode, now=1701.0, published=True)
    assert p.offer(_drift(3), now=1702.0) == "joined"
    assert p.ready(now=1705.0) == []  # waits recheck_s
    [again] = p.ready(now=1712.0)
    assert again.action == "train" and again.trigger_ids == ["de-2", "de-3"]
    assert again.episode.deferral_published and again.episode.deferred_since == 1701.0
    assert p.may_defer(again.episode, now=1800.0)
    assert not p.may_defer(again.episode, now=1801.0)  # deadline_s = 100


def test_the_wait_survives_a_restart_through_the_decision_log() -> None:
    p = _policy()
    p.restore([_decision("deferred", ["de-1"], at=1000.0)])
    assert not p.is_answered("de-1")
    assert p.offer(_drift(1), now=1050.0) == "opened"  # re-read: its offset was never committed
    [ready] = p.ready(now=1050.0)
    assert ready.episode.deferral_published and ready.episode.deferred_since == 1000.0
    assert not p.may_defer(ready.episode, now=1100.0)  # the deadline counts from the first wait
    p.finished(_decision("skipped", ["de-1"], at=1100.0))
    assert p.is_answered("de-1") and p.offer(_drift(1), now=1101.0) == "duplicate"


def test_on_demand_waits_too_unless_configured_not_to() -> None:
    p = _policy()
    assert p.offer(_on_demand(1), now=1.0) == "opened"
    [ready] = p.ready(now=1.0)
    assert p.may_defer(ready.episode, now=1.0)
    strict = _policy(deferral={"on_demand": False})
    strict.offer(_on_demand(1), now=1.0)
    [ready] = strict.ready(now=1.0)
    assert not strict.may_defer(ready.episode, now=1.0)
    off = _policy(deferral={"enabled": False})
    off.offer(_drift(1), now=1.0)
    [ready] = off.ready(now=1.0)
    assert not off.may_defer(ready.episode, now=1.0)


def test_on_demand_alone_trains_from_the_models_last_change_point() -> None:
    p = _policy()
    p.offer(_drift(1), now=1.0)
    p.ready(now=1.0)
    p.finished(_decision("promoted", ["de-1"], at=2.0, count=5000))
    p.offer(_on_demand(1), now=3.0)
    [ready] = p.ready(now=3.0)
    assert ready.episode.change_point is None and p.change_point(ready.episode) == CHANGE


def test_follow_ups_after_a_short_promotion_are_bounded_and_dropped_by_a_new_drift() -> None:
    p = _policy(follow_up={"short_window": 2000, "growth_factor": 3, "max_count": 2,
                           "recheck_s": 5, "deadline_s": 1000})
    p.offer(_drift(1), now=1.0)
    p.ready(now=1.0)
    first = _decision("promoted", ["de-1"], at=10.0, count=300)
    p.finished(first)
    assert p.ready(now=12.0) == []
    [follow] = p.ready(now=15.0)
    assert follow.trigger_ids == [f"follow_up:fraud:{first.event_id}:1"]
    assert follow.episode.min_records == 900 and p.change_point(follow.episode) == CHANGE
    assert p.may_defer(follow.episode, now=15.0)
    p.deferred(follow.episode, now=15.0, published=False)  # not grown yet: silently later
    assert p.ready(now=16.0) == []
    [follow] = p.ready(now=21.0)
    second = _decision("promoted", follow.trigger_ids, at=30.0, count=900)
    p.finished(second)
    [follow2] = p.ready(now=40.0)
    assert follow2.trigger_ids == [f"follow_up:fraud:{second.event_id}:2"]
    assert follow2.episode.min_records == 2700
    p.finished(_decision("rejected", follow2.trigger_ids, at=50.0, count=1500))
    assert p.ready(now=100.0) == []  # max_count reached

    again = _policy(follow_up={"recheck_s": 5})
    again.finished(_decision("promoted", ["de-1"], at=10.0, count=300))
    later = CHANGE + timedelta(hours=1)
    assert again.offer(_drift(9, change_point=later), now=11.0) == "opened"
    [ready] = again.ready(now=20.0)
    assert ready.trigger_ids == ["de-9"]  # the follow-up of the old regime is gone
    assert again.ready(now=100.0) == []


def test_follow_up_state_is_rebuilt_from_the_decision_log_and_expires() -> None:
    p = _policy(follow_up={"recheck_s": 5, "deadline_s": 100})
    first = _decision("promoted", ["de-1"], at=10.0, count=300)
    p.restore([first])
    [follow] = p.ready(now=20.0)
    p.finished(_decision("promoted", follow.trigger_ids, at=25.0, count=5000))  # long enough
    assert p.ready(now=200.0) == []
    expired = _policy(follow_up={"recheck_s": 5, "deadline_s": 100})
    expired.restore([first])
    assert expired.ready(now=200.0) == []


def test_follow_up_target_never_exceeds_what_a_window_holds() -> None:
    p = _policy(window={"last_n": 400}, follow_up={"recheck_s": 5})
    p.finished(_decision("promoted", ["de-1"], at=10.0, count=300))
    [follow] = p.ready(now=20.0)
    assert follow.episode.min_records == 400
    full = _policy(window={"last_n": 400}, follow_up={"recheck_s": 5})
    full.finished(_decision("promoted", ["de-1"], at=10.0, count=400))
    assert full.ready(now=20.0) == []  # already a full window: nothing to grow


def test_episode_change_point_median_of_estimates_else_earliest_detection() -> None:
    from retrain_worker.policy import Episode

    def ref(i: int, seconds: int, estimated: bool) -> TriggerRef:
        return TriggerRef(f"de-{i}", "fraud", "drift", CHANGE, 0.0, kind="concept",
                          severity="drift", change_point=CHANGE + timedelta(seconds=seconds),
                          estimated=estimated)

    episode = Episode("fraud", 0.0, [ref(1, 30, False), ref(2, 10, False)])
    assert episode.change_point == CHANGE + timedelta(seconds=10)
    episode.triggers += [ref(3, -500, True), ref(4, 2, True), ref(5, 4, True)]
    assert episode.change_point == CHANGE + timedelta(seconds=2)
