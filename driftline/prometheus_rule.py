"""The Prometheus Operator ``PrometheusRule`` of ``deploy/kubernetes/``, generated from
``deploy/prometheus/alerts.yml`` so the two never drift apart.

Contract:

* :func:`render` wraps the rule file's ``groups`` unchanged (same order, same expressions,
  labels and annotations) in a ``monitoring.coreos.com/v1`` ``PrometheusRule`` named
  ``driftline``; multi-line strings keep their literal block style so the file stays readable.
* ``python -m driftline.prometheus_rule --write`` rewrites ``deploy/kubernetes/prometheusrule.yaml``;
  ``--check`` exits 1 when it differs (``tests/test_deploy.py`` runs the same comparison).

>>> text = render({"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "up == 0\\n"}]}]})
>>> print(text.split("\\n", 2)[2])  # doctest: +NORMALIZE_WHITESPACE
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: driftline
  labels:
    app.kubernetes.io/name: driftline
    release: prometheus
spec:
  groups:
  - name: g
    rules:
    - alert: A
      expr: |
        up == 0
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
OUTPUT = ROOT / "deploy" / "kubernetes" / "prometheusrule.yaml"
HEADER = ("# Generated from deploy/prometheus/alerts.yml by `python -m driftline.prometheus_rule "
          "--write`; do not edit.\n# The `release` label is what a kube-prometheus-stack "
          "Prometheus selects by default (ruleSelector).\n")


class _Dumper(yaml.SafeDumper):
    """Block style for multi-line strings (the PromQL expressions)."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def prometheus_rule(rules: dict[str, Any]) -> dict[str, Any]:
    """The ``PrometheusRule`` object holding ``rules['groups']``."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "driftline",
                     "labels": {"app.kubernetes.io/name": "driftline", "release": "prometheus"}},
        "spec": {"groups": rules["groups"]},
    }


def render(rules: dict[str, Any] | None = None) -> str:
    """The manifest's text, from ``rules`` (default: the parsed ``alerts.yml``)."""
    if rules is None:
        rules = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    body = yaml.dump(prometheus_rule(rules), Dumper=_Dumper, sort_keys=False, width=4096,
                     allow_unicode=True)
    return HEADER + body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m driftline.prometheus_rule")
    parser.add_argument("--write", action="store_true", help=f"write {OUTPUT.relative_to(ROOT)}")
    parser.add_argument("--check", action="store_true", help="exit 1 when it is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        OUTPUT.write_text(text, encoding="utf-8")
    elif args.check:
        if not OUTPUT.exists() or OUTPUT.read_text(encoding="utf-8") != text:
            print(f"{OUTPUT} is stale: run python -m driftline.prometheus_rule --write",
                  file=sys.stderr)
            return 1
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
