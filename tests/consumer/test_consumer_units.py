"""Pure parts of the consumer service: config, field mapping, decoding, health endpoints, CLI."""

from __future__ import annotations

import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from consumer.batch import Decoder
from consumer.config import ConfigError, ConsumerServiceConfig, load_config
from consumer.field_mapping import FieldMapping
from consumer.health import HealthServer, HealthState
from consumer.metrics import Metrics
from detectors.contracts import Label, Prediction
from detectors.rejection import Rejection
from tests.consumer.helpers import DRIFTLINE, REPO


def test_env_overrides_and_errors_name_the_field(tmp_path: Path) -> None:
    path = tmp_path / "driftline.yaml"
    path.write_text(yaml.safe_dump({
        "kafka": {"bootstrap.servers": "b:9092", "security.protocol": "SASL_SSL"},
        "consumer": {"commit_interval_ms": 250},
        "detection": {"known_models": ["fraud"]},
    }))
    config = load_config(ConsumerServiceConfig, path, environ={
        "DRIFTLINE_CONSUMER__BATCH_SIZE": "64", "DRIFTLINE_KAFKA__SASL_PASSWORD": "s3cret"})
    assert config.consumer.batch_size == 64
    assert config.consumer.commit_interval_ms == 250
    assert config.kafka["sasl.password"] == "s3cret"
    assert config.kafka["security.protocol"] == "SASL_SSL"
    assert config.detection.known_models == ["fraud"]
    assert config.consumer.group_id == "driftline-consumer"
    with pytest.raises(ConfigError, match=r"consumer\.commit_interval_ms"):
        load_config(ConsumerServiceConfig, path,
                    environ={"DRIFTLINE_CONSUMER__COMMIT_INTERVAL_MS": "0"})
    path.write_text(yaml.safe_dump({"field_mapping": {"prediction": {"nope": "/x"}}}))
    with pytest.raises(ConfigError, match=r"field_mapping\.prediction"):
        load_config(ConsumerServiceConfig, path, environ={})


def test_print_config_masks_secrets_and_bad_config_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "driftline.yaml"
    path.write_text(yaml.safe_dump({
        "kafka": {"bootstrap.servers": "b:9092", "sasl.password": "hunter2"},
        "consumer": {"producer_properties": {"ssl.key.password": "swordfish"}}}))
    out = subprocess.run([*DRIFTLINE, "consume", "--config", str(path), "--print-config"],
                         cwd=REPO, capture_output=True, text=True, check=True).stdout
    dumped = yaml.safe_load(out)
    assert dumped["kafka"]["sasl.password"] == "***"
    assert dumped["consumer"]["producer_properties"]["ssl.key.password"] == "***"
    assert dumped["consumer"]["commit_interval_ms"] == 200
    # Driftline's own settings are never masked, "key" in their names or not.
    assert dumped["detection"]["max_tracked_keys"] == 10_000
    assert dumped["detection"]["idle_key_ttl_s"] == 604_800
    assert "hunter2" not in out and "swordfish" not in out
    path.write_text(yaml.safe_dump({"consumer": {"batch_size": "lots"}}))
    bad = subprocess.run([*DRIFTLINE, "consume", "--config", str(path)], cwd=REPO,
                         capture_output=True, text=True)
    assert bad.returncode == 2
    assert "consumer.batch_size" in bad.stderr


def test_decoder_with_field_mapping() -> None:
    mapping = FieldMapping.model_validate({
        "type_path": "/kind", "type_values": {"inference": "prediction", "truth": "label"},
        "prediction": {"prediction_id": "/id", "model_id": "/model/name",
                       "model_version": "/model/version", "timestamp": "/ts",
                       "features": "/input", "prediction": "/out"},
        "label": {"prediction_id": "/id", "model_id": "/model/name", "timestamp": "/ts",
                  "label": "/y"},
    })
    decoder = Decoder(mapping)
    p = decoder.decode(b'{"kind":"inference","id":"r1","model":{"name":"m","version":"7"},'
                       b'"ts":0,"input":{"a":1.5},"out":1}', b"m", "t", 0, 0)
    assert isinstance(p, Prediction) and p.model_version == "7" and p.features == {"a": 1.5}
    label = decoder.decode(b'{"kind":"truth","id":"r1","model":{"name":"m"},"ts":5,"y":0}',
                           b"m", "t", 0, 1)
    assert isinstance(label, Label) and label.label == 0
    missing = decoder.decode(b'{"kind":"inference","id":"r2","ts":0,"out":1}', b"m", "t", 0, 2)
    assert isinstance(missing, Rejection)
    assert "prediction.model_id" in missing.message
    assert decoder.decode(b"[1,", b"m", "t", 0, 3).reason == "deserialize:JSONDecodeError"


def test_health_endpoints() -> None:
    state = HealthState()
    metrics = Metrics()
    server = HealthServer(metrics.registry, state, "127.0.0.1", 0).start()

    def get(path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}") as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    try:
        assert get("/healthz")[0] == 200
        assert get("/readyz") == (503, "starting\n")
        state.set_ready(True)
        assert get("/readyz")[0] == 200
        state.broker_down()
        assert get("/healthz")[0] == 503 and get("/readyz")[0] == 503
        status, body = get("/metrics")
        assert status == 200 and "driftline_consumer_commit_duration_seconds" in body
        assert get("/nope")[0] == 404
    finally:
        server.stop()
