"""What a cluster would do with the manifests: every dependency a pod's readiness probe checks is
reachable under the NetworkPolicies, and the gateway reaches every API it routes to.

A pod's readiness checks come from the code (the checks its `/readyz` runs); where each one
leads comes from the manifests (the database's port, the Kafka bootstrap address the pod is
given). A NetworkPolicy allows what the union of the policies selecting the pod allows; with the
default deny in place, nothing else.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from linli.console import console_app
from linli.services import SERVICES
from linli_shared.crypto import generate_key
from tests.deploy.manifests import (
    OVERLAYS,
    config_maps,
    container_env,
    containers,
    measures_consumer_lag,
    named,
    of_kind,
    pod_spec,
)

# Where each readiness check of the code goes. A new check fails here until it is mapped.
DATABASE, KAFKA = "database", "kafka"
CHECK_TARGETS = {"database": DATABASE, "schema": DATABASE, "broker": KAFKA, "consumers": KAFKA}
POSTGRESQL_PORT = 5432


# A peer in the pod's own namespace (a rule with a podSelector and no namespaceSelector).
SAME_NAMESPACE = "(the same namespace)"


@dataclass(frozen=True)
class Peer:
    """A destination as a NetworkPolicy sees it: a namespace (None: outside the cluster)."""

    port: int
    namespace: str | None
    labels: frozenset[tuple[str, str]] = frozenset()


def readiness_checks(service: str, role: str) -> set[str]:
    definition = SERVICES[service]
    if role == "api":
        checks = definition.create_app().state.readiness_checks
    else:
        checks = definition.create_worker().readiness_checks()
    return set(checks)


def destinations(overlay: str, workload: dict[str, Any], checks: set[str]) -> set[Peer]:
    unknown = checks - set(CHECK_TARGETS)
    assert not unknown, f"map these readiness checks to what they reach: {unknown}"
    env = container_env(overlay, workload)
    peers: set[Peer] = set()
    for target in {CHECK_TARGETS[check] for check in checks}:
        if target == DATABASE:
            peers.add(Peer(POSTGRESQL_PORT, None))
        else:
            for server in env["LINLI_KAFKA_BOOTSTRAP_SERVERS"]["value"].split(","):
                host, port = server.rsplit(":", 1)
                # <service>.<namespace>.svc: Strimzi's bootstrap Service, over its brokers' pods.
                namespace = host.split(".")[1]
                peers.add(Peer(int(port), namespace, frozenset({("strimzi.io/cluster", "linli")})))
    return peers


def _matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert "matchExpressions" not in selector, "not modelled here"
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def _policies(overlay: str, labels: dict[str, str], direction: str) -> list[dict[str, Any]]:
    return [
        policy
        for policy in of_kind(overlay, "NetworkPolicy")
        if direction in policy["spec"].get("policyTypes", [])
        and _matches(policy["spec"]["podSelector"], labels)
    ]


def _port_allowed(rule: dict[str, Any], port: int) -> bool:
    ports = rule.get("ports")
    return not ports or any(
        p.get("port") == port and p.get("protocol", "TCP") == "TCP" for p in ports
    )


def egress_allows(overlay: str, labels: dict[str, str], peer: Peer) -> bool:
    for policy in _policies(overlay, labels, "Egress"):
        for rule in policy["spec"].get("egress", []):
            if not _port_allowed(rule, peer.port):
                continue
            for to in rule.get("to") or [{}]:
                if not to:
                    return True
                if "ipBlock" in to:
                    if peer.namespace is None:
                        return True
                    continue
                namespace = to.get("namespaceSelector")
                if namespace is None and peer.namespace == SAME_NAMESPACE:
                    if _matches(to.get("podSelector", {}), dict(peer.labels)):
                        return True
                    continue
                if namespace is None or peer.namespace is None:
                    continue
                if _matches(namespace, {"kubernetes.io/metadata.name": peer.namespace}) and (
                    "podSelector" not in to or _matches(to["podSelector"], dict(peer.labels))
                ):
                    return True
    return False


def ingress_allows(overlay: str, labels: dict[str, str], port: int, namespace: str) -> bool:
    for policy in _policies(overlay, labels, "Ingress"):
        for rule in policy["spec"].get("ingress", []):
            if not _port_allowed(rule, port):
                continue
            for source in rule.get("from") or [{}]:
                selector = source.get("namespaceSelector")
                if not source or (
                    selector is not None
                    and "podSelector" not in source
                    and _matches(selector, {"kubernetes.io/metadata.name": namespace})
                ):
                    return True
    return False


def ingress_from_pods_allows(
    overlay: str, labels: dict[str, str], port: int, source: dict[str, str]
) -> bool:
    """Whether pods labelled `source`, in the same namespace, may reach the pods on `port`."""
    for policy in _policies(overlay, labels, "Ingress"):
        for rule in policy["spec"].get("ingress", []):
            if not _port_allowed(rule, port):
                continue
            for peer in rule.get("from") or [{}]:
                if not peer:
                    return True
                if "namespaceSelector" not in peer and _matches(
                    peer.get("podSelector", {}), source
                ):
                    return True
    return False


def _pod_labels(workload: dict[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
    return labels


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("role", ["api", "worker"])
@pytest.mark.parametrize("service", sorted(SERVICES))
def test_what_a_readiness_probe_checks_is_reachable(overlay: str, role: str, service: str) -> None:
    deployment = named(overlay, "Deployment", f"linli-{service}-{role}")
    labels = _pod_labels(deployment)
    container = pod_spec(deployment)["containers"][0]
    probe = container["readinessProbe"]["httpGet"]
    assert probe["path"] == "/readyz"
    assert probe["port"] in {p["name"] for p in container["ports"]}, "probes a declared port"
    checks = readiness_checks(service, role)
    unreachable = {
        peer for peer in destinations(overlay, deployment, checks) if not egress_allows(
            overlay, labels, peer)
    }  # fmt: skip
    assert unreachable == set(), f"{service}-{role} checks {sorted(checks)}: blocked egress"
    dns = Peer(53, "kube-system", frozenset({("k8s-app", "kube-dns")}))
    assert egress_allows(overlay, labels, dns), "names resolve"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_workers_and_the_apis_that_measure_consumer_lag_reach_kafka(overlay: str) -> None:
    """The workers consume and publish; an API whose service has consumer groups measures their
    lag (its backlog probe, at the address it is given); no other pod reaches Kafka."""
    for deployment in of_kind(overlay, "Deployment"):
        (kafka,) = destinations(overlay, deployment, {"broker"})
        role = deployment["metadata"]["labels"]["app.kubernetes.io/component"]
        service = deployment["metadata"]["labels"]["app.kubernetes.io/name"]
        expected = role == "worker" or (role == "api" and measures_consumer_lag(service))
        reaches = egress_allows(overlay, _pod_labels(deployment), kafka)
        assert reaches == expected, deployment["metadata"]["name"]


# The pods that read subject keys from the registry's API, and the setting of their token.
KEY_READERS = {
    "linli-notify-worker": "LINLI_NOTIFY",  # opens what the registry sealed, and notes
    "linli-inspections-api": "LINLI_INSPECTIONS",  # seals inspectors' notes
}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_key_readers_alone_reach_the_registrys_api_for_subject_keys(overlay: str) -> None:
    """Notify's worker and inspections' API, at the URL each is given, through the registry API's
    Service: both policies open; no other pod of the namespace reaches the registry's API, and
    each token is held by its own pod alone."""
    api = named(overlay, "Deployment", "linli-registry-api")
    api_labels = _pod_labels(api)
    readers = {}
    for name, prefix in KEY_READERS.items():
        reader = named(overlay, "Deployment", name)
        env = container_env(overlay, reader)
        assert env[f"{prefix}_REGISTRY_TOKEN"]["valueFrom"]["secretKeyRef"]
        url = httpx.URL(_resolved(overlay, env)[f"{prefix}_REGISTRY_URL"])
        service = named(overlay, "Service", url.host)
        (port,) = [p for p in service["spec"]["ports"] if p["port"] == (url.port or 80)]
        assert _matches({"matchLabels": service["spec"]["selector"]}, api_labels)
        container = pod_spec(api)["containers"][0]
        (target,) = [
            p["containerPort"] for p in container["ports"] if p["name"] == port["targetPort"]
        ]
        registry = Peer(target, SAME_NAMESPACE, frozenset(api_labels.items()))
        assert egress_allows(overlay, _pod_labels(reader), registry), name
        assert ingress_from_pods_allows(overlay, api_labels, target, _pod_labels(reader)), name
        readers[name] = (registry, target)

    for other in of_kind(overlay, "Deployment"):
        labels = _pod_labels(other)
        for registry, target in readers.values():
            if other["metadata"]["name"] in KEY_READERS:
                continue
            assert not ingress_from_pods_allows(overlay, api_labels, target, labels), other
            assert not egress_allows(overlay, labels, registry), other["metadata"]["name"]
        for name, prefix in KEY_READERS.items():
            if other["metadata"]["name"] == name:
                continue
            for each in containers(other):
                env = container_env(overlay, other, each)
                assert f"{prefix}_REGISTRY_TOKEN" not in env, (other["metadata"]["name"], name)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_gateway_reaches_every_api_it_routes_to(overlay: str) -> None:
    proxies = named(overlay, "NetworkPolicy", "linli-registry-api")["spec"]["ingress"][0]["from"][0]
    proxy_namespace = proxies["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
    for route in of_kind(overlay, "HTTPRoute"):
        for rule in route["spec"]["rules"]:
            for backend in rule["backendRefs"]:
                service = named(overlay, "Service", backend["name"])
                (port,) = [p for p in service["spec"]["ports"] if p["port"] == backend["port"]]
                pods = [
                    d
                    for d in of_kind(overlay, "Deployment")
                    if _matches({"matchLabels": service["spec"]["selector"]}, _pod_labels(d))
                ]
                assert len(pods) == 1, backend["name"]
                (container,) = pod_spec(pods[0])["containers"]
                (target,) = [p for p in container["ports"] if p["name"] == port["targetPort"]]
                assert ingress_allows(
                    overlay, _pod_labels(pods[0]), target["containerPort"], proxy_namespace
                ), f"{backend['name']}: the gateway's proxies may not reach it"


def test_a_readiness_check_through_a_closed_port_is_found() -> None:
    """The check above sees a block: a pod without a route to Kafka (the console's: it serves
    files) whose readiness asked the brokers the APIs ask would fail it."""
    api = named("prod", "Deployment", "linli-registry-api")
    (kafka,) = destinations("prod", api, {"broker"})
    assert egress_allows("prod", _pod_labels(api), kafka)
    console = named("prod", "Deployment", "linli-console")
    assert not egress_allows("prod", _pod_labels(console), kafka)


def _resolved(overlay: str, env: dict[str, dict[str, Any]]) -> dict[str, str]:
    """The values a pod's environment gets from ConfigMaps (absent optional keys stay unset;
    Secrets are not modelled: the optional ones are absent)."""
    maps = config_maps(overlay)
    values: dict[str, str] = {}
    for name, entry in env.items():
        reference = entry.get("valueFrom", {}).get("configMapKeyRef")
        if "value" in entry:
            values[name] = entry["value"]
        elif reference and reference["key"] in maps[reference["name"].rsplit("-", 1)[0]]:
            values[name] = maps[reference["name"].rsplit("-", 1)[0]][reference["key"]]
    return values


@pytest.mark.parametrize("overlay", OVERLAYS)
async def test_the_console_answers_its_probes_with_the_sign_in_of_its_overlay(
    overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The console as its Deployment configures it: each probe's path answers, and its config
    offers the dev sign-in only in development, the identity provider's in production."""
    deployment = named(overlay, "Deployment", "linli-console")
    for name, value in _resolved(overlay, container_env(overlay, deployment)).items():
        monkeypatch.setenv(name, value)
    (container,) = pod_spec(deployment)["containers"]
    transport = httpx.ASGITransport(app=console_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://console") as client:
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            check = container[probe]["httpGet"]
            assert check["port"] in {p["name"] for p in container["ports"]}, "a declared port"
            answer = await client.get(check["path"])
            assert answer.status_code == 200, f"{probe} {check['path']}"
        config = (await client.get("/config.json")).json()
    assert config["dev_sign_in"] is (overlay == "dev")
    assert (config["oidc"] is not None) is (overlay == "prod"), "production signs in with OIDC"
    assert config["apis"] == {s: f"/{s}" for s in ("registry", "inspections", "credit", "notify")}


def _secret_value(variable: str) -> str:
    """What an operator's Secret would hold for the variable (docs: deploy/k8s/README.md)."""
    if variable.endswith("DATABASE_URL"):
        return "postgresql://linli:secret@db.example.org:5432/linli"
    if variable.endswith("_KEYS"):
        return generate_key()
    return "a-secret-of-this-installation"


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("role", ["api", "worker"])
@pytest.mark.parametrize("service", sorted(SERVICES))
def test_each_pod_loads_its_settings_from_what_the_manifests_give_it(
    overlay: str, role: str, service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pod starts only if its settings load: with the ConfigMaps of its overlay and the
    Secrets it references (required ones filled as an operator would), and nothing else — so a
    setting production refuses (a development key) or requires is caught here, not in a cluster."""
    for variable in [v for v in os.environ if v.startswith("LINLI_")]:
        monkeypatch.delenv(variable)
    deployment = named(overlay, "Deployment", f"linli-{service}-{role}")
    env = container_env(overlay, deployment)
    for name, value in _resolved(overlay, env).items():
        monkeypatch.setenv(name, value)
    for name, entry in env.items():
        secret = entry.get("valueFrom", {}).get("secretKeyRef")
        if secret and not secret.get("optional", False):
            monkeypatch.setenv(name, _secret_value(name))
    SERVICES[service].settings()
