"""The prerequisites the installation guide shows (deploy/k8s/examples) are valid for the pinned
Strimzi and Gateway API releases, and are what the production overlay expects."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest
import yaml

from tests.deploy import upstream
from tests.deploy.manifests import K8S, config_maps, of_kind

EXAMPLES = K8S / "examples"
PARAMS = K8S / "overlays" / "prod" / "params.yaml"


@cache
def example(name: str) -> dict[str, dict[str, Any]]:
    text = (EXAMPLES / f"{name}.yaml").read_text(encoding="utf-8")
    return {doc["kind"]: doc for doc in yaml.safe_load_all(text) if doc}


def params() -> dict[str, str]:
    data: dict[str, str] = yaml.safe_load(PARAMS.read_text(encoding="utf-8"))["data"]
    return data


@pytest.mark.parametrize("name", ["kafka", "gateway", "operator-pod"])
def test_the_examples_validate_strictly(name: str) -> None:
    text = (EXAMPLES / f"{name}.yaml").read_text(encoding="utf-8")
    assert upstream.validate(text, upstream.KUBERNETES_VERSIONS[-1]) == []


def test_the_kafka_example_is_what_the_production_workers_log_in_to() -> None:
    kafka = example("kafka")["Kafka"]
    (namespace,) = of_kind("prod", "Namespace")
    linli = namespace["metadata"]["name"]
    bootstrap = config_maps("prod")["linli-platform"]["LINLI_KAFKA_BOOTSTRAP_SERVERS"]
    host, port = bootstrap.rsplit(":", 1)
    assert (
        host == f"{kafka['metadata']['name']}-kafka-bootstrap.{kafka['metadata']['namespace']}.svc"
    )
    listener = next(
        item for item in kafka["spec"]["kafka"]["listeners"] if item["port"] == int(port)
    )
    assert listener["tls"] is True
    assert listener["authentication"] == {"type": "scram-sha-512"}
    assert kafka["spec"]["kafka"]["authorization"] == {"type": "simple"}
    operators = kafka["spec"]["entityOperator"]
    assert operators["topicOperator"]["watchedNamespace"] == linli
    assert operators["userOperator"]["watchedNamespace"] == linli
    for user in of_kind("prod", "KafkaUser"):
        assert user["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]


def test_the_gateway_example_admits_the_routes_of_the_production_overlay() -> None:
    gateway = example("gateway")["Gateway"]
    (namespace,) = of_kind("prod", "Namespace")
    assert gateway["metadata"]["name"] == params()["gatewayName"]
    assert gateway["metadata"]["namespace"] == params()["gatewayNamespace"]
    (listener,) = gateway["spec"]["listeners"]
    assert listener["hostname"] == params()["hostname"]
    admitted = listener["allowedRoutes"]["namespaces"]["selector"]["matchLabels"]
    assert admitted == {"kubernetes.io/metadata.name": namespace["metadata"]["name"]}
    for route in of_kind("prod", "HTTPRoute"):
        (parent,) = route["spec"]["parentRefs"]
        assert (parent["name"], parent["namespace"]) == (
            gateway["metadata"]["name"],
            gateway["metadata"]["namespace"],
        )
        assert route["spec"]["hostnames"] == [listener["hostname"]]


def test_the_operator_pod_logs_in_as_the_operator_and_is_allowed_out() -> None:
    pod = example("operator-pod")["Pod"]
    (container,) = pod["spec"]["containers"]
    env = {entry["name"]: entry for entry in container["env"]}
    workers = config_maps("prod")["linli-platform"]
    for name in ("LINLI_KAFKA_BOOTSTRAP_SERVERS", "LINLI_KAFKA_SECURITY_PROTOCOL",
                 "LINLI_KAFKA_SASL_MECHANISM", "LINLI_KAFKA_SSL_CAFILE"):  # fmt: skip
        assert env[name]["value"] == workers[name], name
    user = env["LINLI_KAFKA_SASL_USERNAME"]["value"]
    assert [u for u in of_kind("prod", "KafkaUser") if u["metadata"]["name"] == user]
    assert env["LINLI_KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == user
    policy = next(
        p for p in of_kind("prod", "NetworkPolicy") if p["metadata"]["name"] == "linli-operator"
    )
    selector = policy["spec"]["podSelector"]["matchLabels"]
    assert selector.items() <= pod["metadata"]["labels"].items()
