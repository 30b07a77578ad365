"""The upgrade procedure of docs/operations.md, as far as manifests show it: release N and N+1
(a new image, a changed setting) built and compared the way `kubectl apply -k` would apply one
over the other. Nothing immutable changes, so no object needs deleting first; every pod rolls, so
every pod's init container migrates its database to the new release's head.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.manifests import K8S, kustomize, pod_spec

# Fields the API server refuses to change on an existing object ("field is immutable").
IMMUTABLE = {
    "Deployment": [("spec", "selector")],
    "StatefulSet": [("spec", "selector"), ("spec", "serviceName")],
    "DaemonSet": [("spec", "selector")],
    "Job": [("spec", "template"), ("spec", "selector")],
    "Service": [("spec", "clusterIP"), ("spec", "type")],
    "PersistentVolumeClaim": [("spec", "storageClassName"), ("spec", "accessModes")],
}
Objects = dict[tuple[str, str, str], dict[str, Any]]


def release(root: Path, overlay: str) -> Objects:
    built = yaml.safe_load_all(kustomize(root / "overlays" / overlay))
    return {
        (doc["kind"], doc["metadata"].get("namespace", ""), doc["metadata"]["name"]): doc
        for doc in built
        if doc
    }


def _field(resource: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        resource = resource.get(key, {}) if isinstance(resource, dict) else {}
    return resource


def immutable_changes(before: Objects, after: Objects) -> list[str]:
    changes = []
    for key, new in after.items():
        old = before.get(key)
        if old is None:
            continue
        for path in IMMUTABLE.get(key[0], []):
            if _field(old, path) != _field(new, path):
                changes.append(f"{key[0]}/{key[2]}: {'.'.join(path)}")
    return changes


@pytest.fixture
def next_release(tmp_path: Path) -> Path:
    """A copy of deploy/k8s as release N+1: the image tag and one setting changed."""
    root = tmp_path / "k8s"
    shutil.copytree(K8S, root)
    prod = root / "overlays" / "prod" / "kustomization.yaml"
    # Step 1 of the procedure: the overlay's `images` entry names the new tag.
    text, count = re.subn(r'newTag: "0\.1\.0"', 'newTag: "0.2.0"', prod.read_text())
    assert count == 1
    prod.write_text(text)
    base = root / "base" / "kustomization.yaml"
    text, count = re.subn("LINLI_LOG_LEVEL=INFO", "LINLI_LOG_LEVEL=WARNING", base.read_text())
    assert count == 1
    base.write_text(text)
    return root


@pytest.mark.parametrize("direction", ["upgrade", "rollback"])
def test_applying_the_next_release_over_this_one_changes_nothing_immutable(
    next_release: Path, direction: str
) -> None:
    current, following = release(K8S, "prod"), release(next_release, "prod")
    before, after = (current, following) if direction == "upgrade" else (following, current)
    assert immutable_changes(before, after) == []
    assert [key for key in after if key[0] == "Job"] == [], "a Job's template never changes"


def test_every_pod_of_the_next_release_rolls_and_migrates_first(next_release: Path) -> None:
    current, following = release(K8S, "prod"), release(next_release, "prod")
    deployments = [key for key in following if key[0] == "Deployment"]
    assert len(deployments) == 9, "four APIs, four workers, the console"
    for key in deployments:
        old, new = pod_spec(current[key]), pod_spec(following[key])
        assert old != new, f"{key[2]}: its pods must roll"
        assert new["containers"][0]["image"].endswith(":0.2.0"), "the new release's image"
        if key[2] == "linli-console":
            assert "initContainers" not in new, "the console has no database to migrate"
            continue
        (migrate,) = new["initContainers"]
        assert migrate["args"][0] == "migrate"
        assert migrate["image"] == new["containers"][0]["image"]
        assert migrate["image"].endswith(":0.2.0"), "the new release's migrations"


def test_a_changed_setting_alone_rolls_the_pods_that_read_it(tmp_path: Path) -> None:
    root = tmp_path / "k8s"
    shutil.copytree(K8S, root)
    notify = root / "base" / "kustomization.yaml"
    notify.write_text(
        notify.read_text().replace("LINLI_NOTIFY_DISPATCH_LANES=4", "LINLI_NOTIFY_DISPATCH_LANES=8")
    )
    current, changed = release(K8S, "prod"), release(root, "prod")
    assert immutable_changes(current, changed) == []
    rolled = {key[2] for key in changed if key[0] == "Deployment" and current[key] != changed[key]}
    assert rolled == {"linli-notify-api", "linli-notify-worker"}
