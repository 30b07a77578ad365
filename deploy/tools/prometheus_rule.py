"""Write deploy/k8s/monitoring/prometheus-rule.yaml from linli.rules.yaml (the single source).

python deploy/tools/prometheus_rule.py           # regenerate
python deploy/tools/prometheus_rule.py --check   # exit 1 when the committed file differs
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

MONITORING = Path(__file__).resolve().parents[1] / "k8s" / "monitoring"
RULES = MONITORING / "linli.rules.yaml"
PROMETHEUS_RULE = MONITORING / "prometheus-rule.yaml"
HEADER = (
    "# Generated from linli.rules.yaml by deploy/tools/prometheus_rule.py: edit that file, then\n"
    "# run the script. For the Prometheus Operator; its Prometheus must select these labels\n"
    "# (spec.ruleSelector; add e.g. `release: <your stack>` in an overlay if it asks for one).\n"
)


class _Dumper(yaml.SafeDumper):
    pass


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def prometheus_rule(rules: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "linli", "labels": {"app.kubernetes.io/part-of": "linli"}},
        "spec": {"groups": rules["groups"]},
    }


def render() -> str:
    rules = yaml.safe_load(RULES.read_text())
    body = yaml.dump(
        prometheus_rule(rules), Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True
    )
    return HEADER + body


def main(argv: list[str]) -> int:
    rendered = render()
    if "--check" in argv:
        if PROMETHEUS_RULE.read_text() != rendered:
            print(f"{PROMETHEUS_RULE} is stale: run python {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    PROMETHEUS_RULE.write_text(rendered)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
