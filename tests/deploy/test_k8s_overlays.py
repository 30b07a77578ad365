"""Every overlay builds with the real kustomize and validates strictly; the shape the issue asks."""

from __future__ import annotations

import copy
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest

from tests.deploy.manifests import (
    OVERLAYS,
    SERVICE_NAMES,
    build,
    named,
    of_kind,
    pod_spec,
)
from tests.deploy.strimzi import strimzi_errors

KUBERNETES_VERSION = "1.33.0"
WORKLOADS = ("Deployment", "Job")


def k8s_errors(resource: dict[str, Any]) -> list[str]:
    try:
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [f"{'.'.join(map(str, error.path))}: {error.message}"]
    return []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_validates_strictly(overlay: str) -> None:
    problems: list[str] = []
    for resource in build(overlay):
        where = f"{resource['kind']}/{resource['metadata']['name']}"
        if resource["apiVersion"].startswith("kafka.strimzi.io/"):
            problems += [f"{where}: {e}" for e in strimzi_errors(resource)]
        else:
            problems += [f"{where}: {e}" for e in k8s_errors(resource)]
    assert problems == []


def test_strict_validation_catches_a_misspelt_field() -> None:
    deployment = copy.deepcopy(named("dev", "Deployment", "linli-credit-api"))
    deployment["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    assert k8s_errors(deployment) != []
    topic = copy.deepcopy(of_kind("dev", "KafkaTopic")[0])
    topic["spec"]["partitons"] = 3
    assert strimzi_errors(topic) != []
    user = copy.deepcopy(of_kind("dev", "KafkaUser")[0])
    user["spec"]["authorization"]["acls"][0]["operations"] = ["Reed"]
    assert strimzi_errors(user) != []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_secret_values_in_the_manifests(overlay: str) -> None:
    assert of_kind(overlay, "Secret") == []


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_each_service_has_its_objects(overlay: str, service: str) -> None:
    api = named(overlay, "Deployment", f"linli-{service}-api")
    worker = named(overlay, "Deployment", f"linli-{service}-worker")
    job = named(overlay, "Job", f"linli-{service}-migrate")
    assert pod_spec(api)["containers"][0]["args"][:2] == ["serve", service]
    assert pod_spec(worker)["containers"][0]["args"] == ["worker", service]
    assert pod_spec(job)["containers"][0]["args"] == ["migrate", service]
    named(overlay, "ServiceAccount", f"linli-{service}")
    for workload in (api, worker, job):
        assert pod_spec(workload)["serviceAccountName"] == f"linli-{service}"

    service_object = named(overlay, "Service", f"linli-{service}-api")
    assert service_object["spec"]["selector"] == api["spec"]["selector"]["matchLabels"]

    hpa = named(overlay, "HorizontalPodAutoscaler", f"linli-{service}-api")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": f"linli-{service}-api",
    }
    assert "replicas" not in api["spec"], "the autoscaler owns the API's replica count"

    for workload, name in ((api, "api"), (worker, "worker")):
        pdb = named(overlay, "PodDisruptionBudget", f"linli-{service}-{name}")
        assert pdb["spec"]["selector"]["matchLabels"] == workload["spec"]["selector"]["matchLabels"]
    for name in ("api", "worker", "migrate"):
        policy = named(overlay, "NetworkPolicy", f"linli-{service}-{name}")
        assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_is_hardened_probed_and_sized(overlay: str) -> None:
    for kind in WORKLOADS:
        for workload in of_kind(overlay, kind):
            name = workload["metadata"]["name"]
            spec = pod_spec(workload)
            assert spec["automountServiceAccountToken"] is False, name
            pod_security = spec["securityContext"]
            assert pod_security["runAsNonRoot"] is True, name
            assert pod_security["runAsUser"] == 10001, name
            assert pod_security["seccompProfile"] == {"type": "RuntimeDefault"}, name
            volumes = {v["name"]: v for v in spec.get("volumes", [])}
            for container in spec["containers"]:
                security = container["securityContext"]
                assert security["readOnlyRootFilesystem"] is True, name
                assert security["allowPrivilegeEscalation"] is False, name
                assert security["capabilities"]["drop"] == ["ALL"], name
                mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
                assert "emptyDir" in volumes[mounts["/tmp"]], f"{name}: writable /tmp"
                resources = container["resources"]
                assert {"cpu", "memory"} <= set(resources["requests"]), name
                assert "memory" in resources["limits"], name
                if kind == "Deployment":
                    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                        assert probe in container, f"{name}: no {probe}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_let_only_what_must_talk_talk(overlay: str) -> None:
    deny = named(overlay, "NetworkPolicy", "linli-default-deny")
    assert deny["spec"]["podSelector"] == {}
    assert set(deny["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny["spec"] and "egress" not in deny["spec"]

    def egress_ports(policy: dict[str, Any]) -> set[int]:
        return {p["port"] for rule in policy["spec"].get("egress", []) for p in rule["ports"]}

    def ingress_ports(policy: dict[str, Any]) -> set[int]:
        return {p["port"] for rule in policy["spec"].get("ingress", []) for p in rule["ports"]}

    for service in SERVICE_NAMES:
        api = named(overlay, "NetworkPolicy", f"linli-{service}-api")
        worker = named(overlay, "NetworkPolicy", f"linli-{service}-worker")
        migrate = named(overlay, "NetworkPolicy", f"linli-{service}-migrate")
        assert ingress_ports(api) == {8000}
        assert egress_ports(api) == {5432, 443}, "APIs never reach Kafka"
        assert ingress_ports(worker) == {9100}, "workers serve only metrics"
        assert {5432, 9092, 9093} <= egress_ports(worker)
        assert "ingress" not in migrate["spec"]
        assert egress_ports(migrate) == {5432}
        kafka_rules = [
            rule
            for rule in worker["spec"]["egress"]
            if any(p["port"] == 9092 for p in rule["ports"])
        ]
        assert all(rule.get("to") for rule in kafka_rules), "Kafka egress only to the brokers"
        if service != "notify":
            assert egress_ports(worker) == {5432, 9092, 9093}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_ingress_routes_each_prefix_to_its_api(overlay: str) -> None:
    (ingress,) = of_kind(overlay, "Ingress")
    routes = {
        path["path"]: path["backend"]["service"]["name"]
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    for service in SERVICE_NAMES:
        assert routes[f"/{service}(/|$)(.*)"] == f"linli-{service}-api"
