"""Bearer JWTs: verified against a JWKS served on 127.0.0.1, with key rotation; dev key rules."""

from __future__ import annotations

import logging
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from fastapi import HTTPException

from linli_shared.auth import DevKeyRefused, TokenVerifier, mint_dev_token
from linli_shared.logs import JsonFormatter
from linli_shared.messaging.kafka import KafkaTransport
from linli_shared.messaging.transports import make_transport
from linli_shared.settings import PlatformSettings
from tests.support.identity import Jwks


@pytest.fixture
def jwks() -> Iterator[Jwks]:
    provider = Jwks()
    provider.add_key("k1")
    yield provider
    provider.close()


# Production refuses the repository's dev secret outright (test_production_secrets.py); these
# tests show that it refuses dev-signed tokens even under a secret of its own.
PROD_DEV_SECRET = "an-operators-own-random-value"


def _settings(jwks: Jwks, environment: str = "prod") -> PlatformSettings:
    return PlatformSettings(
        environment=environment,
        auth_dev_secret=PROD_DEV_SECRET,
        auth_jwks_url=jwks.url,
        auth_issuer="https://idp.city.example",
        auth_audience="linli",
        auth_jwks_refresh_cooldown_seconds=0,
    )


async def test_a_token_from_the_identity_provider_is_verified_and_keys_rotate(jwks: Jwks) -> None:
    verifier = TokenVerifier(_settings(jwks))
    principal = await verifier.verify(jwks.token("k1"))
    assert principal.subject == "staff-1"
    assert principal.roles == frozenset({"community_staff"}), "unknown roles are dropped"
    assert principal.grids == frozenset({"g1"})

    jwks.add_key("k2")  # the provider rotates: a token names a key the cache has not seen
    fetched = jwks.fetches
    assert (await verifier.verify(jwks.token("k2"))).subject == "staff-1"
    assert jwks.fetches == fetched + 1, "an unknown key id refreshes the cached JWKS once"
    await verifier.verify(jwks.token("k1"))
    assert jwks.fetches == fetched + 1, "known keys come from the cache"


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"aud": "someone-else"}, "audience"),
        ({"iss": "https://evil.example"}, "issuer"),
        ({"exp": datetime.now(UTC) - timedelta(minutes=5)}, "expired"),
    ],
)
async def test_tokens_for_others_or_out_of_date_are_refused(
    jwks: Jwks, overrides: dict[str, Any], reason: str
) -> None:
    with pytest.raises(HTTPException) as refused:
        await TokenVerifier(_settings(jwks)).verify(jwks.token("k1", **overrides))
    assert refused.value.status_code == 401, reason


async def test_a_responsible_party_or_resident_signs_in_with_its_claim(jwks: Jwks) -> None:
    organisation, resident = uuid.uuid4(), uuid.uuid4()
    verifier = TokenVerifier(_settings(jwks))
    manager = await verifier.verify(
        jwks.token("k1", roles=["property_manager"], grids=[], organisation=str(organisation))
    )
    assert manager.roles == frozenset({"property_manager"})
    assert (manager.organisation_id, manager.resident_id) == (organisation, None)
    person = await verifier.verify(jwks.token("k1", roles=["resident"], resident=str(resident)))
    assert (person.organisation_id, person.resident_id) == (None, resident)


async def test_the_party_claims_are_where_the_settings_say(jwks: Jwks) -> None:
    organisation = uuid.uuid4()
    settings = _settings(jwks).model_copy(
        update={"auth_organisation_claim": "https://city.example/org"}
    )
    principal = await TokenVerifier(settings).verify(
        jwks.token("k1", roles=["shop"], **{"https://city.example/org": str(organisation)})
    )
    assert principal.organisation_id == organisation
    dev = mint_dev_token(
        _settings(jwks, "dev").model_copy(update={"auth_resident_claim": "person"}),
        "r",
        ["resident"],
        resident_id=organisation,
    )
    assert "person" in jwt.decode(dev, options={"verify_signature": False})


@pytest.mark.parametrize(
    "claims",
    [
        {"organisation": 5},
        {"organisation": "not-an-id"},
        {"organisation": [str(uuid.UUID(int=1))]},
        {"resident": {"id": str(uuid.UUID(int=1))}},
        {"resident": "x" * 500},
        {"resident": True},
    ],
)
async def test_a_party_claim_that_is_not_an_id_is_refused_not_a_server_error(
    jwks: Jwks, claims: dict[str, Any]
) -> None:
    with pytest.raises(HTTPException) as refused:
        await TokenVerifier(_settings(jwks)).verify(jwks.token("k1", **claims))
    assert refused.value.status_code == 401


async def test_clock_skew_within_the_leeway_is_tolerated(jwks: Jwks) -> None:
    just_expired = datetime.now(UTC) - timedelta(seconds=10)
    principal = await TokenVerifier(_settings(jwks)).verify(jwks.token("k1", exp=just_expired))
    assert principal.subject == "staff-1"


async def test_production_refuses_the_dev_key(jwks: Jwks) -> None:
    with pytest.raises(DevKeyRefused):
        TokenVerifier(PlatformSettings(environment="prod", auth_dev_secret=PROD_DEV_SECRET))
    with pytest.raises(DevKeyRefused):
        mint_dev_token(
            PlatformSettings(environment="prod", auth_dev_secret=PROD_DEV_SECRET), "x", ["admin"]
        )
    dev_token = mint_dev_token(_settings(jwks, "dev"), "x", ["admin"])
    with pytest.raises(HTTPException) as refused:
        await TokenVerifier(_settings(jwks, "prod")).verify(dev_token)
    assert refused.value.status_code == 401
    assert (await TokenVerifier(_settings(jwks, "dev")).verify(dev_token)).subject == "x"


def test_linli_token_mints_a_partys_token_with_its_claim() -> None:
    from typer.testing import CliRunner

    from linli.cli import app

    organisation, resident = uuid.uuid4(), uuid.uuid4()
    minted = CliRunner().invoke(
        app, ["token", "--role", "shop", "--organisation", str(organisation)]
    )
    assert minted.exit_code == 0, minted.output
    claims = jwt.decode(minted.output.strip(), options={"verify_signature": False})
    assert (claims["roles"], claims["organisation"]) == (["shop"], str(organisation))
    person = CliRunner().invoke(app, ["token", "--role", "resident", "--resident", str(resident)])
    claims = jwt.decode(person.output.strip(), options={"verify_signature": False})
    assert claims["resident"] == str(resident) and "organisation" not in claims
    refused = CliRunner().invoke(app, ["token", "--role", "shop", "--organisation", "shop-1"])
    assert refused.exit_code == 2, "an organisation is named by its id"


def test_linli_token_mints_a_development_services_token_for_as_long_as_asked() -> None:
    from typer.testing import CliRunner

    from linli.cli import app

    minted = CliRunner().invoke(
        app, ["token", "--subject", "linli-notify", "--role", "key_reader", "--ttl-hours", "8760"]
    )
    assert minted.exit_code == 0, minted.output
    claims = jwt.decode(minted.output.strip(), options={"verify_signature": False})
    assert claims["roles"] == ["key_reader"]
    assert claims["exp"] - claims["iat"] == 8760 * 3600


@pytest.mark.servers  # starts a process of the stack
def test_linli_token_refuses_to_mint_in_production() -> None:
    minted = subprocess.run(
        [sys.executable, "-m", "linli", "token"],
        env={"LINLI_ENVIRONMENT": "prod", "LINLI_AUTH_DEV_SECRET": PROD_DEV_SECRET, "PATH": ""},
        capture_output=True,
        text=True,
    )
    assert minted.returncode == 2
    assert "production refuses the dev signing key" in minted.stderr


def test_kafka_tls_and_scram_are_configurable_and_secrets_stay_out_of_logs() -> None:
    settings = PlatformSettings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_username="linli-credit",
        kafka_sasl_password="s3cret-scram",
    )
    options = settings.kafka_client_options()
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["sasl_plain_username"] == "linli-credit"
    assert options["sasl_plain_password"] == "s3cret-scram"
    assert options["ssl_context"] is not None
    assert PlatformSettings().kafka_client_options() == {"security_protocol": "PLAINTEXT"}

    record = logging.LogRecord("t", logging.INFO, __file__, 1, "settings: %s", (settings,), None)
    logged = JsonFormatter().format(record)
    assert "s3cret-scram" not in logged
    assert "linli-dev-signing-key" not in logged


def test_the_kafka_transport_is_built_with_the_connection_settings() -> None:
    settings = PlatformSettings(
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_username="linli-credit-kafka",
        kafka_sasl_password="pw",
        kafka_session_timeout_ms=7000,
    )
    transport = make_transport(settings, "linli-credit")
    assert isinstance(transport, KafkaTransport)
    assert transport._options["sasl_plain_username"] == "linli-credit-kafka"
    assert transport._options["security_protocol"] == "SASL_PLAINTEXT"
    assert transport._session_timeout_ms == 7000
