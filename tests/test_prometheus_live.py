"""The shipped dashboard and alert rules against a real Prometheus scraping real services (SPEC §6).

Contract of :func:`test_dashboard_and_alerts_on_a_live_prometheus`:

* ``driftline consume`` and ``driftline retrain-worker`` run as child processes (the demo's
  config, start and stop helpers, :mod:`driftline.dev.demo`) on the test broker, with ``/metrics`` on
  free localhost ports. A third model, ``broken``, has a 1 ms trainer timeout so that its
  retrain fails (the failure metrics exist only after a failure).
* The ``prometheus`` binary from ``PATH`` (Debian's ``prometheus`` package; the test skips with
  that reason without it) scrapes both every second, evaluates ``deploy/prometheus/alerts.yml``
  unmodified every second (the drift alert has no ``for:``, so no shortened copy is needed),
  keeps its TSDB in ``tmp_path`` and listens on a free localhost port.
* ``driftline simulate`` produces a run with a sudden concept and feature drift to Kafka, plus
  one undecodable record (the dead-letter metrics exist only after one). Series that exist only
  after their own kind of event get one: an accuracy threshold of 0.8 (crossed by the drifted
  models: ``threshold`` drifts) and, for a model ``quality``, 0.99 (never met: a ``warning``);
  ``quality``'s error rises and falls back (a recurrent drift: the fall is a firing suppressed
  for its ``direction``), and from its 2,000th prediction its ``f0`` is missing and its ``f1``
  a string (``missing_rate`` and ``type_change`` quality events).
* Then, through Prometheus' HTTP API, with Grafana's variables substituted (``$model`` → ``.*``,
  ``$__rate_interval``/``$__interval`` → ``1m``):

  - every dashboard panel, annotation and template-variable query and every alert expression
    is valid (``status: success``) and returns data, with one rule for *filtering* expressions
    (alerts, and dashboard annotations ending in a comparison such as ``> 0``), which are empty
    whenever nothing crosses their threshold: an empty one passes only if each metric selector
    inside it (each ``driftline_*{...}`` / ``up{...}``), queried alone, returns at least one
    series — so a renamed metric or label fails even when no threshold is crossed;
  - ``GET /api/v1/alerts`` shows ``DriftlineDriftDetected`` firing, for a ``drift`` model;
  - the *Drift events* and *Retrain decisions* panels, evaluated at the first scrape of each
    series of their counter (born at 1 with its first event, where a plain ``increase()`` shows
    nothing), show a value above 0 for that series' group.

Every wait is bounded (the whole test well under 90 s); Prometheus and the services are
stopped (SIGTERM, then SIGKILL) in ``finally``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from urllib.request import urlopen

import pytest
import yaml

from consumer.config import TopicLayout, TopicNames
from consumer.topics import create_topics
from driftline.dev.demo import stack_config
from driftline.dev.services import ServiceProcess, free_port
from tests.hang import HANG_S

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parent.parent
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARDS = ROOT / "deploy" / "grafana" / "dashboards"
PROMETHEUS = shutil.which("prometheus")
DEADLINE_S = HANG_S  # a hang bound (tests/hang.py), not a pace
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "5m",
                     "$model": ".*"}
FILTER = re.compile(r"(?:[<>]=?|[=!]=)\s*[-+]?[\d.]+\s*$")
SELECTOR = re.compile(r"\b(?:driftline_[a-z0-9_]+|up)\b(?:\{[^}]*\})?")


def _substitute(expr: str) -> str:
    for name, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(name, value)
    return expr


def _dashboard_queries() -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target and annotation of every dashboard."""
    out: list[tuple[str, str]] = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        dashboard = json.loads(path.read_text())
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                out.append((f"{path.name}: {panel['title']} {target['refId']}",
                            _substitute(target["expr"])))
        for annotation in dashboard.get("annotations", {}).get("list", []):
            if "expr" in annotation:
                out.append((f"{path.name}: annotation {annotation['name']}",
                            _substitute(annotation["expr"])))
    return out


def _template_variables() -> list[tuple[str, str, str]]:
    """(variable, metric, label) of every ``label_values(metric, label)`` variable."""
    out = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        for var in json.loads(path.read_text()).get("templating", {}).get("list", []):
            if var["type"] == "datasource":
                continue  # the Prometheus to query: nothing to evaluate
            m = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", var["definition"].strip())
            assert m, f"{path.name}: variable {var['name']}: unsupported {var['definition']!r}"
            out.append((var["name"], m.group(1), m.group(2)))
    return out


def _alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


class PromAPI:
    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}/api/v1"

    def get(self, path: str, **params: str) -> Any:
        url = f"{self.base}/{path}" + (f"?{urlencode(params)}" if params else "")
        with urlopen(url, timeout=5) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[Any]:
        data = self.get("query", query=expr)
        result: list[Any] = data["result"]
        return result

    def try_query(self, expr: str) -> list[Any] | str:
        """The result, or the error text of an invalid query."""
        try:
            return self.query(expr)
        except Exception as exc:
            body = getattr(exc, "read", lambda: b"")()
            return f"{exc} {body.decode(errors='replace')}"


def _selectors_without_data(api: PromAPI, where: str, expr: str) -> list[str]:
    out = []
    for selector in SELECTOR.findall(expr):
        selected = api.try_query(selector)
        if isinstance(selected, str) or not selected:
            out.append(f"{where}: selector {selector} returns no data")
    return out


def _missing(api: PromAPI) -> list[str]:
    """What the run has not shown yet (empty when the test's conditions all hold)."""
    missing: list[str] = []
    for where, expr in _dashboard_queries():
        result = api.try_query(expr)
        if isinstance(result, str):
            missing.append(f"{where}: invalid {expr!r}: {result}")
        elif not result:
            missing.extend(_selectors_without_data(api, where, expr) if FILTER.search(expr)
                           else [f"{where}: no data for {expr!r}"])
    for name, metric, label in _template_variables():
        values = api.get(f"label/{label}/values", **{"match[]": metric})
        if not values:
            missing.append(f"variable {name}: no values of {label} on {metric}")
    for rule in _alert_rules():
        expr = rule["expr"]
        result = api.try_query(expr)
        if isinstance(result, str):
            missing.append(f"alert {rule['alert']}: invalid {expr!r}: {result}")
            continue
        if not result:
            missing.extend(_selectors_without_data(api, f"alert {rule['alert']}", expr))
    alerts = api.get("alerts")["alerts"]
    if not any(a["labels"]["alertname"] == "DriftlineDriftDetected" and a["state"] == "firing"
               for a in alerts):
        missing.append(f"DriftlineDriftDetected not firing; alerts: {alerts}")
    return missing


def _panel_expr(title: str) -> str:
    dashboard = json.loads((DASHBOARDS / "driftline.json").read_text())
    panel = next(p for p in dashboard["panels"] if p["title"] == title)
    return _substitute(panel["targets"][0]["expr"])


def _first_event_values(api: PromAPI, counter: str, title: str, since: float) -> list[str]:
    """For every series of ``counter`` (a labelled counter, born at 1 with its first event),
    the dashboard panel ``title`` evaluated at the series' first scrape; a problem per series
    whose panel value is not above 0 then."""
    problems: list[str] = []
    series = api.get("query_range", query=counter, start=f"{since:.3f}",
                     end=f"{time.time():.3f}", step="1")["result"]
    assert series, f"no {counter} series"
    expr = _panel_expr(title)
    by = re.match(r"sum by \(([^)]*)\)", expr)
    assert by, expr
    group = [label.strip() for label in by.group(1).split(",")]
    for s in series:
        born, value = s["values"][0]
        at = {k: s["metric"].get(k, "") for k in group}
        shown = [float(r["value"][1]) for r in api.get("query", query=expr, time=str(born))["result"]
                 if all(r["metric"].get(k, "") == v for k, v in at.items())]
        naive = api.get("query", query=f"increase({counter}[1m])", time=str(born))["result"]
        print(f"[prometheus] {title} {at} first event at {born}: counter {value}, panel {shown}, "
              f"plain increase() {[r['value'][1] for r in naive if r['metric'] == s['metric']]}")
        if not shown or shown[0] <= 0:
            problems.append(f"{title}: {at} shows {shown} at its first event ({counter} = {value})")
    return problems


@pytest.fixture
def prometheus_binary() -> str:
    if PROMETHEUS is None:
        pytest.skip("prometheus not found on PATH: install Debian's `prometheus` package "
                    "(apt-get install prometheus; .ci/run does)")
    return PROMETHEUS


def _start_prometheus(binary: str, tmp_path: Path, port: int,
                      targets: dict[str, int]) -> subprocess.Popen[bytes]:
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(ALERTS)],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [f"127.0.0.1:{target}"]}]}
            for job, target in targets.items()
        ],
    }
    config_path = tmp_path / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config))
    return subprocess.Popen(
        [binary, f"--config.file={config_path}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        stdout=(tmp_path / "prometheus.log").open("wb"), stderr=subprocess.STDOUT,
        start_new_session=True)


def _wait(condition: Any, deadline: float, what: str, procs: Iterator[Any] | list[Any]) -> None:
    procs = list(procs)
    while time.monotonic() < deadline:
        for proc in procs:
            assert proc.poll() is None, f"{proc.args[:4]} exited with {proc.returncode}"
        try:
            if condition():
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_dashboard_and_alerts_on_a_live_prometheus(
    kafka_bootstrap: str, tmp_path: Path, prometheus_binary: str
) -> None:
    began = time.monotonic()
    deadline = began + DEADLINE_S
    prefix = f"prom-{uuid.uuid4().hex[:8]}"
    config = stack_config(kafka_bootstrap, prefix, tmp_path)
    ports = {"driftline-consumer": free_port(), "driftline-retrain-worker": free_port()}
    config["consumer"].update(metrics_host="127.0.0.1",
                              metrics_port=ports["driftline-consumer"])
    config["worker"].update(metrics_host="127.0.0.1",
                            metrics_port=ports["driftline-retrain-worker"],
                            models={"broken": {"trainer_timeout_s": 0.001}})
    config["detection"] = {**config.get("detection", {}), "metric_thresholds": {"accuracy": 0.8},
                           "models": {"quality": {"metric_thresholds": {"accuracy": 0.99}}}}
    config_path = tmp_path / "driftline.yaml"
    config_path.write_text(yaml.safe_dump(config))
    names = TopicNames(**config["topics"])
    create_topics({"bootstrap.servers": kafka_bootstrap}, names, TopicLayout(partitions=1))

    prom_port = free_port()
    prometheus = _start_prometheus(prometheus_binary, tmp_path, prom_port, ports)
    services = [ServiceProcess("consume", config_path, tmp_path / "consumer.log").start(),
                ServiceProcess("retrain-worker", config_path, tmp_path / "worker.log").start()]
    procs = [prometheus, *(service.proc for service in services)]
    try:
        api = PromAPI(prom_port)

        def targets_up() -> bool:
            up = api.query("up == 1")
            return {s["metric"]["job"] for s in up} == set(ports)

        _wait(targets_up, deadline, "both scrape targets up", procs)
        print(f"\n[prometheus] targets up after {time.monotonic() - began:.1f}s")

        simulate = subprocess.run(
            [sys.executable, "-m", "driftline", "simulate", "--config", str(config_path),
             "--models", "fraud,churn,broken", "--samples", "3000", "--rate", "50",
             "--label-delay", "5", "--drift",
             "sudden:start=1500,concept_rotation=90,feature_shift=2"],
            capture_output=True, text=True, timeout=max(1.0, deadline - time.monotonic()))
        assert simulate.returncode == 0, simulate.stderr
        quality = subprocess.run(
            [sys.executable, "-m", "driftline", "simulate", "--models", "quality",
             "--samples", "3000", "--rate", "50", "--label-delay", "5", "--drift",
             "recurrent:start=800,width=800,concept_rotation=90"],
            capture_output=True, text=True, timeout=max(1.0, deadline - time.monotonic()))
        assert quality.returncode == 0, quality.stderr
        from confluent_kafka import Producer

        producer = Producer({"bootstrap.servers": kafka_bootstrap})
        predictions = 0
        for line in quality.stdout.splitlines():
            event = json.loads(line)
            if event["type"] == "prediction":
                predictions += 1
                if predictions > 2000:
                    event["features"].update(f0=None, f1="x")
                topic = names.predictions
            else:
                topic = names.labels
            producer.produce(topic, key=b"quality", value=json.dumps(event).encode())
            producer.poll(0)
        producer.produce(names.predictions, key=b"drift", value=b"not json")
        assert producer.flush(10) == 0
        print(f"[prometheus] run produced after {time.monotonic() - began:.1f}s")

        missing: list[str] = []

        def shown() -> bool:
            nonlocal missing
            missing = _missing(api)
            return not missing

        try:
            _wait(shown, deadline, "every query to return data", procs)
        except AssertionError:
            raise AssertionError("\n".join(missing)) from None
        since = time.time() - (time.monotonic() - began)
        first_events = (
            _first_event_values(api, 'driftline_drift_events_total{severity="drift"}',
                                "Drift events", since)
            + _first_event_values(api, "driftline_retrain_decisions_total", "Retrain decisions",
                                  since))
        assert not first_events, "\n".join(first_events)
        firing = sorted({(a["labels"]["alertname"], a["labels"].get("model_id", ""))
                         for a in api.get("alerts")["alerts"] if a["state"] == "firing"})
        print(f"[prometheus] all queries have data after {time.monotonic() - began:.1f}s; "
              f"firing: {firing}")
    finally:
        for service in services:
            service.stop(timeout_s=10)
        prometheus.terminate()
        prometheus.wait(10)
