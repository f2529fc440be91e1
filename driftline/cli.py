"""``driftline`` command line: one sub-command per module in :mod:`driftline.commands`.

Each command module exposes ``register(subparsers)``, which adds its parser and sets
``handler`` (a function taking the parsed namespace and returning an exit code). Modules are
imported only to build the parser; heavy imports belong inside handlers so ``driftline --help``
stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from detectors.exceptions import ConfigError, DriftlineError

#: Sub-command modules, in the order ``driftline --help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "driftline.commands.consume",
    "driftline.commands.topics",
    "driftline.commands.schema",
    "driftline.commands.retrain_worker",
    "driftline.commands.trigger",
    "driftline.commands.simulate",
    "driftline.commands.replay",
    "driftline.commands.demo",
    "driftline.commands.calibrate",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="driftline",
        description="Streaming drift detection over Apache Kafka, closing the loop to retraining.",
    )
    parser.add_argument(
        "--log-level", default="INFO", help="logging level (DEBUG, INFO, WARNING, ERROR)"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        code: int = args.handler(args)
    except DriftlineError as exc:
        # Configuration and runtime errors end in one readable message and their exit code.
        what = "invalid configuration" if isinstance(exc, ConfigError) else type(exc).__name__
        text = str(exc)
        print(f"driftline {args.command}: {what}:{chr(10) if chr(10) in text else ' '}{text}",
              file=sys.stderr)
        return exc.exit_code
    return code


if __name__ == "__main__":
    sys.exit(main())
