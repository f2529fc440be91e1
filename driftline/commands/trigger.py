"""``driftline trigger --model M --reason …``: ask the retrain worker for a retrain, now.

Publishes one :class:`~retrain_worker.contracts.Trigger` (key = model id) to the triggers topic
and prints it. ``--trigger-id`` makes a retry idempotent: the worker answers an id once.

How it ends: 0 delivered; 2 a configuration problem, authentication refused or the triggers
topic missing; 3 no broker within ``--timeout`` (the message says where it looked and what the
client saw); 1 not delivered (the broker's reason). A model the configuration does not know
(``detection.known_models`` or ``worker.models``, when either lists models) is still sent (the
worker answers every trigger; with no labelled records of the model the answer is ``skipped``,
its data checks failing), with a warning on stderr.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import uuid
from datetime import UTC, datetime
from typing import Any


def unknown_model_warning(model_id: str, known_models: list[str] | None,
                          worker_models: list[str]) -> str | None:
    """The warning for a model the configuration does not list, if it lists any.

    >>> unknown_model_warning("fraud", ["fraud"], [])
    >>> print(unknown_model_warning("frad", ["fraud", "churn"], []))
    warning: model 'frad' is not in detection.known_models (fraud, churn); sent anyway: the worker answers it, 'skipped' (min_samples) if it has no labelled records of that model
    """
    listed = {name: models for name, models in (("detection.known_models", known_models),
                                                 ("worker.models", worker_models)) if models}
    for setting, models in listed.items():
        if model_id not in models:
            return (f"warning: model {model_id!r} is not in {setting} ({', '.join(models)}); "
                    "sent anyway: the worker answers it, 'skipped' (min_samples) if it has no "
                    "labelled records of that model")
    return None


def requester() -> str:
    """Who asks, by default: the login name, else ``$USER``, else ``unknown`` (a uid without a
    passwd entry, as in OpenShift, has no login name: asking must not crash the command)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER") or "unknown"


def _handle(args: argparse.Namespace) -> int:
    from consumer.broker_watch import wait_for_cluster
    from consumer.clients import describe, librdkafka_logger, new_producer
    from consumer.exceptions import TopicLayoutError
    from consumer.topics import TopicError, counts_in
    from driftline.config import load
    from retrain_worker.contracts import Trigger

    config = load(args.config)  # a ConfigError ends the command with exit 2 (driftline.cli)
    trigger = Trigger(
        trigger_id=args.trigger_id or f"tr-{uuid.uuid4().hex}",
        model_id=args.model,
        reason=args.reason,
        requested_by=args.requested_by or requester(),
        timestamp=datetime.now(UTC),
    )
    warning = unknown_model_warning(args.model, config.detection.known_models,
                                    list(config.worker.models))
    if warning:
        print(warning, file=sys.stderr)
    conf: dict[str, Any] = {**config.kafka, "logger": librdkafka_logger()}
    producer = new_producer({**conf, "enable.idempotence": True})
    metadata = wait_for_cluster(conf, args.timeout, bound="--timeout")
    try:
        counts_in(metadata, [config.topics.triggers])
    except TopicError as exc:
        raise TopicLayoutError(str(exc)) from None
    errors: list[str] = []
    producer.produce(
        config.topics.triggers, key=trigger.model_id.encode(),
        value=trigger.model_dump_json().encode(),
        on_delivery=lambda err, msg: errors.append(describe(err)) if err else None,
    )
    if producer.flush(args.timeout) > 0 or errors:
        why = errors[0] if errors else f"no acknowledgement from the broker within {args.timeout:g}s"
        print(f"driftline trigger: not delivered to {config.topics.triggers}: {why}",
              file=sys.stderr)
        return 1
    print(trigger.model_dump_json())
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("trigger", help="request a retrain of one model on demand")
    parser.add_argument("--config", metavar="FILE", help="driftline.yaml (DRIFTLINE_… overrides)")
    parser.add_argument("--model", required=True, help="model_id to retrain")
    parser.add_argument("--reason", required=True, help="why (kept in the retrain event)")
    parser.add_argument("--requested-by", help="who asks (default: the login name)")
    parser.add_argument("--trigger-id", help="idempotency key (default: a fresh id)")
    parser.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                        help="how long to wait for a broker and for the delivery")
    parser.set_defaults(handler=_handle)
