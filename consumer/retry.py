"""Retrying without flooding: backoff between attempts, one log line per interval.

Every retry loop in ``consumer/`` and ``retrain_worker/`` goes through :class:`Retry` (a loop
that retries without it can spin: 418 129 identical log lines in 10 s were seen before it
existed). Contract:

* :meth:`Retry.failed` records a failed attempt and returns the delay before the next one:
  ``initial_s``, doubling up to ``max_s``. A blocking loop then calls :meth:`Retry.wait`
  (which sleeps that long, or returns early when ``stop`` is set); an event loop that must
  keep polling asks :meth:`Retry.due` instead.
* Logging: the first failure is logged at once; after that at most one line per
  ``log_every_s``, saying how many attempts failed since the last line and the latest reason.
  :meth:`Retry.succeeded` logs one line after failures (how many) and resets the backoff.
* :class:`Throttled` is that logging alone, per key, for repeated events that are not retries
  (librdkafka's error callback, which can fire hundreds of times a second).

>>> clock = FakeClock()
>>> retry = Retry("waiting for a broker", log=print, initial_s=0.5, max_s=2.0,
...               log_every_s=10.0, clock=clock, sleep=clock.advance)
>>> for _ in range(14):
...     retry.wait(retry.failed("Connection refused"))
waiting for a broker: Connection refused; retrying in 0.5s
waiting for a broker: Connection refused (7 more failed attempts in 12s); retrying in 2.0s
waiting for a broker: Connection refused (5 more failed attempts in 10s); retrying in 2.0s
>>> retry.succeeded()
waiting for a broker: succeeded after 14 failed attempts
>>> retry.failed("again")
waiting for a broker: again; retrying in 0.5s
0.5
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class FakeClock:
    """A clock for doctests and unit tests: ``advance(seconds)`` is its ``sleep``."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Throttled:
    """Log a repeated message once per ``every_s`` per key, with how often it repeated.

    >>> clock = FakeClock()
    >>> quiet = Throttled(print, every_s=30.0, clock=clock)
    >>> for second in range(65):
    ...     _ = quiet.emit("auth", "SASL authentication failed")
    ...     clock.advance(1.0)
    SASL authentication failed
    SASL authentication failed (repeated 30 times in 30s)
    SASL authentication failed (repeated 30 times in 30s)
    """

    def __init__(self, log: Callable[[str], object], every_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._log = log
        self._every_s = every_s
        self._clock = clock
        self._last: dict[str, tuple[float, int]] = {}  # key -> (logged at, suppressed since)

    def emit(self, key: str, message: str) -> bool:
        """Log ``message`` unless ``key`` was logged less than ``every_s`` ago; True if logged."""
        suffix = self.note(key)
        if suffix is None:
            return False
        self._log(message + suffix)
        return True

    def note(self, key: str) -> str | None:
        """None: stay quiet; else the suffix to log with (empty the first time, else how often
        it repeated since)."""
        now = self._clock()
        last = self._last.get(key)
        if last is None:
            self._last[key] = (now, 0)
            return ""
        logged_at, suppressed = last
        if now - logged_at < self._every_s:
            self._last[key] = (logged_at, suppressed + 1)
            return None
        self._last[key] = (now, 0)
        return f" (repeated {suppressed + 1} times in {now - logged_at:.0f}s)"


class Retry:
    """Backoff and quiet logs for one retry loop (module docstring)."""

    def __init__(
        self,
        what: str,
        *,
        log: Callable[[str], object] = log.warning,
        initial_s: float = 0.2,
        max_s: float = 5.0,
        log_every_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
        stop: threading.Event | None = None,
    ) -> None:
        self.what = what
        self._log = log
        self._initial_s = initial_s
        self._max_s = max_s
        self._log_every_s = log_every_s
        self._clock = clock
        self._sleep = sleep
        self._stop = stop
        self.attempts = 0  # failed attempts since the last success
        self._delay = 0.0
        self._next_at = 0.0
        self._logged_at: float | None = None
        self._unlogged = 0

    def failed(self, reason: str) -> float:
        """Record a failed attempt; log per the contract; return the delay before the next."""
        now = self._clock()
        self.attempts += 1
        self._delay = self._initial_s if self.attempts == 1 else min(self._max_s,
                                                                      self._delay * 2)
        self._next_at = now + self._delay
        if self._logged_at is None:
            self._logged_at = now
            self._log(f"{self.what}: {reason}; retrying in {self._delay:.1f}s")
        elif now - self._logged_at >= self._log_every_s:
            self._log(f"{self.what}: {reason} ({self._unlogged + 1} more failed attempts in "
                      f"{now - self._logged_at:.0f}s); retrying in {self._delay:.1f}s")
            self._logged_at = now
            self._unlogged = 0
        else:
            self._unlogged += 1
        return self._delay

    def wait(self, delay: float | None = None) -> None:
        """Sleep until the next attempt is due (returns early once ``stop`` is set)."""
        remaining = self._next_at - self._clock() if delay is None else delay
        if remaining <= 0:
            return
        if self._stop is not None:
            self._stop.wait(remaining)
        else:
            self._sleep(remaining)

    def due(self) -> bool:
        """True when no backoff is pending (for loops that must not sleep)."""
        return self.attempts == 0 or self._clock() >= self._next_at

    def succeeded(self) -> None:
        """Reset the backoff; say so once if attempts had failed."""
        if self.attempts:
            self._log(f"{self.what}: succeeded after {self.attempts} failed attempts")
        self.attempts = 0
        self._delay = 0.0
        self._next_at = 0.0
        self._logged_at = None
        self._unlogged = 0


__all__ = ["FakeClock", "Retry", "Throttled"]
