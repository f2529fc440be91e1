"""Failures a user can cause or meet, run as the user would (``driftline …`` in a subprocess):
each ends in one readable line with its exit code, never a traceback or a flood of log lines.
``docs/failure-modes.md`` lists them with the message a user sees."""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from consumer.config import TopicNames
from driftline.dev.services import ServiceProcess, free_port
from tests.consumer.helpers import DRIFTLINE, REPO

pytestmark = pytest.mark.slow

#: Arguments that make each Kafka command talk to Kafka.
KAFKA_COMMANDS: dict[str, list[str]] = {
    "consume": ["consume"],
    "retrain-worker": ["retrain-worker"],
    "topics": ["topics", "create", "--timeout", "20"],
    "trigger": ["trigger", "--model", "fraud", "--reason", "test", "--timeout", "20"],
    "simulate": ["simulate", "--samples", "10", "--flush-timeout", "20"],
}


def _config(tmp: Path, kafka: dict[str, Any], **sections: Any) -> Path:
    path = tmp / f"driftline-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump({
        "kafka": kafka,
        "consumer": {"metrics_port": 0, "broker_timeout_s": 20,
                     **sections.pop("consumer", {})},
        "worker": {"metrics_port": 0, "transaction_timeout_s": 20,
                   "registry_root": str(tmp / "models"), **sections.pop("worker", {})},
        **sections}))
    return path


def _run(args: list[str], config: Path, timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
    """A hang bound, not a speed bound: every case here ends by itself in seconds."""
    return subprocess.run([*DRIFTLINE, *args, "--config", str(config)], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout_s)


def _last_line(run: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in run.stderr, run.stderr
    return run.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("command", list(KAFKA_COMMANDS))
def test_a_misspelt_kafka_property_exits_2_naming_it(tmp_path: Path, command: str) -> None:
    config = _config(tmp_path, {"bootstrap.servrs": "localhost:9092"})
    run = _run(KAFKA_COMMANDS[command], config)
    assert run.returncode == 2, run.stderr
    assert _last_line(run).endswith(
        'invalid configuration: kafka property "bootstrap.servrs": No such configuration '
        "property")
    assert len(run.stderr.splitlines()) < 10  # no retry loop ever saw it


@pytest.mark.parametrize(("kafka", "named"), [
    ({"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "GSSAPI"},
     'kafka property "sasl.mechanism": No provider for SASL mechanism GSSAPI'),
    ({"security.protocol": "SSL", "ssl.ca.location": "/nonexistent/ca.pem"},
     'kafka property "ssl.ca.location": /nonexistent/ca.pem does not exist'),
])
def test_a_configuration_librdkafka_refuses_exits_2(tmp_path: Path, kafka: dict[str, str],
                                                    named: str) -> None:
    config = _config(tmp_path, {"bootstrap.servers": "localhost:9092", **kafka})
    run = _run(["consume"], config)
    assert run.returncode == 2
    assert f"invalid configuration: {named}" in _last_line(run)


def test_no_broker_exits_3_saying_where_and_why(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    config = _config(tmp_path, {"bootstrap.servers": f"localhost:{port}"},
                     consumer={"broker_timeout_s": 4})
    run = _run(["consume"], config)
    assert run.returncode == 3
    line = _last_line(run)
    assert f"no broker reachable at localhost:{port} for 4s (consumer.broker_timeout_s)" in line
    assert "Connection refused" in line
    # The wait backs off and logs once per interval: a handful of lines, not 418 129.
    assert len(run.stderr.splitlines()) < 20, run.stderr


def test_healthz_says_starting_until_a_broker_answers(tmp_path: Path) -> None:
    port = free_port()
    config = _config(tmp_path, {"bootstrap.servers": f"localhost:{free_port()}"},
                     consumer={"metrics_port": port, "metrics_host": "127.0.0.1",
                               "instance_id": "probe", "broker_timeout_s": 600})
    service = ServiceProcess("consume", config, tmp_path / "consume.log", metrics_port=port)
    service.start()
    try:
        answer = None
        deadline = time.monotonic() + 300  # a hang bound: the endpoint is up within seconds
        while answer is None and time.monotonic() < deadline:
            service.assert_alive()
            try:
                answer = service.get("/healthz")
            except OSError:
                time.sleep(0.2)
        assert answer is not None
        status, body = answer
        assert status == 503 and body.startswith("starting: no broker has answered yet")
        assert service.terminate(timeout_s=120) == 0  # SIGTERM while waiting: a clean exit
    finally:
        service.ensure_stopped()


def test_a_broken_trainer_entry_point_exits_2_at_start(tmp_path: Path) -> None:
    config = _config(tmp_path, {"bootstrap.servers": f"localhost:{free_port()}"},
                     worker={"models": {"fraud": {"trainer": "no_such_module:train"}}})
    run = _run(["retrain-worker"], config)
    assert run.returncode == 2
    assert _last_line(run) == (
        "driftline retrain-worker: invalid configuration: worker.models.fraud.trainer: trainer "
        "entry point 'no_such_module:train' does not load: TrainerLoadError: cannot load trainer "
        "'no_such_module:train': No module named 'no_such_module'")


# -- against the broker ---------------------------------------------------------------------


@pytest.mark.kafka
@pytest.mark.parametrize("command", ["consume", "retrain-worker", "topics", "trigger"])
def test_a_refused_sasl_handshake_reads_as_such(tmp_path: Path, kafka_bootstrap: str,
                                               command: str) -> None:
    """A SASL client against the broker's plaintext listener: the handshake is refused."""
    config = _config(tmp_path, {"bootstrap.servers": kafka_bootstrap,
                                "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
                                "sasl.username": "alice", "sasl.password": "secret"})
    run = _run(KAFKA_COMMANDS[command], config)
    assert run.returncode == 2, run.stderr
    line = _last_line(run)
    assert f"driftline {command}: authentication failed: the broker refused the connection: " \
        in line
    assert "SASL PLAIN mechanism handshake failed" in line
    assert "secret" not in run.stderr


@pytest.mark.kafka
def test_trigger_names_a_missing_topic_and_warns_of_an_unknown_model(
        tmp_path: Path, kafka_bootstrap: str, topic_names: TopicNames) -> None:
    missing = _config(tmp_path, {"bootstrap.servers": kafka_bootstrap},
                      topics={"triggers": f"missing-{uuid.uuid4().hex[:6]}"})
    run = _run(KAFKA_COMMANDS["trigger"], missing)
    assert run.returncode == 2
    assert "does not exist: create it with `driftline topics create`" in _last_line(run)
    known = _config(tmp_path, {"bootstrap.servers": kafka_bootstrap},
                    topics=topic_names.model_dump(), detection={"known_models": ["churn"]})
    sent = _run(KAFKA_COMMANDS["trigger"], known)
    assert sent.returncode == 0, sent.stderr
    assert "warning: model 'fraud' is not in detection.known_models (churn)" in sent.stderr
    assert '"model_id":"fraud"' in sent.stdout
