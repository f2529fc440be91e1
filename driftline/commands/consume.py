"""``driftline consume``: run one process of the consumer group (see :mod:`consumer.service`).

Exit codes: 0 after a clean SIGTERM/SIGINT shutdown, 2 bad configuration or topic layout,
3 no broker within ``consumer.broker_timeout_s``, 4 state could not be restored, 5 shutdown bound
exceeded, 6 producer fenced or fatal Kafka error, 7 a Kafka client call hung past its timeout
(librdkafka #5456; restart).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def _handle(args: argparse.Namespace) -> int:
    from driftline.config import load, render

    config = load(args.config)  # a ConfigError ends the command with exit 2 (driftline.cli)
    if args.print_config:
        sys.stdout.write(render(config))
        return 0
    from consumer.service import ConsumerService

    return ConsumerService(config).run()


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "consume", help="run the consumer group: predictions and labels in, drift events out"
    )
    parser.add_argument("--config", metavar="FILE", help="driftline.yaml (DRIFTLINE_… env vars "
                        "override it)")
    parser.add_argument("--print-config", action="store_true",
                        help="print the effective configuration (secrets masked) and exit")
    parser.set_defaults(handler=_handle)
