"""The import graph (SPEC §7): retrain_worker → consumer → detectors, never back; no product module
imports dev tooling (``driftline``, ``driftline.dev``); the detection core imports no Kafka; the
worker builds only on the consumer's shared runtime modules. Read from the source with ``ast``
(every import, including those inside functions)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: The consumer modules the retrain worker may build on: the runtime both services share.
SHARED_RUNTIME = frozenset({
    "consumer.broker_watch", "consumer.clients", "consumer.config", "consumer.exceptions",
    "consumer.health", "consumer.instance", "consumer.process", "consumer.retry",
    "consumer.topic_reader", "consumer.transactions",
})

FORBIDDEN = {
    "detectors": ("consumer", "retrain_worker", "driftline", "confluent_kafka"),
    "consumer": ("retrain_worker", "driftline"),
    "retrain_worker": ("driftline",),
}


def imports(package: str) -> Iterator[tuple[str, str]]:
    """``(module, imported name)`` for every import in ``package``."""
    for path in sorted((REPO / package).rglob("*.py")):
        module = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield module, alias.name
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                yield module, node.module


def _top(name: str) -> str:
    return name.split(".")[0]


def test_imports_flow_one_way_and_never_reach_dev_tooling() -> None:
    wrong = [(module, name) for package, banned in FORBIDDEN.items()
             for module, name in imports(package) if _top(name) in banned]
    assert wrong == []


def test_the_worker_builds_only_on_the_shared_runtime() -> None:
    used = {name for _module, name in imports("retrain_worker") if _top(name) == "consumer"}
    assert used <= SHARED_RUNTIME, used - SHARED_RUNTIME


def test_the_check_sees_imports() -> None:
    """Guard against a vacuous pass: the walk finds the imports known to be there."""
    found = set(imports("retrain_worker"))
    assert ("retrain_worker.service", "consumer.transactions") in found
    assert any(name == "river" or name.startswith("river.") for _m, name in imports("detectors"))
