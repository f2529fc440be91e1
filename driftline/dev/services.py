"""Driftline services as child processes, for the tests, the demo and the benchmarks.

Contract:

* :class:`ServiceProcess` runs ``python -m driftline <command> --config FILE`` (``consume``,
  ``retrain-worker``) in its own session, its stdout and stderr appended to one log file, so a
  test or the demo can SIGTERM, SIGINT or SIGKILL it like a supervisor would, and read what the
  user reads.
* Its HTTP endpoints (``/metrics``, ``/healthz``, ``/readyz``) are read on ``metrics_port`` when
  one is given (the caller writes the same port into the config); the waits raise
  :class:`AssertionError` with the log's tail, so a failing test shows why.
* :func:`free_port` is the one place a free localhost port is picked.

Nothing here is imported by ``consumer/``, ``detectors/`` or ``retrain_worker/``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServiceProcess:
    """``driftline <command> --config <config>`` as a child process with a log file."""

    def __init__(
        self,
        command: str,
        config: Path,
        log: Path,
        *,
        metrics_port: int | None = None,
        env: Mapping[str, str] | None = None,
        log_level: str = "INFO",
    ) -> None:
        self.command = command
        self.config_path = config
        self.log_path = log
        self.port = metrics_port
        self.env = dict(env or {})
        self.log_level = log_level
        self.proc: subprocess.Popen[bytes] | None = None
        #: Set by :meth:`kill`, :meth:`terminate` and :meth:`stop`: the caller ended it.
        self.stopped = False

    # -- process --------------------------------------------------------------------------------

    def start(self) -> ServiceProcess:
        self.stopped = False
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "driftline", "--log-level", self.log_level, self.command,
                 "--config", str(self.config_path)],
                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None, "not started"
        return self.proc.pid

    def poll(self) -> int | None:
        assert self.proc is not None, "not started"
        return self.proc.poll()

    def signal(self, signum: int) -> None:
        assert self.proc is not None, "not started"
        self.proc.send_signal(signum)

    def kill(self) -> None:
        """``kill -9`` and reap."""
        self.stopped = True
        self.signal(signal.SIGKILL)
        assert self.proc is not None
        self.proc.wait(10)

    def terminate(self, timeout_s: float = 40.0) -> int:
        """SIGTERM; the exit code (:class:`subprocess.TimeoutExpired` past ``timeout_s``)."""
        self.stopped = True
        self.signal(signal.SIGTERM)
        assert self.proc is not None
        return self.proc.wait(timeout_s)

    def stop(self, timeout_s: float = 40.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout_s``; the exit code (None if never started)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                return self.terminate(timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
        self.stopped = True
        return self.proc.poll()

    def ensure_stopped(self) -> None:
        """Kill it if it still runs (test teardown)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def assert_alive(self) -> None:
        code = self.poll()
        assert code is None, f"{self.command} exited with {code}:\n{self.tail()}"

    # -- log ------------------------------------------------------------------------------------

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-n:])

    # -- HTTP -----------------------------------------------------------------------------------

    def get(self, path: str) -> tuple[int, str]:
        """``(status, body)`` of ``GET path``; :class:`OSError` when nothing listens yet."""
        assert self.port is not None, "no metrics_port given"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def metric(self, name: str, labels: Mapping[str, str] | None = None) -> float | None:
        """The sum of the samples named ``name`` whose labels include ``labels``; None when
        there is none or the endpoint is not up."""
        from prometheus_client.parser import text_string_to_metric_families

        try:
            _status, text = self.get("/metrics")
        except OSError:
            return None
        found = [sample.value for family in text_string_to_metric_families(text)
                 for sample in family.samples
                 if sample.name == name
                 and all(sample.labels.get(k) == v for k, v in (labels or {}).items())]
        return float(sum(found)) if found else None

    def wait_metric(self, name: str, labels: Mapping[str, str] | None = None, *,
                    at_least: float = 0.0, timeout_s: float = 300.0) -> float:
        """The metric's value once it is above ``at_least`` (or equal, when ``at_least`` > 0)."""
        deadline = time.monotonic() + timeout_s
        while True:
            self.assert_alive()
            value = self.metric(name, labels)
            if value is not None and (value >= at_least if at_least > 0 else value > 0):
                return value
            assert time.monotonic() < deadline, (
                f"{name} {dict(labels or {})} is {value} after {timeout_s}s, wanted "
                f"{'>= ' + str(at_least) if at_least > 0 else '> 0'}:\n{self.tail()}")
            time.sleep(0.2)

    def wait_ready(self, timeout_s: float = 300.0) -> None:
        """Until ``/readyz`` answers 200 (``timeout_s`` bounds a hang, not a start-up pace)."""
        deadline = time.monotonic() + timeout_s
        while True:
            self.assert_alive()
            try:
                if self.get("/readyz")[0] == 200:
                    return
            except OSError:
                pass
            assert time.monotonic() < deadline, f"never ready in {timeout_s}s:\n{self.tail()}"
            time.sleep(0.1)


__all__ = ["ServiceProcess", "free_port"]
