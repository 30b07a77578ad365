"""kube-score's reliability and security checks pass on both overlays, with the few it makes that
this deployment answers differently listed here with the reason."""

from __future__ import annotations

import copy
import subprocess

import pytest
import yaml

from tests.deploy import upstream
from tests.deploy.manifests import OVERLAYS, build_yaml, named

IGNORED = {
    "deployment-has-host-podantiaffinity": (
        "topologySpreadConstraints spread the replicas over nodes and zones instead (a hard "
        "rule for production APIs); anti-affinity would also block a rollout's surge pod"
    ),
    "container-image-pull-policy": (
        "the production image is pinned by digest, so a cached image is the same image"
    ),
    "container-ephemeral-storage-request-and-limit": (
        "the root filesystem is read-only; the one writable place, /tmp, is an emptyDir with a "
        "sizeLimit the kubelet enforces"
    ),
}
IGNORED_IN_DEVELOPMENT = {
    "horizontalpodautoscaler-replicas": "a development cluster runs one pod per API",
}
# Optional checks turned on: they hold here and should keep holding.
ENABLED = ("container-seccomp-profile", "container-ports-check")


def kube_score(manifests: str, overlay: str) -> list[str]:
    ignored = IGNORED | (IGNORED_IN_DEVELOPMENT if overlay == "dev" else {})
    command = [
        str(upstream.kube_score()),
        "score",
        "--output-format", "ci",
        # No CPU limit on purpose: a limit throttles a busy pod; requests size the scheduling.
        "--ignore-container-cpu-limit",
        "--ignore-test", ",".join(sorted(ignored)),
        *(f"--enable-optional-test={test}" for test in ENABLED),
        "-",
    ]  # fmt: skip
    result = subprocess.run(
        command, input=manifests, capture_output=True, text=True, timeout=120, check=False
    )
    findings = [
        line for line in result.stdout.splitlines() if line.startswith(("[WARNING]", "[CRITICAL]"))
    ]
    if result.returncode != 0 and not findings:
        findings.append(f"kube-score exited {result.returncode}: {result.stderr}")
    return findings


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kube_score_finds_nothing(overlay: str) -> None:
    assert kube_score(build_yaml(overlay), overlay) == []


def test_kube_score_finds_a_writable_root_filesystem() -> None:
    deployment = copy.deepcopy(named("prod", "Deployment", "linli-credit-worker"))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["securityContext"]["readOnlyRootFilesystem"] = False
    findings = kube_score(yaml.safe_dump(deployment), "prod")
    assert any("writable root filesystem" in finding for finding in findings), findings
