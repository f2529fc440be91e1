"""``driftline topics create``: create every Driftline topic with the right settings.

Idempotent: existing topics are left as they are and reported. Partitions and replication come
from ``topic_layout`` in the config file or from the flags. Waits up to ``--timeout`` for a
broker and says why none answered (exit 3); a refused configuration or authentication exits 2;
a topic the broker refuses to create exits 1 naming it.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def _handle(args: argparse.Namespace) -> int:
    from consumer.broker_watch import wait_for_cluster
    from consumer.clients import librdkafka_logger
    from consumer.topics import TopicError, create_topics, topic_settings
    from driftline.config import load

    config = load(args.config)  # a ConfigError ends the command with exit 2 (driftline.cli)
    kafka: dict[str, Any] = {**config.kafka, "logger": librdkafka_logger()}
    if args.bootstrap_servers:
        kafka["bootstrap.servers"] = args.bootstrap_servers
    layout = config.topic_layout.model_copy(
        update={
            key: value
            for key, value in (
                ("partitions", args.partitions),
                ("replication_factor", args.replication_factor),
            )
            if value is not None
        }
    )
    wait_for_cluster(kafka, args.timeout, bound="--timeout")
    try:
        created = create_topics(kafka, config.topics, layout, timeout_s=args.timeout)
    except TopicError as exc:
        print(f"driftline topics create: {exc}", file=sys.stderr)
        return 1
    for name in topic_settings(config.topics, layout):
        print(f"{'created' if name in created else 'exists '}  {name}")
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("topics", help="manage Driftline's Kafka topics")
    actions = parser.add_subparsers(dest="topics_action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="create every Driftline topic (idempotent)")
    create.add_argument("--config", metavar="FILE",
                        help="driftline.yaml (kafka, topics, topic_layout sections)")
    create.add_argument("--bootstrap-servers", help="overrides kafka.bootstrap.servers")
    create.add_argument("--partitions", type=int,
                        help="partitions per topic (default: topic_layout.partitions, 6)")
    create.add_argument("--replication-factor", type=int,
                        help="replication factor (default: topic_layout.replication_factor, 1)")
    create.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                        help="how long to wait for a broker and for the creation")
    create.set_defaults(handler=_handle)
