"""One training episode end to end without Kafka: checks, isolated trainer, evaluation, registry."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from retrain_worker.config import ModelPolicy
from retrain_worker.job import JobOutcome, run_job
from retrain_worker.registry import FileRegistry
from retrain_worker.triggers import TriggerRef
from tests.retrain_worker.retrain_helpers import make_records

pytestmark = pytest.mark.slow


def _trigger(i: int = 1) -> TriggerRef:
    return TriggerRef(f"de-{i}", "fraud", "drift", datetime(2024, 1, 1, tzinfo=UTC), 0.0,
                      kind="concept", severity="drift")


def _run(tmp_path: Path, records, entry: str = "retrain_worker.default_trainer:train",
         timeout_s: float = 60, policy: ModelPolicy | None = None, **kw) -> JobOutcome:
    return run_job(
        model_id="fraud",
        triggers=[_trigger()],
        policy=policy or ModelPolicy(min_new_samples=0),
        reader=lambda model_id, window, around: list(records),
        registry=kw.pop("registry", FileRegistry(tmp_path / "registry")),
        entry_point=entry,
        timeout_s=timeout_s,
        workdir=tmp_path / "work",
        previous_version=kw.pop("previous_version", "v1"),
        last_window_end=kw.pop("last_window_end", None),
    )


def test_good_data_is_promoted_with_artifact_in_registry(tmp_path: Path) -> None:
    out = _run(tmp_path, make_records(600, logged_accuracy=0.6))
    assert out.status == "promoted", out.reason
    assert out.previous_version == "v1" and out.new_version and out.new_version.startswith("r-")
    assert out.artifact_uri and FileRegistry(tmp_path / "registry").local_path(
        out.artifact_uri).exists()
    assert out.evaluation is not None and out.evaluation.champion_source == "logged_predictions"
    assert out.evaluation.challenger["accuracy"] > 0.9 > out.evaluation.champion["accuracy"]
    assert out.training is not None and out.training.sample_count == 600
    assert set(out.training.checks_passed) >= {"min_samples", "class_balance", "population"}


def test_challenger_no_better_than_registry_champion_is_rejected(tmp_path: Path) -> None:
    registry = FileRegistry(tmp_path / "registry")
    first = _run(tmp_path, make_records(600), registry=registry)
    assert first.status == "promoted" and first.new_version
    registry.promote("fraud", first.new_version)
    policy = ModelPolicy(min_new_samples=0)
    policy = policy.model_copy(update={"evaluation": policy.evaluation.model_copy(
        update={"min_improvement": 0.05})})
    second = run_job(model_id="fraud", triggers=[_trigger(2)], policy=policy,
                     reader=lambda *a: make_records(600, seed=1), registry=registry,
                     entry_point="retrain_worker.default_trainer:train", timeout_s=60,
                     workdir=tmp_path / "w2", previous_version=None, last_window_end=None)
    assert second.status == "rejected", second.reason
    assert second.evaluation is not None and second.evaluation.champion_source == "registry"
    assert second.previous_version == first.new_version


@pytest.mark.parametrize(
    ("records", "cause"),
    [
        (make_records(50), "min_samples"),
        (make_records(400, one_class=True), "class_balance"),
    ],
)
def test_bad_data_is_skipped_with_reason(tmp_path: Path, records, cause: str) -> None:
    out = _run(tmp_path, records)
    assert out.status == "skipped"
    assert cause in out.causes and cause in out.reason
    assert not (tmp_path / "work").exists()  # no trainer ran


def test_not_enough_new_samples_is_skipped(tmp_path: Path) -> None:
    recs = make_records(400)
    out = _run(tmp_path, recs, policy=ModelPolicy(min_new_samples=100),
               last_window_end=recs[-10].predicted_at)
    assert out.status == "skipped" and out.causes == ["min_new_samples"]


@pytest.mark.parametrize(
    ("function", "cause"),
    [("raises", "trainer_crash"), ("garbage", "bad_output"), ("wrong_length", "bad_output"),
     ("dies", "trainer_crash"), ("hangs", "timeout"), ("nope", "trainer_load")],
)
def test_misbehaving_trainer_fails_cleanly(
    tmp_path: Path, bad_trainers_on_path: str, function: str, cause: str
) -> None:
    # Only the hanging trainer meets its timeout; the others get one no busy machine reaches
    # (importing numpy alone took 3.7 s on a loaded 2-core box), so the cause is theirs.
    timeout_s = 2.0 if cause == "timeout" else 600.0
    out = _run(tmp_path, make_records(300), entry=f"{bad_trainers_on_path}:{function}",
               timeout_s=timeout_s)
    assert out.status == "failed", out.reason
    assert out.causes == [cause], out.reason


def test_tuple_returning_trainer_works(tmp_path: Path, bad_trainers_on_path: str) -> None:
    out = _run(tmp_path, make_records(400), entry=f"{bad_trainers_on_path}:as_tuple")
    assert out.status == "promoted", out.reason
