"""Creating Driftline's topics with the right settings; idempotent.

Contract: :func:`create_topics` creates every topic named in :class:`~consumer.config.TopicNames`
that does not exist yet and leaves existing ones alone (running it twice is fine). The state
topic is compacted (it holds the latest snapshot per key); the input, drift, retrain, DLQ and
labelled topics are time-retained; all get ``min.insync.replicas`` that the replication factor
can satisfy. Input topics must be co-partitioned, so they are created with the same partition
count; :func:`check_copartitioned` verifies that for existing topics.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import NewTopic

from consumer.clients import new_admin
from consumer.config import TopicLayout, TopicNames

#: Most bytes (key, value and headers) of one record Driftline writes to any of its topics: under
#: librdkafka's ``message.max.bytes`` and the broker's ``max.message.bytes`` defaults (1 000 000
#: and 1 048 588 bytes). A record the producer refused would abort every transaction carrying it,
#: so what could be bigger is cut (state snapshots), trimmed (dead letters) or held back
#: (labelled records).
MAX_RECORD_BYTES = 900_000


class TopicError(RuntimeError):
    """A topic could not be created, or existing topics do not fit Driftline's needs."""


def topic_settings(topics: TopicNames, layout: TopicLayout) -> dict[str, dict[str, str]]:
    """Topic name → topic-level configs, for every Driftline topic.

    >>> settings = topic_settings(TopicNames(), TopicLayout())
    >>> settings["driftline.state"]["cleanup.policy"]
    'compact'
    >>> settings["driftline.drift"]["retention.ms"]
    '604800000'
    """
    min_isr = "2" if layout.replication_factor >= 3 else "1"
    retained = {
        "cleanup.policy": "delete",
        "retention.ms": str(layout.retention_ms),
        "min.insync.replicas": min_isr,
    }
    settings = {
        name: dict(retained)
        for name in (
            topics.predictions,
            topics.labels,
            topics.drift,
            topics.triggers,
            topics.retrain,
            topics.dlq,
        )
    }
    settings[topics.labelled] = {**retained, "retention.ms": str(layout.labelled_retention_ms)}
    settings[topics.state] = {
        "cleanup.policy": "compact",
        "min.insync.replicas": min_isr,
        "min.compaction.lag.ms": "0",
        "segment.ms": str(60 * 60 * 1000),
    }
    return settings


def create_topics(
    kafka_conf: Mapping[str, Any], topics: TopicNames, layout: TopicLayout, timeout_s: float = 30
) -> list[str]:
    """Create the missing Driftline topics; return the names it created (existing are skipped)."""
    admin = new_admin(kafka_conf)
    existing = set(admin.list_topics(timeout=timeout_s).topics)
    wanted = topic_settings(topics, layout)
    new = [
        NewTopic(
            name,
            num_partitions=layout.partitions,
            replication_factor=layout.replication_factor,
            config=config,
        )
        for name, config in wanted.items()
        if name not in existing
    ]
    if not new:
        return []
    futures = admin.create_topics(new, operation_timeout=timeout_s, request_timeout=timeout_s)
    created = []
    for name, future in futures.items():
        try:
            future.result()
            created.append(name)
        except KafkaException as exc:
            if exc.args[0].name() == "TOPIC_ALREADY_EXISTS":
                continue
            raise TopicError(f"could not create topic {name}: {exc.args[0].str()}") from exc
    return sorted(created)


def counts_in(metadata: Any, names: list[str]) -> dict[str, int]:
    """Partition count of each named topic in cluster ``metadata``; :class:`TopicError` names
    every missing one."""
    missing = [name for name in names
               if metadata.topics.get(name) is None or metadata.topics[name].error is not None]
    if missing:
        raise TopicError(
            f"topic{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            f"{'do' if len(missing) > 1 else 'does'} not exist: create "
            f"{'them' if len(missing) > 1 else 'it'} with `driftline topics create`")
    return {name: len(metadata.topics[name].partitions) for name in names}


def partition_counts(
    kafka_conf: Mapping[str, Any], names: list[str], timeout_s: float = 30
) -> dict[str, int]:
    """Partition count of each named topic; raises :class:`TopicError` for a missing one."""
    return counts_in(new_admin(kafka_conf).list_topics(timeout=timeout_s), names)


def check_copartitioned(kafka_conf: Mapping[str, Any], names: list[str]) -> int:
    """Return the shared partition count of ``names``, or raise :class:`TopicError` saying why."""
    counts = partition_counts(kafka_conf, names)
    if len(set(counts.values())) > 1:
        listing = ", ".join(f"{name}={count}" for name, count in counts.items())
        raise TopicError(
            f"input topics are not co-partitioned ({listing}): predictions and labels must "
            "have the same partition count, keyed by model_id"
        )
    return next(iter(counts.values()))


__all__ = [
    "MAX_RECORD_BYTES",
    "TopicError",
    "check_copartitioned",
    "counts_in",
    "create_topics",
    "partition_counts",
    "topic_settings",
]
