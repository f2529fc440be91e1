"""Reloading the decision log at start-up seeds what a restart would otherwise forget."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from retrain_worker import service
from retrain_worker.config import WorkerServiceConfig
from retrain_worker.contracts import RetrainEvent


def test_last_success_gauge_is_seeded_from_promoted_decisions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    promoted_at = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    decisions = [
        RetrainEvent(event_id="r1", model_id="fraud", status="promoted", reason="drift",
                     new_version="v2", duration_s=1.0, timestamp=promoted_at),
        RetrainEvent(event_id="r2", model_id="churn", status="rejected", reason="drift",
                     duration_s=1.0, timestamp=promoted_at),
    ]
    monkeypatch.setattr(service, "read_decision_log", lambda conf, topic: decisions)
    config = WorkerServiceConfig.model_validate({"worker": {"registry_root": str(tmp_path)}})
    worker = service.RetrainWorker(config)
    worker._reload_decisions()
    gauge = worker.metrics.registry.get_sample_value
    assert gauge("driftline_retrain_last_success_timestamp_seconds", {"model_id": "fraud"}) == (
        promoted_at.timestamp()
    )
    assert gauge("driftline_retrain_last_success_timestamp_seconds", {"model_id": "churn"}) is None
