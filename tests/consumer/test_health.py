"""``/healthz``, ``/readyz`` and ``/metrics`` (:mod:`consumer.health`)."""

from __future__ import annotations

import urllib.error
import urllib.request

from consumer.health import HealthServer, HealthState
from consumer.metrics import Metrics


def test_health_endpoints() -> None:
    state = HealthState()
    metrics = Metrics()
    server = HealthServer(metrics.registry, state, "127.0.0.1", 0).start()

    def get(path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}") as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    try:
        status, body = get("/healthz")  # no broker has answered yet: not ok
        assert status == 503 and body.startswith("starting: no broker has answered yet")
        assert get("/readyz")[0] == 503
        state.broker_up()
        assert get("/healthz") == (200, "ok\n")
        assert get("/readyz") == (503, "starting\n")
        state.set_ready(True)
        assert get("/readyz")[0] == 200
        state.broker_down()
        assert get("/healthz")[0] == 503 and get("/readyz")[0] == 503
        status, body = get("/metrics")
        assert status == 200 and "driftline_consumer_commit_duration_seconds" in body
        assert get("/nope")[0] == 404
    finally:
        server.stop()
