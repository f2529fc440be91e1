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
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

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
        exprs.extend(v["definition"] for v in dashboard.get("templating", {}).get("list", [])
                     if v["type"] == "query")
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


# -- Kubernetes manifests ------------------------------------------------------------------------

KUBERNETES = ROOT / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.30.0"  # the oldest Kubernetes still supported upstream when written


def _manifests() -> list[tuple[str, dict[str, Any]]]:
    """(file name, object) of every resource the kustomization lists."""
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    out = []
    for name in kustomization["resources"]:
        for doc in yaml.safe_load_all((KUBERNETES / name).read_text()):
            if doc:
                out.append((name, doc))
    return out


def _one(kind: str, name: str) -> dict[str, Any]:
    found = [doc for _, doc in _manifests()
             if doc["kind"] == kind and doc["metadata"]["name"] == name]
    assert len(found) == 1, (kind, name, len(found))
    return found[0]


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    container: dict[str, Any] = containers[0]
    return container


def _pod_config(model: type[Any], deployment: dict[str, Any]) -> Any:
    """The service config a pod of ``deployment`` loads: the ConfigMap's YAML plus the pod's
    ``DRIFTLINE_…`` variables (downward-API and Secret values replaced by samples)."""
    from consumer.config import load_config

    config_map = _one("ConfigMap", "driftline-config")
    env = {}
    for var in _container(deployment).get("env", []):
        value = var.get("value")
        if value is None:
            source = var["valueFrom"]
            value = ("driftline-consumer-7d9f-abcde" if "fieldRef" in source
                     else f"secret-{source['secretKeyRef']['key']}")
        env[var["name"]] = value
    path = Path(tempfile.mkdtemp()) / "driftline.yaml"
    path.write_text(config_map["data"]["driftline.yaml"])
    return load_config(model, path, environ=env)


def test_every_manifest_is_listed_by_the_kustomization() -> None:
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    on_disk = {p.name for p in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == on_disk


def test_manifests_validate_against_the_kubernetes_schemas() -> None:
    kubernetes_validate = pytest.importorskip(
        "kubernetes_validate", reason="pip install kubernetes-validate (in the dev extra)")
    validated, custom = [], []
    for name, doc in _manifests():
        if doc["apiVersion"].startswith("monitoring.coreos.com/"):
            custom.append(doc["kind"])  # CRDs: no bundled schema; see the tests below
            continue
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            raise AssertionError(f"{name}: {doc['kind']} {doc['metadata']['name']}: "
                                 f"{exc.message} at {'.'.join(map(str, exc.path))}") from None
        validated.append(doc["kind"])
    assert sorted(set(validated)) == ["ConfigMap", "Deployment", "Namespace",
                                      "PersistentVolumeClaim", "PodDisruptionBudget", "Secret",
                                      "Service"]
    assert sorted(custom) == ["PrometheusRule", "ServiceMonitor"]


def test_schema_validation_catches_a_broken_manifest() -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    deployment = json.loads(json.dumps(_one("Deployment", "driftline-consumer")))
    _container(deployment)["readinessProbe"]["httpGet"]["paht"] = "/readyz"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_prometheus_rule_is_generated_from_the_alert_rules() -> None:
    from driftline.prometheus_rule import render

    text = (KUBERNETES / "prometheusrule.yaml").read_text(encoding="utf-8")
    assert text == render(), ("deploy/kubernetes/prometheusrule.yaml is stale: run "
                              "`python -m driftline.prometheus_rule --write`")
    rule = yaml.safe_load(text)
    assert rule["spec"]["groups"] == yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]


@needs_promtool
def test_prometheus_rule_groups_pass_promtool(tmp_path: Path) -> None:
    rule = _one("PrometheusRule", "driftline")
    extracted = tmp_path / "rules.yml"
    extracted.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    result = subprocess.run([str(PROMTOOL), "check", "rules", str(extracted)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_service_monitor_scrapes_both_services_under_the_alert_rules_job_names() -> None:
    monitor = _one("ServiceMonitor", "driftline")
    selector = monitor["spec"]["selector"]["matchExpressions"]
    assert len(selector) == 1 and selector[0]["operator"] == "In"
    selected = [doc for _, doc in _manifests() if doc["kind"] == "Service"
                and doc["metadata"]["labels"].get(selector[0]["key"]) in selector[0]["values"]]
    # The operator's `job` label is the Service name: the names the alert rules select on.
    alerts = (PROMETHEUS / "alerts.yml").read_text()
    jobs = set(re.findall(r'job="([^"]+)"', alerts))
    assert {s["metadata"]["name"] for s in selected} == jobs == {
        "driftline-consumer", "driftline-retrain-worker"}
    ports = {e["port"] for e in monitor["spec"]["endpoints"]}
    for service in selected:
        assert ports <= {p["name"] for p in service["spec"]["ports"]}, service["metadata"]["name"]
        deployment = _one("Deployment", service["metadata"]["name"])
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= labels.items()


def test_consumer_deployment_gives_each_pod_its_own_transactional_identity() -> None:
    from consumer.config import ConsumerServiceConfig

    deployment = _one("Deployment", "driftline-consumer")
    env = {v["name"]: v for v in _container(deployment)["env"]}
    assert env["DRIFTLINE_CONSUMER__INSTANCE_ID"]["valueFrom"] == {
        "fieldRef": {"fieldPath": "metadata.name"}}
    config = _pod_config(ConsumerServiceConfig, deployment)
    assert config.consumer.instance_id == "driftline-consumer-7d9f-abcde"
    assert config.kafka["sasl.username"] == "secret-sasl.username"
    assert config.kafka["sasl.password"] == "secret-sasl.password"
    assert 1 <= deployment["spec"]["replicas"] <= config.topic_layout.partitions


def test_deployments_probe_and_stop_within_the_services_bounds() -> None:
    from consumer.config import ConsumerServiceConfig
    from retrain_worker.config import WorkerServiceConfig

    for name, model, section in (("driftline-consumer", ConsumerServiceConfig, "consumer"),
                                 ("driftline-retrain-worker", WorkerServiceConfig, "worker")):
        deployment = _one("Deployment", name)
        settings = getattr(_pod_config(model, deployment), section)
        pod = deployment["spec"]["template"]["spec"]
        container = _container(deployment)
        assert pod["terminationGracePeriodSeconds"] > settings.shutdown_timeout_s, name
        port = {p["name"]: p["containerPort"] for p in container["ports"]}["metrics"]
        assert port == settings.metrics_port, name
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
        liveness = container["livenessProbe"]
        assert liveness["httpGet"] == {"path": "/healthz", "port": "metrics"}
        if section == "consumer":
            # /healthz fails while no broker answers; the consumer exits by itself after
            # broker_timeout_s, so the kubelet must not restart it earlier.
            assert liveness["periodSeconds"] * liveness["failureThreshold"] > \
                settings.broker_timeout_s
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert "/etc/driftline" in mounts and container["args"][-1].startswith("/etc/driftline/")
        requests, limits = container["resources"]["requests"], container["resources"]["limits"]
        assert {"cpu", "memory"} <= requests.keys() and "memory" in limits


def test_manifests_compose_and_dockerfile_use_one_image() -> None:
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    image = kustomization["images"][0]
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    built = {s["image"] for s in compose["services"].values()
             if s.get("image", "").startswith(image["name"] + ":")}
    assert built == {f"{image['name']}:{image['newTag']}"}
    for name in ("driftline-consumer", "driftline-retrain-worker"):
        assert _container(_one("Deployment", name))["image"] == f"{image['name']}:{image['newTag']}"


# -- Grafana dashboard ---------------------------------------------------------------------------

def _dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((GRAFANA / "dashboards" / "driftline.json").read_text())
    return data


def _datasource_refs(node: Any, where: str = "") -> list[tuple[str, dict[str, Any]]]:
    """(where, ref) of every ``datasource`` reference in the dashboard JSON."""
    refs: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource" and isinstance(value, dict):
                refs.append((where, value))
            else:
                refs.extend(_datasource_refs(value, f"{where}/{node.get('title', key)}"))
    elif isinstance(node, list):
        for item in node:
            refs.extend(_datasource_refs(item, where))
    return refs


def _grafana_resolve(uid: str, variables: dict[str, str]) -> str:
    """A datasource uid as Grafana resolves it: ``$name``, ``${name}`` or ``[[name]]`` is the
    variable's selected value; anything else is taken literally."""
    m = re.fullmatch(r"\$\{(\w+)\}|\$(\w+)|\[\[(\w+)\]\]", uid)
    if m is None:
        return uid
    name = next(g for g in m.groups() if g)
    return variables.get(name, uid)


def test_dashboard_resolves_with_any_datasource_uid() -> None:
    """Imported into a Grafana whose only Prometheus has another uid, every panel, target,
    annotation and variable query still finds it: the datasource is a variable."""
    dashboard = _dashboard()
    variables = dashboard["templating"]["list"]
    ds_vars = [v for v in variables if v["type"] == "datasource"]
    assert [(v["name"], v["query"]) for v in ds_vars] == [("datasource", "prometheus")]
    assert variables[0]["name"] == "datasource", "defined before the variables that use it"
    grafana = {"prom-elsewhere-42": "prometheus"}  # the importing Grafana's datasources
    selected = {"datasource": "prom-elsewhere-42"}  # what the import dialog / default selects
    refs = _datasource_refs(dashboard)
    assert len(refs) >= 2 * len(dashboard["panels"]) - 10, len(refs)
    for where, ref in refs:
        uid = _grafana_resolve(ref["uid"], selected)
        assert grafana.get(uid) == ref["type"] == "prometheus", (where, ref)
    assert "driftline-prometheus" not in json.dumps(dashboard)


def test_dashboard_with_a_hard_wired_uid_would_not_resolve() -> None:
    """The check above fails on the old dashboard's fixed uid."""
    assert _grafana_resolve("driftline-prometheus", {"datasource": "prom-elsewhere-42"}) \
        == "driftline-prometheus"


def test_dashboard_counts_a_counters_first_event() -> None:
    """Every increase() over a counter also counts series born within the interval (a labelled
    counter appears at 1 with its first event; increase() alone shows 0 then)."""
    exprs = [t["expr"] for p in _dashboard()["panels"] for t in p.get("targets", [])]
    found = 0
    for expr in exprs:
        for name in re.findall(r"increase\((driftline_\w+_total)", expr):
            assert f"unless {name} offset $__rate_interval" in expr, expr
            found += 1
    assert found >= 5


def test_dashboard_thresholds_are_the_alert_thresholds() -> None:
    rules = {r["alert"]: r["expr"] for g in yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
             ["groups"] for r in g["rules"]}
    steps = {p["title"]: [s["value"] for s in p["fieldConfig"]["defaults"]["thresholds"]["steps"]]
             for p in _dashboard()["panels"] if "thresholds" in p.get("fieldConfig", {}).get(
                 "defaults", {})}
    assert re.search(r"< 0\.7\b", rules["DriftlineRollingMetricLow"])
    assert 0.7 in steps["Rolling metrics per model version and segment"]
    assert re.search(r"> 10000\b", rules["DriftlineConsumerLagHigh"])
    assert 10000 in steps["Consumer lag"]
    assert "> 7 * 24 * 3600" in rules["DriftlineNoSuccessfulRetrain"]
    assert 7 * 24 * 3600 in steps["Time since last promoted retrain"]
    assert re.search(r"\) > 0\.1\b", rules["DriftlineEstimateUnreliable"])
    assert {-0.1, 0.1} <= set(steps["Estimated vs realized gap"])


# -- runbook -------------------------------------------------------------------------------------

def _github_anchor(heading: str) -> str:
    return re.sub(r"[^a-z0-9 _-]", "", heading.strip().lower()).replace(" ", "-")


def test_every_alert_links_its_runbook_section() -> None:
    runbook = (ROOT / "docs" / "runbook.md").read_text(encoding="utf-8")
    anchors = {_github_anchor(h) for h in re.findall(r"^## (.+)$", runbook, flags=re.MULTILINE)}
    rules = [r for g in yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]
             for r in g["rules"] if "alert" in r]
    assert len(rules) >= 12
    for rule in rules:
        url = rule["annotations"].get("runbook_url", "")
        path, _, anchor = url.partition("#")
        assert path == "docs/runbook.md" and (ROOT / path).exists(), (rule["alert"], url)
        assert anchor == _github_anchor(rule["alert"]) and anchor in anchors, (rule["alert"], url)
    assert len(anchors) == len(rules), "one runbook section per alert"


# -- container image -----------------------------------------------------------------------------

BASE_IMAGE = "localhost/driftline-test-base:bookworm"
IMAGE_TOOLS = ("podman", "buildah", "mmdebstrap")


def _run(*args: str, timeout: float = 900, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, **kwargs)


def _host_ca_bundle() -> list[str]:
    """``podman build -v`` arguments lending the host's CA bundle to the build's RUN steps (a
    TLS-intercepting proxy's CA lives there), without putting it in the image."""
    import os

    for name in ("PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
        path = os.environ.get(name)
        if path and Path(path).is_file():
            return ["-v", f"{path}:/etc/ssl/certs/ca-certificates.crt:ro"]
    return []


@pytest.mark.image
def test_dockerfile_builds_the_image_compose_and_the_manifests_run(tmp_path: Path) -> None:
    """Builds ./Dockerfile with podman on a Debian bookworm base made here from Debian's own
    archive (this machine reaches no container registry; ``BASE_IMAGE`` is the Dockerfile's
    argument for that), then runs the image's ``driftline consume --print-config`` with the
    Kubernetes ConfigMap and the consumer pod's variables, as its non-root user."""
    missing = [tool for tool in IMAGE_TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not found: apt-get install podman buildah mmdebstrap")
    if _run("podman", "image", "exists", BASE_IMAGE).returncode != 0:
        tar = tmp_path / "base.tar"
        made = _run("mmdebstrap", "--variant=apt", "--include=python3,python3-venv,ca-certificates",
                    "bookworm", str(tar), "http://deb.debian.org/debian")
        assert made.returncode == 0, made.stderr[-3000:]
        imported = _run("podman", "import", str(tar), BASE_IMAGE)
        assert imported.returncode == 0, imported.stderr
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())["images"][0]
    tag = f"{kustomization['name']}:{kustomization['newTag']}"
    # chroot isolation: this machine's crun cannot create containers (cgroups v1/v2 hybrid).
    built = _run("podman", "build", "--isolation", "chroot", *_host_ca_bundle(),
                 "--build-arg", f"BASE_IMAGE={BASE_IMAGE}", "-t", tag, str(ROOT))
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]

    config = tmp_path / "etc"
    config.mkdir()
    (config / "driftline.yaml").write_text(_one("ConfigMap", "driftline-config")["data"]
                                           ["driftline.yaml"])
    env = {"DRIFTLINE_CONSUMER__INSTANCE_ID": "driftline-consumer-7d9f-abcde",
           "DRIFTLINE_KAFKA__SASL_USERNAME": "alice", "DRIFTLINE_KAFKA__SASL_PASSWORD": "hunter2"}
    container = _run("buildah", "from", f"localhost/{tag}").stdout.strip()
    assert container
    try:
        args = _container(_one("Deployment", "driftline-consumer"))["args"]
        env_args = [arg for name, value in env.items() for arg in ("--env", f"{name}={value}")]
        ran = _run("buildah", "run", "--isolation", "chroot", *env_args,
                   "-v", f"{config}:/etc/driftline:ro", container, "--",
                   "driftline", *args, "--print-config", timeout=120)
        assert ran.returncode == 0, ran.stderr
        shown = yaml.safe_load(ran.stdout)
        assert shown["consumer"]["instance_id"] == "driftline-consumer-7d9f-abcde"
        assert shown["kafka"]["sasl.username"] == "alice"
        assert shown["kafka"]["sasl.password"] == "***"
        user = _run("buildah", "run", "--isolation", "chroot", container, "--", "id", "-u")
        assert user.stdout.strip() == "10001"
    finally:
        _run("buildah", "rm", container)
