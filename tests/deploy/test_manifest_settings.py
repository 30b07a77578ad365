"""Every setting the code reads is present in the Kubernetes manifests, secrets as references.

The list comes from the pydantic settings classes (tests/deploy/settings_env.py), so a setting
added to the code fails here, by name, until the manifests carry it.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.deploy.manifests import (
    OVERLAYS,
    SERVICE_NAMES,
    config_maps,
    container_env,
    containers,
    named,
)
from tests.deploy.settings_env import Setting, platform_settings, workload_settings

# The services and the staff console (deploy/k8s/base/console.yaml).
WORKLOADS = (*SERVICE_NAMES, "console")

# Read by the code, but meaningless on Kubernetes: the manifests set LINLI_TRANSPORT=kafka.
NOT_ON_KUBERNETES = {
    "LINLI_EMBEDDED_LOG_PATH": "the embedded transport (single-process `linli run`) only",
    "LINLI_EMBEDDED_TOPIC_PARTITIONS": "the embedded transport only",
    "LINLI_EMBEDDED_POLL_INTERVAL_SECONDS": "the embedded transport only",
}


# Read by the code, but not in production: set there, it would be unused.
NOT_IN_PRODUCTION = {
    "LINLI_AUTH_DEV_SECRET": "production refuses development tokens (linli_shared/auth.py)",
}
# Platform settings the console reads with the rest but has no use for: it serves files and
# config.json, and mints dev tokens outside production (the issuer, audience, claims and dev key
# it needs come from linli-platform, as the APIs get them).
CONSOLE_DOES_NOT_USE = {
    "LINLI_KAFKA_SASL_USERNAME": "no Kafka",
    "LINLI_KAFKA_SASL_PASSWORD": "no Kafka",
    "LINLI_AUTH_JWKS_URL": "it checks no token: the APIs do",
    "LINLI_ROOT_PATH": "`linli console` serves at its root; its page uses relative URLs",
    "LINLI_METRICS_PORT": "a worker's metrics port",
}
# Read by the code only to refuse them: replaced by the retention policies (docs/privacy.md).
REPLACED = {
    "LINLI_OUTBOX_RETENTION_DAYS": "the retention policy's `outbox` period",
    "LINLI_INBOX_RETENTION_DAYS": "the retention policy's `inbox` period",
}
# Optional to the code, required by the production manifests.
REQUIRED_IN_PRODUCTION = {
    "LINLI_KAFKA_SASL_PASSWORD": (
        "each worker, and each API that measures consumer lag, logs in to Kafka as its own"
        " KafkaUser (SASL_SSL)"
    ),
}


def needed(service: str, overlay: str = "dev") -> list[Setting]:
    skipped = NOT_ON_KUBERNETES | REPLACED | (NOT_IN_PRODUCTION if overlay == "prod" else {})
    if service == "console":
        skipped = skipped | CONSOLE_DOES_NOT_USE
    return [s for s in workload_settings()[service] if s.env not in skipped]


def pods(overlay: str, service: str) -> list[tuple[str, dict[str, dict[str, Any]]]]:
    """(where, environment) of every container of a service's API and worker, init ones too;
    of the console's one container."""
    if service == "console":
        console = named(overlay, "Deployment", "linli-console")
        return [
            (f"console/{c['name']}", container_env(overlay, console, c))
            for c in containers(console)
        ]
    found = []
    for role in ("api", "worker"):
        deployment = named(overlay, "Deployment", f"linli-{service}-{role}")
        for container in containers(deployment):
            found.append((f"{service}-{role}/{container['name']}", deployment, container))
    return [(where, container_env(overlay, d, c)) for where, d, c in found]


def test_exemptions_are_real_settings() -> None:
    known = {s.env for s in platform_settings()}
    exempt = (
        NOT_ON_KUBERNETES
        | NOT_IN_PRODUCTION
        | REQUIRED_IN_PRODUCTION
        | CONSOLE_DOES_NOT_USE
        | REPLACED
    )
    assert set(exempt) <= known


@pytest.mark.parametrize("service", WORKLOADS)
def test_production_pods_get_no_development_key(service: str) -> None:
    for where, env in pods("prod", service):
        assert sorted(set(env) & set(NOT_IN_PRODUCTION)) == [], where


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_setting_is_present(overlay: str) -> None:
    missing: dict[str, list[str]] = {}
    for service in WORKLOADS:
        present: set[str] = set()
        for _, env in pods(overlay, service):
            present |= set(env)
        lacking = sorted(s.env for s in needed(service, overlay) if s.env not in present)
        if lacking:
            missing[service] = lacking
    assert missing == {}, (
        "settings the code reads but the manifests lack (non-secret: a literal in "
        "deploy/k8s/base/kustomization.yaml, or an optional configMapKeyRef if unset by default; "
        "secret: a secretKeyRef in deploy/k8s/base/<service>.yaml)"
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", WORKLOADS)
def test_secrets_are_references_and_values_are_set(overlay: str, service: str) -> None:
    settings = {s.env: s for s in needed(service, overlay)}
    for where, env in pods(overlay, service):
        for name, entry in env.items():
            setting = settings.get(name)
            if setting is None:
                continue
            where_setting = f"{where}: {name}"
            if setting.secret:
                reference = entry.get("valueFrom", {}).get("secretKeyRef")
                assert reference, f"{where_setting} is secret: a secretKeyRef, never a value"
                optional = reference.get("optional", False)
                if overlay == "prod" and name in REQUIRED_IN_PRODUCTION:
                    assert not optional, f"{where_setting}: {REQUIRED_IN_PRODUCTION[name]}"
                elif setting.optional:
                    assert optional, f"{where_setting}: unset by default, the pod starts without"
                if setting.required:
                    assert not optional, f"{where_setting}: the code needs a value"
            else:
                # A value, or a reference to a ConfigMap key that may be absent (the default).
                reference = entry.get("valueFrom", {}).get("configMapKeyRef")
                assert reference or "value" in entry, where_setting
                if reference:
                    assert reference["optional"] is True, f"{where_setting}: unset is the default"
        if service != "console":
            database = f"LINLI_{service.upper()}_DATABASE_URL"
            assert database in env, f"{where} needs its database"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_config_maps_hold_no_secret_and_no_unknown_name(overlay: str) -> None:
    every = {s.env: s for settings in workload_settings().values() for s in settings}
    for name, data in config_maps(overlay).items():
        for key in data:
            assert key in every, f"ConfigMap {name}: {key} is read by no settings class (typo?)"
            assert not every[key].secret, f"ConfigMap {name}: {key} is secret"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_get_no_unknown_setting(overlay: str) -> None:
    for service in WORKLOADS:
        known = {s.env for s in workload_settings()[service]}
        for where, env in pods(overlay, service):
            unknown = sorted(n for n in env if n.startswith("LINLI_") and n not in known)
            assert unknown == [], f"{where}: read by no settings class"
