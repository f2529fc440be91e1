"""MLflow as the model registry, against a real MLflow (its SQLite-backed tracking and registry
store in ``tmp_path``), read back through MLflow's own client.

The first tests drive :class:`MlflowRegistry` directly; the last runs ``driftline
retrain-worker`` with ``worker.mlflow`` on the real broker: a drift event is promoted into MLflow,
the retrain event points at the registered version, and a rejected retrain registers a version
without moving the serving alias.

Needs ``pip install 'driftline[mlflow]'`` (``mlflow-skinny`` with SQLAlchemy and Alembic for the
SQLite store); skipped with that reason without it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from consumer.config import TopicLayout
from consumer.topics import create_topics
from driftline.dev.services import ServiceProcess, free_port
from retrain_worker.config import MlflowRegistryConfig, WorkerConfig
from retrain_worker.exceptions import RegistryError
from retrain_worker.registry import open_registry
from tests.conftest import unique_topic_names
from tests.retrain_worker.retrain_helpers import make_records
from tests.retrain_worker.worker_harness import (
    drift_event,
    produce,
    produce_labelled,
    read_retrain,
    worker_process,
    write_config,
)

pytestmark = pytest.mark.slow

mlflow = pytest.importorskip("mlflow", reason="pip install 'driftline[mlflow]'")
pytest.importorskip("sqlalchemy", reason="pip install 'driftline[mlflow]' (SQLite store)")
pytest.importorskip("alembic", reason="pip install 'driftline[mlflow]' (SQLite store)")

from mlflow import MlflowClient  # noqa: E402

from retrain_worker.mlflow_registry import MlflowRegistry  # noqa: E402
from tests.hang import HANG_S  # noqa: E402

METADATA: dict[str, Any] = {
    "trainer": "retrain_worker.default_trainer:train",
    "task": "classification",
    "feature_names": ["x0", "x1"],
    "feature_stats": {"x0": {"mean": 0.0, "std": 1.0}},
    "training": {"start": "2024-01-01T00:00:00Z", "end": "2024-01-01T00:06:40Z",
                 "sample_count": 400, "class_balance": {"True": 0.5, "False": 0.5},
                 "checks_passed": ["min_samples", "class_balance"], "checks_failed": []},
    "evaluation": {"metric": "accuracy", "holdout_size": 80, "champion_source": "registry",
                   "champion": {"accuracy": 0.61}, "challenger": {"accuracy": 0.97}},
    "previous_version": "v1",
    "triggers": ["de-1", "de-2"],
    "decision": "promoted",
}


def _config(tmp_path: Path) -> MlflowRegistryConfig:
    return MlflowRegistryConfig(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
                                artifact_location=(tmp_path / "artifacts").as_uri(),
                                model_name="driftline-{model_id}")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> MlflowRegistryConfig:
    """One SQLite store for the module (creating its tables takes seconds); one model id per
    test."""
    return _config(tmp_path_factory.mktemp("mlflow"))


def _client(config: MlflowRegistryConfig) -> MlflowClient:
    return MlflowClient(tracking_uri=config.tracking_uri, registry_uri=config.tracking_uri)


def _registry(store: MlflowRegistryConfig, prefix: str,
              tmp_path: Path) -> tuple[MlflowRegistryConfig, MlflowRegistry]:
    """A registry on the module's store whose model names start with ``prefix``."""
    config = store.model_copy(update={"model_name": prefix + "-{model_id}"})
    return config, MlflowRegistry(config, cache_dir=tmp_path / "cache")


def test_worker_config_selects_mlflow(store: MlflowRegistryConfig) -> None:
    registry = open_registry(WorkerConfig(mlflow=store))
    assert isinstance(registry, MlflowRegistry)


def test_save_registers_a_version_with_window_checks_and_metrics(
    store: MlflowRegistryConfig, tmp_path: Path
) -> None:
    config = store
    registry = MlflowRegistry(config, cache_dir=tmp_path / "cache")
    uri = registry.save("fraud", "r-1", b"model-bytes", METADATA)
    assert uri == "models:/driftline-fraud/1"

    client = _client(config)
    version = client.get_model_version("driftline-fraud", "1")
    assert version.tags["driftline.version"] == "r-1"
    run = client.get_run(version.run_id)
    assert run.data.params["window_start"] == "2024-01-01T00:00:00Z"
    assert run.data.params["window_end"] == "2024-01-01T00:06:40Z"
    assert run.data.params["window_samples"] == "400"
    assert run.data.params["triggers"] == "de-1,de-2"
    assert run.data.metrics == {"champion_accuracy": 0.61, "challenger_accuracy": 0.97,
                                "holdout_size": 80.0, "training_samples": 400.0}
    assert json.loads(run.data.tags["driftline.checks_passed"]) == ["min_samples",
                                                                     "class_balance"]
    assert json.loads(run.data.tags["driftline.checks_failed"]) == []
    assert run.data.tags["driftline.decision"] == "promoted"
    # Saved is not served: no alias until promote().
    assert registry.champion("fraud") is None
    with pytest.raises(mlflow.exceptions.MlflowException):
        client.get_model_version_by_alias("driftline-fraud", "champion")


def test_promote_moves_the_alias_and_the_champion_reads_back(
    store: MlflowRegistryConfig, tmp_path: Path
) -> None:
    config, registry = _registry(store, "promote", tmp_path)
    registry.save("fraud", "r-1", b"first", METADATA)
    registry.save("fraud", "r-2", b"second", {**METADATA, "decision": "rejected"})
    registry.promote("fraud", "r-1")
    served = _client(config).get_model_version_by_alias("promote-fraud", "champion")
    assert str(served.version) == "1"
    champion = registry.champion("fraud")
    assert champion is not None
    assert (champion.version, champion.uri) == ("r-1", "models:/promote-fraud/1")
    assert champion.metadata["feature_stats"] == METADATA["feature_stats"]
    assert registry.local_path(champion.uri).read_bytes() == b"first"
    # A second registry (a restarted worker, empty cache) reads the same champion.
    again = MlflowRegistry(config, cache_dir=tmp_path / "cache2")
    assert again.local_path(champion.uri).read_bytes() == b"first"
    with pytest.raises(RegistryError, match="not in MLflow"):
        registry.promote("fraud", "r-unknown")


def test_saving_a_version_again_replaces_it(
    store: MlflowRegistryConfig, tmp_path: Path
) -> None:
    config, registry = _registry(store, "replace", tmp_path)
    registry.save("fraud", "r-1", b"crashed-attempt", METADATA)
    uri = registry.save("fraud", "r-1", b"retried", METADATA)
    versions = _client(config).search_model_versions("name='replace-fraud'")
    assert [str(v.version) for v in versions] == ["2"] and uri == "models:/replace-fraud/2"
    registry.promote("fraud", "r-1")
    assert registry.local_path(uri).read_bytes() == b"retried"


def test_an_unreachable_server_is_a_registry_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    registry = MlflowRegistry(MlflowRegistryConfig(tracking_uri=f"http://127.0.0.1:{free_port()}"),
                              cache_dir=tmp_path)
    with pytest.raises(RegistryError, match="cannot save fraud/r-1 in MLflow"):
        registry.save("fraud", "r-1", b"x", METADATA)


def _wait_alias(client: MlflowClient, name: str, alias: str, worker: ServiceProcess) -> Any:
    """The version ``alias`` points at; the worker moves it just after committing the event."""
    deadline = time.monotonic() + HANG_S
    while True:
        try:
            return client.get_model_version_by_alias(name, alias)
        except mlflow.exceptions.MlflowException:
            worker.assert_alive()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


@pytest.mark.kafka
def test_worker_promotes_into_mlflow_and_the_alias_moves_only_on_promotion(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    topics = unique_topic_names("mlf")
    create_topics({"bootstrap.servers": kafka_bootstrap}, topics, TopicLayout(partitions=1))
    produce_labelled(kafka_bootstrap, topics.labelled,
                     make_records(400, model_id="m-mlflow", seed=3, logged_accuracy=0.6))
    mlflow_config = _config(tmp_path)
    port = free_port()
    config = write_config(tmp_path / "driftline.yaml", kafka_bootstrap, topics, {
        "mlflow": mlflow_config.model_dump(exclude_none=True),
        "metrics_port": port,
        "transactional_id": f"mlf-{topics.drift}",
        # The challenger must beat the champion by 0.2: the first retrain (vs. the logged
        # predictions, 0.6) does, the second (vs. the promoted model itself) cannot.
        # The synthetic drift event predates the records: train on the last N, no waiting.
        "policy": {"episode_window_s": 1, "min_new_samples": 0, "checks": {"min_samples": 200},
                   "evaluation": {"min_improvement": 0.2}, "window": {"mode": "last_n"},
                   "deferral": {"enabled": False}},
    })
    worker = worker_process(config, tmp_path / "worker.log", port).start()
    try:
        worker.wait_metric("driftline_retrain_rebalances_total", at_least=1, timeout_s=HANG_S)
        produce(kafka_bootstrap, topics.drift,
                [("m-mlflow", drift_event("m-mlflow", 1).model_dump_json().encode())])
        first = read_retrain(kafka_bootstrap, topics.retrain, until=1, timeout_s=HANG_S)
        assert [e.status for e in first] == ["promoted"], (first, worker.tail())
        promoted = first[0]
        assert promoted.artifact_uri == "models:/driftline-m-mlflow/1"

        client = _client(mlflow_config)
        served = _wait_alias(client, "driftline-m-mlflow", "champion", worker)
        assert str(served.version) == "1"
        assert served.tags["driftline.version"] == promoted.new_version
        run = client.get_run(served.run_id)
        assert promoted.evaluation is not None and promoted.training is not None
        assert run.data.metrics["challenger_accuracy"] == pytest.approx(
            promoted.evaluation.challenger["accuracy"])
        assert run.data.metrics["champion_accuracy"] == pytest.approx(
            promoted.evaluation.champion["accuracy"])
        assert run.data.params["window_samples"] == str(promoted.training.sample_count)
        assert json.loads(run.data.tags["driftline.checks_passed"]) == \
            promoted.training.checks_passed

        trigger = subprocess.run(
            [sys.executable, "-m", "driftline", "trigger", "--config", str(config), "--model",
             "m-mlflow",
             "--reason", "second opinion"], capture_output=True, text=True, timeout=60)
        assert trigger.returncode == 0, trigger.stderr
        both = read_retrain(kafka_bootstrap, topics.retrain, until=2, timeout_s=HANG_S)
        second = both[1]
        assert second.status == "rejected", (second, worker.tail())
        assert second.artifact_uri == "models:/driftline-m-mlflow/2"
        rejected = client.get_model_version("driftline-m-mlflow", "2")
        assert rejected.tags["driftline.decision"] == "rejected"
        served = client.get_model_version_by_alias("driftline-m-mlflow", "champion")
        assert str(served.version) == "1", "a rejected retrain moved the serving alias"
    finally:
        assert worker.stop() == 0, worker.tail()
