"""The process around a service: stop signals, bounded exits, the exit on a stuck client call.

Both services (``driftline consume`` and ``driftline retrain-worker``) run in a process of their
own under a supervisor (systemd, Kubernetes, a shell). Contract:

* :func:`install_stop_signals`: SIGTERM and SIGINT call ``on_stop(name)`` (the service finishes
  its batch, commits and exits 0); SIGUSR2 dumps every thread's stack to stderr (a stuck process
  says where it is).
* :func:`exit_after`: a daemon timer ends the process with ``code`` if it is still alive after
  ``seconds``: a shutdown or a fatal exit must not hang on a blocked Kafka client.
* :func:`exit_on_stuck`: the :class:`~consumer.transactions.CallGuard` callback, the backstop. A
  stuck transactional call (``send_offsets_to_transaction`` after a coordinator outage:
  librdkafka #5456/#5511) is first recovered in-process by
  :class:`~consumer.transactions.Transactor` (a new producer fences the stuck one); only when
  that did not end the wait a grace later, ``/healthz`` turns fatal and the process exits
  :class:`~consumer.exceptions.ClientStuckError`'s code (7). The supervisor's restart calls
  ``init_transactions`` with the same ``transactional.id``, which fences and aborts the open
  transaction: nothing is lost or duplicated. In-process use (tests, benchmarks) only logs.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import signal
import threading
from collections.abc import Callable
from typing import Any

from consumer.exceptions import ClientStuckError
from consumer.health import HealthState

log = logging.getLogger(__name__)


def install_stop_signals(on_stop: Callable[[str], None]) -> None:
    """SIGTERM/SIGINT → ``on_stop(signal name)``; SIGUSR2 → every thread's stack on stderr."""

    def handle(signum: int, _frame: Any) -> None:
        on_stop(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    faulthandler.register(signal.SIGUSR2, all_threads=True)


def exit_now(code: int, why: str) -> None:
    """Log ``why`` and end the process with ``code`` at once (no cleanup: it may be stuck)."""
    log.critical("fatal: %s; exiting with code %d", why, code)
    logging.shutdown()
    os._exit(code)


def exit_after(seconds: float, code: int, why: str) -> threading.Timer:
    """End the process with ``code`` if it is still alive after ``seconds``."""
    timer = threading.Timer(seconds, exit_now, args=(code, why))
    timer.daemon = True
    timer.start()
    return timer


def exit_on_stuck(health: HealthState, *, exit_process: bool = True
                  ) -> Callable[[str, float], None]:
    """The callback a :class:`~consumer.transactions.CallGuard` runs when a call is stuck."""

    def on_stuck(what: str, seconds: float) -> None:
        reason = (f"{what} blocked for {seconds:.0f}s, far past its timeout (librdkafka "
                  "#5456/#5511 after a coordinator outage)")
        health.set_fatal(reason)
        if not exit_process:
            log.critical("fatal: %s; in-process: not exiting", reason)
            return
        exit_now(ClientStuckError.exit_code,
                 f"{reason}: a restart fences and aborts the open transaction")

    return on_stuck


__all__ = ["exit_after", "exit_now", "exit_on_stuck", "install_stop_signals"]
