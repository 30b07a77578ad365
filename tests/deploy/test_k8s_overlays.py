"""Every overlay builds with the real kustomize and validates strictly; the shape the issue asks.

Validation is kubeconform's, strict, against the schemas of the Kubernetes releases in
`upstream.KUBERNETES_VERSIONS` and the CRDs of the pinned Strimzi and Gateway API releases
(tests/deploy/upstream.py fetches and caches them): an unknown field, a wrong type, a kind or
API version the cluster does not serve fails.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from tests.deploy import upstream
from tests.deploy.manifests import (
    OVERLAYS,
    SERVICE_NAMES,
    build_yaml,
    measures_consumer_lag,
    named,
    of_kind,
    pod_spec,
)

WORKLOADS = ("Deployment",)


def dump(*resources: dict[str, Any]) -> str:
    return yaml.safe_dump_all(resources, sort_keys=False)


@pytest.mark.parametrize("kubernetes", upstream.KUBERNETES_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_validates_strictly(overlay: str, kubernetes: str) -> None:
    assert upstream.validate(build_yaml(overlay), kubernetes) == []


def test_strict_validation_catches_a_misspelt_field() -> None:
    deployment = copy.deepcopy(named("dev", "Deployment", "linli-credit-api"))
    deployment["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    topic = copy.deepcopy(of_kind("dev", "KafkaTopic")[0])
    topic["spec"]["partitons"] = 3
    user = copy.deepcopy(of_kind("dev", "KafkaUser")[0])
    user["spec"]["authorization"]["acls"][0]["operations"] = ["Reed"]
    route = copy.deepcopy(of_kind("dev", "HTTPRoute")[0])
    route["spec"]["rules"][0]["matches"][0]["path"]["type"] = "Prefix"
    for broken in (deployment, topic, user, route):
        kind = broken["kind"]
        problems = upstream.validate(dump(broken), upstream.KUBERNETES_VERSIONS[-1])
        assert len(problems) == 1 and "statusInvalid" in problems[0], kind


def test_a_resource_of_an_api_version_strimzi_no_longer_serves_is_rejected() -> None:
    """Strimzi 1.0 stopped serving kafka.strimzi.io/v1beta2; a cluster refuses such objects."""
    for kind in ("KafkaTopic", "KafkaUser"):
        old = copy.deepcopy(of_kind("prod", kind)[0])
        old["apiVersion"] = "kafka.strimzi.io/v1beta2"
        problems = upstream.validate(dump(old), upstream.KUBERNETES_VERSIONS[-1])
        assert len(problems) == 1 and "could not find schema" in problems[0], problems


def test_the_old_kafka_user_acl_shape_is_rejected() -> None:
    """v1beta2's `operation: Read` (singular) is gone in v1: an ACL needs `operations`."""
    user = copy.deepcopy(of_kind("prod", "KafkaUser")[0])
    acl = user["spec"]["authorization"]["acls"][0]
    acl["operation"] = acl.pop("operations")[0]
    assert upstream.validate(dump(user), upstream.KUBERNETES_VERSIONS[-1]) != []


def test_a_kind_no_schema_knows_is_rejected() -> None:
    unknown = {"apiVersion": "example.org/v1", "kind": "Widget", "metadata": {"name": "w"}}
    problems = upstream.validate(dump(unknown), upstream.KUBERNETES_VERSIONS[-1])
    assert len(problems) == 1 and "could not find schema" in problems[0]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_secret_values_in_the_manifests(overlay: str) -> None:
    assert of_kind(overlay, "Secret") == []


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_each_service_has_its_objects(overlay: str, service: str) -> None:
    api = named(overlay, "Deployment", f"linli-{service}-api")
    worker = named(overlay, "Deployment", f"linli-{service}-worker")
    assert pod_spec(api)["containers"][0]["args"][:2] == ["serve", service]
    assert pod_spec(worker)["containers"][0]["args"] == ["worker", service]
    named(overlay, "ServiceAccount", f"linli-{service}")
    for workload in (api, worker):
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
    for name in ("api", "worker"):
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
            for container in [*spec.get("initContainers", []), *spec["containers"]]:
                security = container["securityContext"]
                assert security["readOnlyRootFilesystem"] is True, name
                assert security["allowPrivilegeEscalation"] is False, name
                assert security["capabilities"]["drop"] == ["ALL"], name
                mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
                assert "emptyDir" in volumes[mounts["/tmp"]], f"{name}: writable /tmp"
                resources = container["resources"]
                assert {"cpu", "memory"} <= set(resources["requests"]), name
                assert "memory" in resources["limits"], name
                if container in spec["containers"]:
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

    kafka_port = 9093 if overlay == "prod" else 9092
    for service in SERVICE_NAMES:
        api = named(overlay, "NetworkPolicy", f"linli-{service}-api")
        worker = named(overlay, "NetworkPolicy", f"linli-{service}-worker")
        assert ingress_ports(api) == {8000}
        # Kafka only for the backlog probe's consumer lag (as a Describe-only KafkaUser).
        lag = {kafka_port} if measures_consumer_lag(service) else set()
        # The registry's API (8000) only for subject keys, to seal inspectors' notes.
        keys = {8000} if service == "inspections" else set()
        assert egress_ports(api) == {5432, 443} | lag | keys, (
            "APIs reach Kafka only to measure lag, the registry only for subject keys"
        )
        assert ingress_ports(worker) == {9100}, "workers serve only metrics"
        assert {5432, kafka_port} <= egress_ports(worker)
        kafka_rules = [
            rule
            for policy in (api, worker)
            for rule in policy["spec"]["egress"]
            if any(p["port"] == kafka_port for p in rule["ports"])
        ]
        assert all(rule.get("to") for rule in kafka_rules), "Kafka egress only to the brokers"
        for policy in (api, worker):
            for rule in policy["spec"]["egress"]:
                if any(p["port"] == 25 for p in rule["ports"]):
                    continue  # notify's mail servers, SMS gateway and webhooks: anywhere
                assert rule.get("to"), f"{policy['metadata']['name']}: egress to anywhere"
        if service != "notify":
            assert egress_ports(worker) == {5432, kafka_port}
    # The console's pod serves files to the gateway and calls nothing: the browser calls the APIs
    # and the identity provider (DNS aside: linli-dns, for every pod).
    console = named(overlay, "NetworkPolicy", "linli-console")
    gateway = named(overlay, "NetworkPolicy", "linli-registry-api")["spec"]["ingress"][0]
    assert console["spec"]["ingress"] == [gateway], "only the gateway's proxies reach it"
    assert set(console["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    assert console["spec"].get("egress", []) == [], "the console's pod reaches nothing"
    if overlay == "prod":
        cidrs = {
            peer["ipBlock"]["cidr"]
            for policy in of_kind(overlay, "NetworkPolicy")
            for rule in policy["spec"].get("egress", [])
            for peer in rule.get("to", [])
            if "ipBlock" in peer
        }
        assert "0.0.0.0/0" not in cidrs, "production names its database and identity provider"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_namespaces_enforce_the_restricted_pod_security_standard(overlay: str) -> None:
    (namespace,) = of_kind(overlay, "Namespace")
    labels = namespace["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("role", ["api", "worker"])
def test_replicas_spread_over_nodes_and_zones(overlay: str, role: str) -> None:
    for service in SERVICE_NAMES:
        deployment = named(overlay, "Deployment", f"linli-{service}-{role}")
        constraints = {
            c["topologyKey"]: c for c in pod_spec(deployment)["topologySpreadConstraints"]
        }
        assert set(constraints) == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
        for constraint in constraints.values():
            assert (
                constraint["labelSelector"]["matchLabels"]
                == (deployment["spec"]["selector"]["matchLabels"])
            )
        hard = overlay == "prod" and role == "api"
        assert (constraints["kubernetes.io/hostname"]["whenUnsatisfiable"] == "DoNotSchedule") == (
            hard
        ), "production APIs never share a node while another node can take them"
