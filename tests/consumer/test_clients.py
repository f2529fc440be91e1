"""Making Kafka clients (:mod:`consumer.clients`): every configuration librdkafka refuses is a
:class:`~consumer.exceptions.KafkaConfigError` naming the property, and no other module makes a
client behind its back."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from confluent_kafka import KafkaError

from consumer.clients import ClientErrors, new_admin, new_consumer, new_producer
from consumer.exceptions import KafkaAuthenticationError, KafkaConfigError

REPO = Path(__file__).resolve().parents[2]
CONSTRUCTORS = {"Consumer", "Producer", "AdminClient"}


@pytest.mark.parametrize(("conf", "named"), [
    ({"bootstrap.servrs": "localhost:9092"}, 'kafka property "bootstrap.servrs": No such '
                                             "configuration property"),
    ({"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "GSSAPI"},
     'kafka property "sasl.mechanism": No provider for SASL mechanism GSSAPI'),
    ({"security.protocol": "SSL", "ssl.ca.location": "/nonexistent/ca.pem"},
     'kafka property "ssl.ca.location": /nonexistent/ca.pem does not exist'),
    ({"linger.ms": "soon"}, 'kafka property "queue.buffering.max.ms": Invalid value'),
])
def test_a_refused_configuration_is_named_by_every_client(conf: dict[str, str],
                                                          named: str) -> None:
    for make in (new_producer, new_admin, lambda c: new_consumer({**c, "group.id": "g"})):
        with pytest.raises(KafkaConfigError) as caught:
            make(conf)
        assert str(caught.value).startswith(named)
        assert caught.value.exit_code == 2


def test_a_refused_handshake_is_an_authentication_error() -> None:
    errors = ClientErrors(log_fn=lambda _line: None)
    errors(KafkaError(KafkaError._TRANSPORT, "b:9092/bootstrap: Connection refused"))
    errors.raise_if_refused()  # a broker that is not there is not a refusal
    assert errors.reason() == "b:9092/bootstrap: Connection refused"
    errors(KafkaError(KafkaError._AUTHENTICATION, "SASL PLAIN mechanism handshake failed"))
    with pytest.raises(KafkaAuthenticationError, match="handshake failed") as caught:
        errors.raise_if_refused()
    assert caught.value.exit_code == 2


def test_only_consumer_clients_makes_kafka_clients() -> None:
    """A client made elsewhere would skip the refused-configuration rule."""
    makers = []
    for package in ("consumer", "retrain_worker", "driftline/commands"):
        for path in sorted((REPO / package).rglob("*.py")):
            if path.name == "clients.py" and path.parent.name == "consumer":
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                        and node.func.id in CONSTRUCTORS):
                    makers.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert makers == []
