"""Every API and worker pod migrates its database before it starts: an init container runs
`linli migrate <service>` (idempotent, under a PostgreSQL advisory lock, so pods starting together
migrate one after the other), and nothing immutable stands in the way of the next release.
"""

from __future__ import annotations

import pytest

from tests.deploy.manifests import OVERLAYS, SERVICE_NAMES, named, of_kind, pod_spec


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_every_pod_migrates_its_database_before_it_starts(overlay: str, service: str) -> None:
    for role in ("api", "worker"):
        spec = pod_spec(named(overlay, "Deployment", f"linli-{service}-{role}"))
        (init,) = spec["initContainers"]
        main = spec["containers"][0]
        assert init["args"] == ["migrate", service]
        assert init["image"] == main["image"]
        database = f"LINLI_{service.upper()}_DATABASE_URL"
        assert {"name": database, "valueFrom": {"secretKeyRef": {
            "name": f"linli-{service}-secret", "key": database}}} in init["env"]  # fmt: skip
    assert of_kind(overlay, "Job") == [], "nothing immutable to delete before an upgrade"
