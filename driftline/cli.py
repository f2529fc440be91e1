"""``driftline`` command line: one sub-command per module in :mod:`driftline.commands`.

Contract:

* Each command module exposes ``register(subparsers)``, which adds its parser and sets
  ``handler`` (a function taking the parsed namespace and returning an exit code). Modules are
  imported only to build the parser; everything heavy (pydantic, River, Kafka) is imported
  inside handlers, so ``driftline --help`` and ``driftline --version`` import none of it
  (``tests/driftline/test_cli.py`` checks).
* Every option has help text; defaults are shown (:class:`HelpFormatter`).
* How a command ends: its handler's exit code; a :class:`~detectors.exceptions.DriftlineError`
  ends it with one line and the error's exit code (2 for any configuration problem, Kafka's
  included); any other Kafka client error with one line and exit 1, never a traceback. Output
  into a closed pipe (``driftline schema | head``) ends quietly with 141 (128 + SIGPIPE).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

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

#: Exit code of a command whose output pipe was closed by the reader.
BROKEN_PIPE_EXIT = 141


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows ``(default: …)`` for options that have a meaningful default (not None/False)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.default in (None, False) or "default" in text:
            return text
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """Every ``driftline`` parser (sub-commands included): defaults shown."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as package_version

    try:
        return package_version("driftline")
    except PackageNotFoundError:  # running from a checkout that was not installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="driftline",
        description="Streaming drift detection over Apache Kafka, closing the loop to retraining.",
    )
    parser.add_argument("--version", action="version", version=f"driftline {version()}")
    parser.add_argument(
        "--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        type=str.upper, help="logging level of the services' log lines on stderr",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def _error_line(command: str, exc: BaseException) -> tuple[str, int]:
    """The one line (and exit code) a command ends with on ``exc``; ``("", 0)``: not ours."""
    from confluent_kafka import KafkaException

    from consumer.clients import describe
    from consumer.exceptions import KafkaAuthenticationError
    from detectors.exceptions import ConfigError, DriftlineError

    if isinstance(exc, DriftlineError):
        if isinstance(exc, KafkaAuthenticationError):
            what = "authentication failed"
        elif isinstance(exc, ConfigError):
            what = "invalid configuration"
        else:
            what = type(exc).__name__
        text = str(exc)
        return f"driftline {command}: {what}:{chr(10) if chr(10) in text else ' '}{text}", \
            exc.exit_code
    if isinstance(exc, KafkaException):
        return f"driftline {command}: Kafka error: {describe(exc)}", 1
    return "", 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        code: int = args.handler(args)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`| head`): no traceback, and no second one at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return BROKEN_PIPE_EXIT
    except Exception as exc:
        line, code = _error_line(args.command, exc)
        if not line:
            raise
        print(line, file=sys.stderr)
        return code
    return code


if __name__ == "__main__":
    sys.exit(main())
