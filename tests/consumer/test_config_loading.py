"""Config loading: environment overrides merge with the file and with the defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from consumer.config import ConfigError, ServiceConfig, load_config


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
