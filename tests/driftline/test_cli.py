"""The ``driftline`` command line itself (:mod:`driftline.cli`): fast help, ``--version``, help
text for every option with defaults and no reST, a closed pipe, ``schema`` listing names."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest

from driftline.cli import build_parser
from driftline.commands.schema import CONTRACT_NAMES
from tests.consumer.helpers import DRIFTLINE, REPO

pytestmark = pytest.mark.slow

#: What only a handler may import: pydantic, River, the Kafka client, numpy.
HEAVY = ("pydantic", "river", "confluent_kafka", "numpy", "scipy", "detectors", "consumer",
         "retrain_worker")

_REST = re.compile(r"``|:(class|func|mod|meth|data|attr):`")


def _parsers(parser: argparse.ArgumentParser, path: str = "driftline"
             ) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{path} {name}")


def test_help_imports_nothing_heavy() -> None:
    code = ("import sys\nfrom driftline.cli import build_parser\nbuild_parser().format_help()\n"
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_every_option_has_help_text_without_rest() -> None:
    missing, rest = [], []
    for path, parser in _parsers(build_parser()):
        texts = [parser.description or ""]
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                texts.extend(choice.help or "" for choice in action._choices_actions)
                continue
            if not action.help:
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
            texts.append(action.help or "")
        rest.extend(f"{path}: {text}" for text in texts if _REST.search(text))
    assert missing == []
    assert rest == []


def test_defaults_are_shown() -> None:
    simulate = dict(_parsers(build_parser()))["driftline simulate"].format_help()
    assert "(default: 5000)" in " ".join(simulate.split())
    trigger = dict(_parsers(build_parser()))["driftline trigger"].format_help()
    assert "(default: 30.0)" in " ".join(trigger.split())


def test_version() -> None:
    run = subprocess.run([*DRIFTLINE, "--version"], cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 0 and re.fullmatch(r"driftline \S+\n", run.stdout)


def test_schema_without_a_name_lists_the_names() -> None:
    run = subprocess.run([*DRIFTLINE, "schema"], cwd=REPO, capture_output=True, text=True,
                         check=True)
    assert run.stdout.split() == list(CONTRACT_NAMES)


@pytest.mark.parametrize("args", [["schema", "--all"], ["schema", "prediction"]])
def test_a_closed_pipe_ends_quietly(args: list[str]) -> None:
    """``driftline schema | head -0``: the reader is gone before the first write."""
    proc = subprocess.Popen([*DRIFTLINE, *args], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 141
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr


def test_the_parser_never_asks_who_the_user_is(monkeypatch: pytest.MonkeyPatch) -> None:
    """A uid without a passwd entry (OpenShift) has no login name: building the parser, which
    every command does, must not need one."""
    import getpass

    from driftline.commands.trigger import requester

    def no_user() -> str:
        raise KeyError("getpwuid(): uid not found: 1000680000")

    monkeypatch.setattr(getpass, "getuser", no_user)
    build_parser().parse_args(["schema"])
    monkeypatch.setenv("USER", "")
    assert requester() == "unknown"
