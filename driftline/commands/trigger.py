"""``driftline trigger --model M --reason …``: ask the retrain worker for a retrain, now.

Publishes one :class:`~retrain_worker.contracts.Trigger` (key = model id) to the triggers topic
and prints it. ``--trigger-id`` makes a retry idempotent: the worker answers an id once.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import uuid
from datetime import UTC, datetime
from typing import Any


def _handle(args: argparse.Namespace) -> int:
    from confluent_kafka import Producer

    from driftline.config import load
    from retrain_worker.contracts import Trigger

    config = load(args.config)  # a ConfigError ends the command with exit 2 (driftline.cli)
    trigger = Trigger(
        trigger_id=args.trigger_id or f"tr-{uuid.uuid4().hex}",
        model_id=args.model,
        reason=args.reason,
        requested_by=args.requested_by,
        timestamp=datetime.now(UTC),
    )
    errors: list[str] = []
    producer = Producer({**config.kafka, "enable.idempotence": True})
    producer.produce(
        config.topics.triggers, key=trigger.model_id.encode(),
        value=trigger.model_dump_json().encode(),
        on_delivery=lambda err, msg: errors.append(str(err)) if err else None,
    )
    if producer.flush(args.timeout) > 0 or errors:
        print(f"trigger not delivered: {errors or 'timed out'}", file=sys.stderr)
        return 1
    print(trigger.model_dump_json())
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("trigger", help="request a retrain of one model on demand")
    parser.add_argument("--config", metavar="FILE", help="driftline.yaml (DRIFTLINE_… overrides)")
    parser.add_argument("--model", required=True, help="model_id to retrain")
    parser.add_argument("--reason", required=True, help="why (kept in the retrain event)")
    parser.add_argument("--requested-by", default=getpass.getuser(), help="who asks")
    parser.add_argument("--trigger-id", help="idempotency key (default: a fresh id)")
    parser.add_argument("--timeout", type=float, default=30.0, help="delivery timeout (s)")
    parser.set_defaults(handler=_handle)
