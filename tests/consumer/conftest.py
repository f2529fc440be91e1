"""Fixtures of the consumer service tests (the broker fixtures are in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from consumer.config import TopicLayout, TopicNames
from consumer.topics import create_topics
from tests.conftest import unique_topic_names
from tests.consumer.helpers import ServiceProcess


@pytest.fixture
def one_input_topics(kafka_conf: dict[str, str]) -> Callable[[int], TopicNames]:
    """Topics where predictions and labels share ONE input topic, with ``n`` partitions."""

    def make(partitions: int = 1) -> TopicNames:
        names = unique_topic_names("svc")
        names = names.model_copy(update={"labels": names.predictions})
        create_topics(kafka_conf, names, TopicLayout(partitions=partitions))
        return names

    return make


@pytest.fixture
def services(tmp_path: Path) -> Iterator[list[ServiceProcess]]:
    """Started service processes are appended here and killed at the end of the test."""
    started: list[ServiceProcess] = []
    yield started
    for service in started:
        service.ensure_stopped()
