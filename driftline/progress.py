"""Saying that long work is still going: a status line every few seconds, on stderr.

Contract: :class:`Periodic` writes a line when at least ``every_s`` passed since the last one
(the caller says what: counts, rates); :class:`Heartbeat` is for work that cannot count (a Maven
download, a report pass inside a library): a line when it starts, one every ``every_s`` while it
runs (from a daemon thread), one when it ends, with the time taken. Lines, not a redrawn bar, so
they read the same in a terminal, a log file and CI.

>>> from consumer.retry import FakeClock
>>> clock = FakeClock(0.0)
>>> status = Periodic(every_s=10.0, write=print, clock=clock)
>>> for second in range(25):
...     status.update(lambda: f"{second} s in")
...     clock.advance(1.0)
10 s in
20 s in
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from types import TracebackType


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class Periodic:
    """A status line at most every ``every_s`` (the first after ``every_s``)."""

    def __init__(self, every_s: float = 10.0, write: Callable[[str], object] = _stderr,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._every_s = every_s
        self._write = write
        self._clock = clock
        self._last = clock()

    def update(self, line: Callable[[], str]) -> None:
        """Write ``line()`` if it is time (``line`` is only called then)."""
        now = self._clock()
        if now - self._last >= self._every_s:
            self._last = now
            self._write(line())


class Heartbeat:
    """``with Heartbeat("resolving the Kafka jars"):``: start, still-running and done lines."""

    def __init__(self, what: str, every_s: float = 10.0,
                 write: Callable[[str], object] = _stderr) -> None:
        self._what = what
        self._every_s = every_s
        self._write = write
        self._done = threading.Event()
        self._began = 0.0
        self._thread = threading.Thread(target=self._beat, name="driftline-heartbeat",
                                        daemon=True)

    def _beat(self) -> None:
        while not self._done.wait(self._every_s):
            self._write(f"{self._what}: still running ({time.monotonic() - self._began:.0f}s)")

    def __enter__(self) -> Heartbeat:
        self._began = time.monotonic()
        self._write(f"{self._what} ...")
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._done.set()
        self._thread.join()
        outcome = "done" if kind is None else "failed"
        self._write(f"{self._what}: {outcome} in {time.monotonic() - self._began:.1f}s")


__all__ = ["Heartbeat", "Periodic"]
