"""The alert rules, the PrometheusRule and the Grafana dashboard in deploy/k8s/monitoring:
each alert behaves as its promtool unit tests say, the Operator's resources match its CRDs,
every query parses and names only metrics the code exports or the rules record."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from prometheus_client import REGISTRY

import linli_shared.health
import linli_shared.metrics  # noqa: F401
from conftest import REPO
from tests.deploy.manifests import kubectl
from tests.ops.promql import metric_names

MONITORING = REPO / "deploy" / "k8s" / "monitoring"
TOOLS = REPO / "deploy" / "tools"
RULES = MONITORING / "linli.rules.yaml"
DASHBOARD = MONITORING / "grafana" / "linli-dashboard.json"


@pytest.fixture(scope="session")
def promtool() -> str:
    result = subprocess.run(
        [str(TOOLS / "ensure-promtool.sh")], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


@cache
def _crds() -> Path:
    result = subprocess.run(
        [str(TOOLS / "fetch-prometheus-operator-crds.sh")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    return Path(result.stdout.strip().splitlines()[-1])


def _rules() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(RULES.read_text())
    return loaded


def _dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def _dashboard_queries() -> list[tuple[str, str]]:
    return [
        (f"{panel['title']} {target['refId']}", target["expr"])
        for panel in _dashboard()["panels"]
        if panel["type"] != "row"
        for target in panel["targets"]
    ]


def _exported() -> set[str]:
    """The sample names /metrics carries for every metric the code registers."""
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
        "summary": ("_sum", "_count", "_created"),
        "info": ("_info",),
    }
    names: set[str] = set()
    for family in REGISTRY.collect():
        names |= {family.name + suffix for suffix in suffixes.get(family.type, ("",))}
    return names


def _recorded() -> set[str]:
    return {
        rule["record"]
        for group in _rules()["groups"]
        for rule in group["rules"]
        if "record" in rule
    }


def test_every_alert_fires_and_stays_quiet_as_its_unit_tests_say(promtool: str) -> None:
    result = subprocess.run(
        [promtool, "test", "rules", "linli.rules.test.yaml"],
        cwd=MONITORING,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_unit_test_in_which_it_fires() -> None:
    alerts = {r["alert"] for g in _rules()["groups"] for r in g["rules"] if "alert" in r}
    tests = yaml.safe_load((MONITORING / "linli.rules.test.yaml").read_text())["tests"]
    firing = {
        case["alertname"]
        for test in tests
        for case in test.get("alert_rule_test", [])
        if case["exp_alerts"]
    }
    assert alerts - firing == set()
    assert len(alerts) >= 9


def test_the_prometheus_rule_carries_exactly_the_rules_file() -> None:
    resource = yaml.safe_load((MONITORING / "prometheus-rule.yaml").read_text())
    assert resource["spec"]["groups"] == _rules()["groups"]
    check = subprocess.run(
        [sys.executable, str(TOOLS / "prometheus_rule.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stderr


def _strict(schema: Any) -> Any:
    """As kubeconform's strict mode: an object's unknown fields are errors, except where
    Kubernetes keeps unknown fields."""
    if isinstance(schema, dict):
        schema = {key: _strict(value) for key, value in schema.items()}
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    return schema


def _crd_errors(resource: dict[str, Any], crd_file: str) -> list[str]:
    crd = yaml.safe_load((_crds() / crd_file).read_text())
    group, version = resource["apiVersion"].split("/")
    assert (crd["spec"]["group"], crd["spec"]["names"]["kind"]) == (group, resource["kind"])
    served = {v["name"]: v for v in crd["spec"]["versions"] if v["served"]}
    assert version in served, f"{resource['apiVersion']} is not served by {crd_file}"
    schema = _strict(served[version]["schema"]["openAPIV3Schema"])
    validator = jsonschema.Draft7Validator(schema)
    return [f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(resource)]


@pytest.mark.parametrize(
    ("manifest", "crd_file"),
    [
        ("prometheus-rule.yaml", "monitoring.coreos.com_prometheusrules.yaml"),
        ("pod-monitor.yaml", "monitoring.coreos.com_podmonitors.yaml"),
    ],
)
def test_the_operators_resources_validate_against_its_published_crds(
    manifest: str, crd_file: str
) -> None:
    resource = yaml.safe_load((MONITORING / manifest).read_text())
    assert _crd_errors(resource, crd_file) == []


def test_crd_validation_catches_a_misspelt_rule_field() -> None:
    resource = yaml.safe_load((MONITORING / "prometheus-rule.yaml").read_text())
    broken = copy.deepcopy(resource)
    rule = broken["spec"]["groups"][0]["rules"][-1]
    rule["expresion"] = rule.pop("expr")
    assert _crd_errors(broken, "monitoring.coreos.com_prometheusrules.yaml") != []


def test_the_monitoring_kustomization_builds() -> None:
    result = subprocess.run(
        [kubectl(), "kustomize", str(MONITORING)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    built = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    assert sorted(doc["kind"] for doc in built) == ["ConfigMap", "PodMonitor", "PrometheusRule"]
    (config_map,) = [doc for doc in built if doc["kind"] == "ConfigMap"]
    assert json.loads(config_map["data"]["linli-dashboard.json"]) == _dashboard()


def test_every_metric_the_rules_name_is_exported_by_the_code() -> None:
    expressions = [rule["expr"] for group in _rules()["groups"] for rule in group["rules"]]
    named = set().union(*(metric_names(expression) for expression in expressions))
    assert "linli_consumer_lag" in named
    assert named - _exported() - _recorded() == set()


def test_every_metric_the_dashboard_names_is_exported_by_the_code() -> None:
    named = set().union(*(metric_names(expr) for _, expr in _dashboard_queries()))
    assert {"linli_consumer_lag", "linli_outbox_backlog", "linli_dead_letters_total"} <= named
    assert named - _exported() == set()


def test_the_metric_name_reader_finds_selectors_and_nothing_else() -> None:
    expression = (
        'sum by (group, le) (rate(linli_a_total{status=~"5..", route!="x y"}[5m])) '
        "/ on (group) group_left (topic) max without (instance) (linli_b offset 10m) "
        "unless linli_c > bool 0 and group:linli_d:sum"
    )
    assert metric_names(expression) == {"linli_a_total", "linli_b", "linli_c", "group:linli_d:sum"}


def test_every_dashboard_query_parses(promtool: str, tmp_path: Path) -> None:
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {
                        "record": f"dashboard:query_{index}",
                        "expr": expr.replace("$__rate_interval", "5m"),
                    }
                    for index, (_, expr) in enumerate(_dashboard_queries())
                ],
            }
        ]
    }
    path = tmp_path / "dashboard.rules.yaml"
    path.write_text(yaml.safe_dump(rules))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_dashboard_has_the_structure_grafana_loads() -> None:
    dashboard = _dashboard()
    assert dashboard["uid"] and dashboard["title"]
    assert isinstance(dashboard["schemaVersion"], int)
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    panels = dashboard["panels"]
    assert len({panel["id"] for panel in panels}) == len(panels)
    for panel in panels:
        assert {"type", "title", "id", "gridPos"} <= panel.keys(), panel
        assert {"h", "w", "x", "y"} <= panel["gridPos"].keys()
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(set(ref_ids)) == len(ref_ids)
        for target in panel["targets"]:
            assert target["expr"].strip() and target["datasource"] == panel["datasource"]
    titles = {panel["title"] for panel in panels}
    assert {"Requests", "Events", "What waits", "Failures"} <= titles
