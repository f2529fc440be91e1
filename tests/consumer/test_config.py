"""The one config loader (:mod:`consumer.config`): file, typed environment overrides, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from consumer.config import ConfigError, ConsumerServiceConfig, ServiceConfig, load_config
from retrain_worker.config import WorkerServiceConfig


def test_kafka_env_property_keeps_default_bootstrap() -> None:
    config = load_config(ServiceConfig, environ={"DRIFTLINE_KAFKA__SASL_MECHANISM": "PLAIN"})
    assert config.kafka == {"bootstrap.servers": "localhost:9092", "sasl.mechanism": "PLAIN"}


def test_env_overrides_file_value(tmp_path: Path) -> None:
    path = tmp_path / "driftline.yaml"
    path.write_text("kafka:\n  bootstrap.servers: a:9092\ntopics:\n  drift: team.drift\n")
    config = load_config(ServiceConfig, path, environ={"DRIFTLINE_TOPICS__DRIFT": "other.drift",
                                                       "DRIFTLINE_TOPIC_LAYOUT__PARTITIONS": "12"})
    assert config.kafka["bootstrap.servers"] == "a:9092"
    assert config.topics.drift == "other.drift"
    assert config.topic_layout.partitions == 12


def test_bad_value_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "driftline.yaml"
    path.write_text("topic_layout:\n  partitions: 0\ntopics:\n  nonsense: x\n")
    with pytest.raises(ConfigError) as info:
        load_config(ServiceConfig, path, environ={})
    message = str(info.value)
    assert "topic_layout.partitions: Input should be greater than or equal to 1" in message
    assert "topics.nonsense: Extra inputs are not permitted" in message


def test_missing_file_and_bad_yaml_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(ServiceConfig, tmp_path / "nope.yaml", environ={})
    bad = tmp_path / "bad.yaml"
    bad.write_text("kafka: [unclosed\n")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        load_config(ServiceConfig, bad, environ={})


@pytest.mark.parametrize("secret", ["0123", "off", "*x", "[1", "true", "1e3", "null", ""])
def test_secrets_from_the_environment_keep_their_exact_string(secret: str) -> None:
    config = load_config(ConsumerServiceConfig, environ={
        "DRIFTLINE_KAFKA__SASL_PASSWORD": secret,
        "DRIFTLINE_CONSUMER__PRODUCER_PROPERTIES__SSL_KEY_PASSWORD": secret,
    })
    assert config.kafka["sasl.password"] == secret
    assert config.consumer.producer_properties["ssl.key.password"] == secret


def test_typed_fields_convert_the_string_and_json_fills_lists() -> None:
    config = load_config(ConsumerServiceConfig, environ={
        "DRIFTLINE_CONSUMER__BATCH_SIZE": "64",
        "DRIFTLINE_CONSUMER__DETECTOR_STATISTICS": "off",
        "DRIFTLINE_DETECTION__KNOWN_MODELS": '["fraud", "churn"]',
        "DRIFTLINE_DETECTION__MODELS__FRAUD__COOLDOWN_SAMPLES": "50",
    })
    assert config.consumer.batch_size == 64
    assert config.consumer.detector_statistics is False
    assert config.detection.known_models == ["fraud", "churn"]
    assert config.detection.setting("fraud", "cooldown_samples") == 50


def test_a_bad_value_from_the_environment_names_the_variable(tmp_path: Path) -> None:
    path = tmp_path / "driftline.yaml"
    path.write_text("consumer:\n  batch_size: 0\n")
    with pytest.raises(ConfigError) as info:
        load_config(ConsumerServiceConfig, path,
                    environ={"DRIFTLINE_CONSUMER__COMMIT_INTERVAL_MS": "soon"})
    lines = str(info.value).splitlines()
    assert ("DRIFTLINE_CONSUMER__COMMIT_INTERVAL_MS (consumer.commit_interval_ms): Input should "
            "be a valid integer, unable to parse string as an integer") in lines
    assert f"{path}: consumer.batch_size: Input should be greater than or equal to 1" in lines
    with pytest.raises(ConfigError, match=r"^DRIFTLINE_DETECTION__KNOWN_MODELS \(detection\."
                                          r"known_models\): expected JSON"):
        load_config(ConsumerServiceConfig, environ={"DRIFTLINE_DETECTION__KNOWN_MODELS": "[a"})


def test_unknown_sections_are_refused_with_a_suggestion(tmp_path: Path) -> None:
    path = tmp_path / "driftline.yaml"
    path.write_text("consumers:\n  batch_size: 10\n")
    with pytest.raises(ConfigError, match=r"consumers: unknown section 'consumers'; did you mean "
                                          r"'consumer'\?"):
        load_config(ConsumerServiceConfig, path, environ={})
    with pytest.raises(ConfigError, match=r"^DRIFTLINE_WORKERS__GROUP_ID: unknown section "
                                          r"'workers'; did you mean 'worker'\?"):
        load_config(ConsumerServiceConfig, environ={"DRIFTLINE_WORKERS__GROUP_ID": "x"})


def test_each_service_skips_the_sections_of_the_other(tmp_path: Path) -> None:
    path = tmp_path / "driftline.yaml"
    path.write_text("worker:\n  group_id: w\nconsumer:\n  group_id: c\n")
    assert load_config(ConsumerServiceConfig, path, environ={}).consumer.group_id == "c"
    assert load_config(WorkerServiceConfig, path, environ={}).worker.group_id == "w"


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


def test_an_adwin_with_one_bucket_is_refused_at_start_up(tmp_path: Path) -> None:
    """River's ADWIN panics on some streams with max_buckets 1 (a Rust panic, past every
    ``except Exception``): refused when the configuration loads, naming the field."""
    path = tmp_path / "driftline.yaml"
    path.write_text("detection:\n  signals:\n    score: [{type: adwin, max_buckets: 1}]\n")
    with pytest.raises(ConfigError) as info:
        load_config(ConsumerServiceConfig, path, environ={})
    assert "detection.signals.score.0.adwin.max_buckets: Input should be greater than or " \
           "equal to 2" in str(info.value)
