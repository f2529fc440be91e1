"""Shared fixtures: a real Apache Kafka broker, started once per test run.

* ``kafka_bootstrap`` (session): bootstrap servers of a single-node KRaft broker started from the
  Maven Central jars by :mod:`driftline.dev.local_broker`; set ``DRIFTLINE_TEST_BOOTSTRAP`` to use an
  existing broker instead. Its logs stay in the pytest temp dir for post-mortems.
* ``kafka_cluster3`` (session, started on first use): a 3-node cluster for fault tests.
* ``topic_names``: every Driftline topic under a unique prefix, created on the broker.
* ``kafka_conf``: ``{"bootstrap.servers": ...}`` for clients.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from consumer.config import TopicLayout, TopicNames
from consumer.topics import create_topics
from driftline.dev.local_broker import LocalKafka

log = logging.getLogger(__name__)


#: Markers of long runs that a test selection includes only when it names them (``-m soak``,
#: ``-m image``): ``pytest`` and ``pytest -m "not kafka"`` leave them out.
OPT_IN_MARKERS = ("soak", "image")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    selection = config.option.markexpr or ""
    for marker in OPT_IN_MARKERS:
        if marker in selection:
            continue
        skip = pytest.mark.skip(reason=f"a long run: select it with -m {marker}")
        for item in items:
            if marker in item.keywords:
                item.add_marker(skip)


def _announce(config: pytest.Config, line: str) -> None:
    """Write past pytest's output capture, so CI logs show broker start-up times."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line(line)


@pytest.fixture(scope="session")
def kafka_bootstrap(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[str]:
    existing = os.environ.get("DRIFTLINE_TEST_BOOTSTRAP")
    if existing:
        yield existing
        return
    cluster = LocalKafka(directory=tmp_path_factory.mktemp("kafka"))
    began = time.monotonic()
    bootstrap = cluster.start()
    _announce(pytestconfig,
              f"\n[kafka] single-node broker up at {bootstrap} in {time.monotonic() - began:.1f}s")
    try:
        yield bootstrap
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def kafka_cluster3(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[LocalKafka]:
    cluster = LocalKafka(directory=tmp_path_factory.mktemp("kafka3"), nodes=3, heap="512m")
    began = time.monotonic()
    cluster.start()
    _announce(pytestconfig, f"\n[kafka] 3-node cluster up in {time.monotonic() - began:.1f}s")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def kafka_conf(kafka_bootstrap: str) -> dict[str, str]:
    return {"bootstrap.servers": kafka_bootstrap}


def unique_topic_names(prefix: str = "t") -> TopicNames:
    """Every Driftline topic under a fresh prefix, so tests never share topics."""
    tag = f"{prefix}-{uuid.uuid4().hex[:8]}"
    defaults = TopicNames()
    return TopicNames(
        **{
            field: f"{tag}.{getattr(defaults, field).split('.', 1)[1]}"
            for field in TopicNames.model_fields
        }
    )


@pytest.fixture
def topic_names(kafka_conf: dict[str, str]) -> TopicNames:
    names = unique_topic_names()
    create_topics(kafka_conf, names, TopicLayout(partitions=1, replication_factor=1))
    return names


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]
