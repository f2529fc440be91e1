"""Status lines of long work (:mod:`driftline.progress`)."""

from __future__ import annotations

from driftline.progress import Heartbeat


def test_heartbeat_says_what_runs_and_when_it_is_done() -> None:
    lines: list[str] = []
    with Heartbeat("resolving the jars (once)", every_s=60.0, write=lines.append):
        pass
    assert lines[0] == "resolving the jars (once) ..."
    assert lines[-1].startswith("resolving the jars (once): done in ")
