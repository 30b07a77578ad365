"""Production refuses to start with a secret whose value is in this repository.

Every setting whose default is a development key or secret carries the `DEV_DEFAULT` marker
(linli_shared.settings); with LINLI_ENVIRONMENT=prod each service's settings refuse any marked
setting still holding its development value, naming it. A secret setting with a built-in
default that is not marked fails here, so a new one cannot be forgotten.
"""

from __future__ import annotations

import subprocess
import sys

import jwt
import pytest
from fastapi import HTTPException
from pydantic import SecretStr, ValidationError
from pydantic_settings import BaseSettings

from linli.services import SERVICES
from linli_notify.settings import DEV_WEBHOOK_ENCRYPTION_KEY
from linli_registry.settings import DEV_ENCRYPTION_KEY
from linli_shared.auth import DevKeyRefused, TokenVerifier, mint_dev_token
from linli_shared.crypto import generate_key
from linli_shared.settings import DevDefault, PlatformSettings, dev_defaults_in_use

# Every development secret in the repository, by the variable that replaces it in production.
DEV_SECRETS = {
    "LINLI_REGISTRY_ENCRYPTION_KEYS",
    "LINLI_REGISTRY_BLIND_INDEX_KEY",
    "LINLI_NOTIFY_WEBHOOK_ENCRYPTION_KEYS",
    "LINLI_NOTIFY_CONTACT_KEYS",
    *(f"LINLI_{service.upper()}_AUDIT_HASH_KEY" for service in SERVICES),
}


def _classes() -> list[type[BaseSettings]]:
    classes: list[type[BaseSettings]] = [PlatformSettings]
    for definition in SERVICES.values():
        assert isinstance(definition.settings, type)
        classes.append(definition.settings)
    return classes


def _marked(cls: type[BaseSettings]) -> dict[str, str]:
    prefix = str(cls.model_config.get("env_prefix", ""))
    return {
        f"{prefix}{name}".upper(): name
        for name, field in cls.model_fields.items()
        if any(isinstance(m, DevDefault) for m in field.metadata)
    }


def _own_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """Production with a value of its own for every development secret."""
    monkeypatch.setenv("LINLI_ENVIRONMENT", "prod")
    monkeypatch.setenv("LINLI_AUTH_JWKS_URL", "https://id.city.example/jwks")
    monkeypatch.setenv("LINLI_REGISTRY_ENCRYPTION_KEYS", generate_key())
    monkeypatch.setenv("LINLI_REGISTRY_BLIND_INDEX_KEY", "another-random-value")
    monkeypatch.setenv("LINLI_NOTIFY_WEBHOOK_ENCRYPTION_KEYS", generate_key())
    monkeypatch.setenv("LINLI_NOTIFY_CONTACT_KEYS", generate_key())
    for service in SERVICES:
        monkeypatch.setenv(f"LINLI_{service.upper()}_AUDIT_HASH_KEY", f"{service}-audit-hash-key")


def test_every_development_secret_is_marked() -> None:
    marked = {env for cls in _classes() for env in _marked(cls)}
    assert marked == DEV_SECRETS
    for cls in _classes():
        for name, field in cls.model_fields.items():
            default = field.get_default(call_default_factory=True)
            if isinstance(default, SecretStr) and default.get_secret_value():
                if (cls, name) == (PlatformSettings, "auth_dev_secret"):
                    continue  # see the next test: production never uses it
                assert any(isinstance(m, DevDefault) for m in field.metadata), (cls, name)


async def test_production_needs_no_development_signing_key_and_refuses_its_tokens(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The manifests give production no LINLI_AUTH_DEV_SECRET: the services start, and a token
    signed with the repository's key is refused, as is minting one."""
    _own_values(monkeypatch)
    monkeypatch.delenv("LINLI_AUTH_DEV_SECRET", raising=False)
    settings = PlatformSettings()
    with pytest.raises(DevKeyRefused):
        mint_dev_token(settings, "someone", ["admin"])
    claims = {
        "sub": "someone",
        "roles": ["admin"],
        "iss": settings.auth_issuer,
        "aud": settings.auth_audience,
        "iat": 0,
        "exp": 4102444800,
    }
    forged = jwt.encode(claims, settings.auth_dev_secret.get_secret_value(), algorithm="HS256")
    with pytest.raises(HTTPException) as refused:
        await TokenVerifier(settings).verify(forged)
    assert refused.value.status_code == 401


def test_production_starts_with_secrets_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    _own_values(monkeypatch)
    for cls in _classes():
        assert dev_defaults_in_use(cls()) == []


@pytest.mark.parametrize("variable", sorted(DEV_SECRETS))
def test_production_refuses_each_development_secret_by_name(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    _own_values(monkeypatch)
    monkeypatch.delenv(variable)
    refused = 0
    for cls in _classes():
        if variable not in _marked(cls) and not (
            variable.startswith("LINLI_AUTH_") and cls is not PlatformSettings
        ):
            continue
        with pytest.raises(ValidationError) as error:
            cls()
        assert variable in str(error.value)
        assert "production refuses the repository's development value" in str(error.value)
        refused += 1
    assert refused >= 1
    monkeypatch.setenv("LINLI_ENVIRONMENT", "dev")  # development keeps its convenient defaults
    for cls in _classes():
        cls()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LINLI_REGISTRY_ENCRYPTION_KEYS", f"{{new}},{DEV_ENCRYPTION_KEY}"),
        ("LINLI_NOTIFY_WEBHOOK_ENCRYPTION_KEYS", f"{{new}}, {DEV_WEBHOOK_ENCRYPTION_KEY}"),
    ],
)
def test_a_development_key_kept_for_decryption_is_refused_too(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    _own_values(monkeypatch)
    monkeypatch.setenv(variable, value.format(new=generate_key()))
    [cls] = [c for c in _classes() if variable in _marked(c)]
    with pytest.raises(ValidationError, match=variable):
        cls()


@pytest.mark.servers  # starts a process of the stack
def test_a_service_refuses_to_start_in_production_with_the_repository_keys() -> None:
    started = subprocess.run(
        [sys.executable, "-m", "linli", "serve", "registry", "--port", "1"],
        env={
            "LINLI_ENVIRONMENT": "prod",
            "LINLI_AUTH_JWKS_URL": "https://id.city.example/jwks",
            "LINLI_AUTH_DEV_SECRET": "a-random-value-of-our-own",
            "PATH": "",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert started.returncode != 0
    assert "LINLI_REGISTRY_ENCRYPTION_KEYS" in started.stderr
    assert "LINLI_REGISTRY_BLIND_INDEX_KEY" in started.stderr
    assert "LINLI_REGISTRY_AUDIT_HASH_KEY" in started.stderr
