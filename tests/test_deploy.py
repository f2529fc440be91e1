"""Deployment files: Prometheus alert rules and config (checked and unit-tested by ``promtool``),
and every ``driftline_*`` metric they or the Grafana dashboard query exists in the services.

``promtool`` comes with Debian's ``prometheus`` package; without it the promtool tests skip
with that reason (CI installs it).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from consumer.metrics import Metrics
from retrain_worker.metrics import WorkerMetrics

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS = ROOT / "deploy" / "prometheus"
GRAFANA = ROOT / "deploy" / "grafana"
PROMTOOL = shutil.which("promtool")

needs_promtool = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool not found: install Debian's `prometheus` package (apt-get install prometheus)",
)


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], cwd=PROMETHEUS, capture_output=True, text=True,
                          timeout=60)


@needs_promtool
def test_alert_rules_are_valid() -> None:
    result = _promtool("check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_alert_rules_unit_tests_pass() -> None:
    result = _promtool("test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@needs_promtool
def test_prometheus_config_is_valid() -> None:
    result = _promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def _exposed_names() -> set[str]:
    """Every sample name the consumer and the worker can expose."""
    suffixes = {"counter": ("_total", "_created"), "gauge": ("",),
                "histogram": ("_bucket", "_sum", "_count", "_created")}
    names: set[str] = set()
    for registry in (Metrics().registry, WorkerMetrics().registry):
        for family in registry.collect():
            names.add(family.name)
            names.update(family.name + s for s in suffixes.get(family.type, ("",)))
    return names


def _queried_names(text: str) -> set[str]:
    return {name for name in re.findall(r"\bdriftline_[a-z0-9_]+", text) if not name.endswith("_")}


def test_alert_rules_query_only_metrics_the_services_expose() -> None:
    queried = _queried_names((PROMETHEUS / "alerts.yml").read_text())
    assert len(queried) >= 8
    assert queried <= _exposed_names(), sorted(queried - _exposed_names())


def test_dashboard_queries_only_metrics_the_services_expose() -> None:
    dashboards = sorted((GRAFANA / "dashboards").glob("*.json"))
    assert dashboards, "no Grafana dashboard under deploy/grafana/dashboards"
    exprs: list[str] = []
    for path in dashboards:
        dashboard = json.loads(path.read_text())
        for panel in dashboard["panels"]:
            exprs.extend(target["expr"] for target in panel.get("targets", []))
        exprs.extend(a["expr"] for a in dashboard.get("annotations", {}).get("list", []) if "expr" in a)
        exprs.extend(v["definition"] for v in dashboard.get("templating", {}).get("list", []))
    assert exprs
    queried = _queried_names("\n".join(exprs))
    assert queried <= _exposed_names(), sorted(queried - _exposed_names())


def _compose_command() -> list[str] | None:
    """`docker compose` (v2 plugin) when present, else Debian's `docker-compose` (v1)."""
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def test_compose_file_is_accepted_by_docker_compose_config() -> None:
    command = _compose_command()
    if command is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    result = subprocess.run([*command, "-f", str(ROOT / "compose.yaml"), "config", "-q"],
                            capture_output=True, text=True, check=False, cwd=ROOT)
    assert result.returncode == 0, result.stderr


# -- configuration reference ---------------------------------------------------------------------

def _schema_keys(schema: dict[str, Any], node: dict[str, Any], path: str) -> list[str]:
    """Dotted key paths of ``node`` by pydantic's JSON schema (independent of the generator's
    walk): nested sections are followed through ``$ref``, maps and lists are leaves."""
    keys: list[str] = []
    for name, prop in node.get("properties", {}).items():
        key = f"{path}{name}"
        refs = [p["$ref"] for p in [prop, *prop.get("anyOf", [])] if "$ref" in p]
        target = schema["$defs"][refs[0].split("/")[-1]] if len(refs) == 1 else None
        if target is not None and "properties" in target:
            keys.extend(_schema_keys(schema, target, key + "."))
        else:
            keys.append(key)
    return keys


def test_configuration_reference_is_current() -> None:
    from driftline.config_reference import render

    current = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert current == render(), (
        "docs/configuration.md is stale: run "
        "`python -m driftline.config_reference --write docs/configuration.md`")


def test_configuration_reference_lists_every_key_of_both_services() -> None:
    from driftline.config_reference import services

    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| `([^`]+)` \|", text, flags=re.MULTILINE))
    for service, model in services().items():
        schema = model.model_json_schema()
        keys = _schema_keys(schema, schema, "")
        assert len(keys) > 20, (service, keys)
        assert set(keys) <= listed, (service, sorted(set(keys) - listed))
        for key in keys:
            row = next(line for line in text.splitlines() if line.startswith(f"| `{key}` |"))
            assert f"DRIFTLINE_{key.replace('.', '__').upper()}" in row, row
