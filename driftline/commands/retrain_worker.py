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
    from consumer.config import mask_secrets
    from driftline.config import load, render
    from retrain_worker.service import run_worker

    config = load(args.config)  # a ConfigError ends the command with exit 2 (driftline.cli)
    if args.print_config:
        sys.stdout.write(render(config))
        return 0
    log.info("configuration: %s", json.dumps(mask_secrets(config.worker)))
    return run_worker(config)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "retrain-worker", help="retrain models on drift, on demand and on a schedule")
    parser.add_argument("--config", metavar="FILE", help="driftline.yaml (DRIFTLINE_… overrides)")
    parser.add_argument("--print-config", action="store_true",
                        help="print the effective configuration (secrets masked) and exit")
    parser.set_defaults(handler=_handle)
