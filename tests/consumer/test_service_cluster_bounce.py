"""Against a 3-node cluster: each broker in turn is killed (``kill -9``) and restarted while
``driftline consume`` runs. The process keeps serving through every bounce, without a
supervisor: a transactional call that librdkafka leaves stuck after the coordinator moved
(#5456/#5511) is replaced in-process (:mod:`consumer.transactions`) instead of exiting 7.
Outputs stay exactly-once."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from consumer.config import TopicLayout
from consumer.topics import create_topics
from driftline.dev.local_broker import LocalKafka
from tests.conftest import unique_topic_names
from tests.consumer.helpers import (
    ConsumerProcess,
    ServiceProcess,
    canonical,
    encode,
    oracle,
    produce,
    synthetic_stream,
    topic_values,
    wait_committed,
)
from tests.hang import HANG_S

pytestmark = pytest.mark.kafka


def test_the_consumer_serves_through_a_bounce_of_every_broker(
    kafka_cluster3: LocalKafka, tmp_path: Path, services: list[ServiceProcess],
) -> None:
    bootstrap = kafka_cluster3.bootstrap_servers
    names = unique_topic_names("bounce")
    names = names.model_copy(update={"labels": names.predictions})
    create_topics({"bootstrap.servers": bootstrap}, names,
                  TopicLayout(partitions=2, replication_factor=3))
    events = synthetic_stream(models=4, per_model=400, seed=11)
    chunks = [events[i * len(events) // 4:(i + 1) * len(events) // 4] for i in range(4)]
    group = f"g-{uuid.uuid4().hex[:8]}"
    service = ConsumerProcess(tmp_path, bootstrap, names, group=group, instance="a",
                             consumer={"broker_timeout_s": HANG_S, "revoke_timeout_s": 30})
    services.append(service.start())
    service.wait_ready(HANG_S)
    for chunk, node in zip(chunks, [1, 2, 3, None], strict=True):
        produce(bootstrap, names.predictions,
                ((e["model_id"].encode(), encode(e)) for e in chunk))
        wait_committed(bootstrap, group, names.predictions, HANG_S, [service])
        if node is not None:
            kafka_cluster3.kill(node)
            kafka_cluster3.restart(node)
        service.assert_alive()  # no exit 7, no supervisor
    expected_drift, expected_labelled = oracle(bootstrap, names.predictions)
    assert canonical(topic_values(bootstrap, names.drift)) == expected_drift
    assert canonical(topic_values(bootstrap, names.labelled)) == expected_labelled
    assert service.terminate(timeout_s=HANG_S) == 0, service.tail()
    replaced = service.log_text().count("replacing the producer")
    print(f"\n[bounce] producer replacements: {replaced}")
