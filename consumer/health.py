"""HTTP endpoints of a running service: ``/metrics``, ``/healthz`` and ``/readyz``.

Contract:

* ``/metrics``: the Prometheus text format of the service's registry.
* ``/healthz``: 200 while the service is alive and a broker answered recently; 503 with the
  reason otherwise: ``starting: no broker has answered yet`` until the first answer, then
  ``no broker reachable for …`` while it is gone. Liveness: restart me if this fails for long
  (a start-up probe covers the start, which is bounded by ``consumer.broker_timeout_s``).
* ``/readyz``: 200 only once the assigned partitions' state has been restored (and the service is
  healthy); 503 while starting, restoring or shutting down.
* The server runs in a daemon thread and never touches Kafka: it reads :class:`HealthState`, which
  the service updates.
* :func:`start_health_server` is how a service starts it: on ``port + slot`` (the process's
  instance slot, :mod:`consumer.instance`, so several processes of one configuration share a
  host), and a port in use is a :class:`~detectors.exceptions.ConfigError` naming the setting.

>>> state = HealthState(now=100.0)
>>> state.healthy(now=105.0), state.ready()[0]
((False, 'starting: no broker has answered yet (5s)'), False)
>>> state.broker_up(); state.healthy(), state.ready()
((True, 'ok'), (False, 'starting'))
>>> state.set_ready(True); state.ready()
(True, 'ready')
>>> state.broker_down(since=100.0); state.healthy(now=130.0)
(False, 'no broker reachable for 30s')
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from detectors.exceptions import ConfigError


class HealthState:
    """What ``/healthz`` and ``/readyz`` report; thread-safe enough (simple assignments)."""

    def __init__(self, now: float | None = None) -> None:
        self._ready = False
        self._not_ready_reason = "starting"
        #: Starting: down since the state was made, until a broker first answers.
        self._broker_down_since: float | None = time.monotonic() if now is None else now
        self._answered = False
        self._fatal: str | None = None

    def set_ready(self, ready: bool, reason: str = "") -> None:
        self._ready = ready
        self._not_ready_reason = reason or ("ready" if ready else "not ready")

    def broker_down(self, since: float | None = None) -> None:
        if self._broker_down_since is None:
            self._broker_down_since = time.monotonic() if since is None else since

    def broker_up(self) -> None:
        self._broker_down_since = None
        self._answered = True

    @property
    def broker_down_since(self) -> float | None:
        return self._broker_down_since

    def set_fatal(self, reason: str) -> None:
        self._fatal = reason

    def healthy(self, now: float | None = None) -> tuple[bool, str]:
        if self._fatal is not None:
            return False, self._fatal
        if self._broker_down_since is not None:
            elapsed = (time.monotonic() if now is None else now) - self._broker_down_since
            if not self._answered:
                return False, f"starting: no broker has answered yet ({elapsed:.0f}s)"
            return False, f"no broker reachable for {elapsed:.0f}s"
        return True, "ok"

    def ready(self) -> tuple[bool, str]:
        healthy, reason = self.healthy()
        if not healthy:
            return False, reason
        return self._ready, "ready" if self._ready else self._not_ready_reason


class HealthServer:
    """Serves the endpoints on ``host:port`` (port 0: any free port, see :attr:`port`)."""

    def __init__(
        self, registry: CollectorRegistry, state: HealthState, host: str = "0.0.0.0", port: int = 0
    ) -> None:
        registry_ = registry
        state_ = state

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._send(200, generate_latest(registry_), CONTENT_TYPE_LATEST)
                elif path in ("/healthz", "/readyz"):
                    ok, reason = state_.healthy() if path == "/healthz" else state_.ready()
                    self._send(200 if ok else 503, (reason + "\n").encode(), "text/plain")
                else:
                    self._send(404, b"not found\n", "text/plain")

            def _send(self, code: int, body: bytes, content_type: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="driftline-http", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> HealthServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def start_health_server(registry: CollectorRegistry, state: HealthState, host: str, port: int,
                        *, slot: int | None, setting: str) -> HealthServer:
    """A started :class:`HealthServer` on ``port + slot`` (``port`` 0: any free port)."""
    actual = port + (slot or 0) if port else 0
    try:
        return HealthServer(registry, state, host, actual).start()
    except OSError as exc:
        offset = f" + instance slot {slot}" if slot else ""
        raise ConfigError(f"{setting}: cannot serve on {host}:{actual} ({setting} {port}"
                          f"{offset}): {exc.strerror or exc}; give each process its own port "
                          "or 0 for any free one") from None


__all__ = ["HealthServer", "HealthState", "start_health_server"]
