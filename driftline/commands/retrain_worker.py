"""``driftline retrain-worker --config driftline.yaml``: run the retrain worker (issue 5).

Exit codes: 0 after SIGTERM/SIGINT, 2 bad configuration, 4 decision log unreadable, 6 fenced or
fatal producer.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

log = logging.getLogger("driftline.retrain_worker")


def _handle(args: argparse.Namespace) -> int:
    from consumer.config import ConfigError, load_config, mask_secrets
    from retrain_worker.config import WorkerServiceConfig
    from retrain_worker.exceptions import RetrainWorkerError
    from retrain_worker.service import run_worker

    try:
        config = load_config(WorkerServiceConfig, args.config)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    log.info("configuration: %s", json.dumps(mask_secrets(config)))
    try:
        return run_worker(config)
    except RetrainWorkerError as exc:
        log.error("%s: %s", type(exc).__name__, exc)
        return exc.exit_code


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "retrain-worker", help="retrain models on drift, on demand and on a schedule")
    parser.add_argument("--config", metavar="FILE", help="driftline.yaml (DRIFTLINE_… overrides)")
    parser.set_defaults(handler=_handle)
