"""Partner webhooks cannot be turned against the city's own network (server-side request forgery).

In production a webhook goes only over https, to a URL without credentials, at a public address
(or an allow-listed private network): loopback, private, link-local, multicast and metadata
addresses are refused when the URL is registered and again, resolved, at every delivery, and the
request goes to the address that was checked. Only a short summary of the answer is kept, never
its body. The endpoints' signing secrets are encrypted at rest. DNS is the one fake here: a
resolver that answers what the test needs (the true edge between the service and the world).
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from linli_notify.adapters import tables
from linli_notify.app import DEFINITION, build_use_cases
from linli_notify.domain.notice import NoticeType
from linli_notify.service import UseCases
from linli_notify.settings import NotifySettings
from linli_shared.clock import FixedClock
from linli_shared.context import event_context
from linli_shared.contracts import InspectionEscalated
from linli_shared.contracts.common import Severity, SubjectKind
from linli_shared.crypto import KeyRing, generate_key
from linli_shared.db import Database
from linli_shared.migrations import upgrade
from linli_shared.rules import RuleViolation
from linli_shared.settings import PlatformSettings
from services.notify.tests.notify_peers import WebhookReceiver
from services.notify.tests.notify_support import FIRST_PAGE
from tests.support.infra import free_port

NOW = datetime.now(UTC).replace(microsecond=0)
PUBLIC = "93.184.216.34"
PARTNER = "partner.example"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    peer = WebhookReceiver([])
    peer.start()
    yield peer
    peer.stop()


class Resolver:
    """DNS for `partner.example`: the answers queued (the last one repeats; each may list several
    addresses, comma-separated); every other name as the system resolves it."""

    def __init__(self, loop: asyncio.AbstractEventLoop, *answers: str) -> None:
        self.answers = list(answers)
        self.asked = 0
        self._system = loop.getaddrinfo

    async def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != PARTNER:
            return await self._system(host, port, *args, **kwargs)
        self.asked += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port)))
            for address in answer.split(",")
        ]


def resolving(monkeypatch: pytest.MonkeyPatch, *answers: str) -> Resolver:
    loop = asyncio.get_running_loop()
    resolver = Resolver(loop, *answers)
    monkeypatch.setattr(loop, "getaddrinfo", resolver)
    return resolver


def settings(database: Database, *, production: bool, **extra: Any) -> NotifySettings:
    platform = (
        PlatformSettings(
            environment="prod",
            auth_dev_secret="not-the-repository-one",
            auth_jwks_url="https://id.city.example/jwks",
        )
        if production
        else PlatformSettings()
    )
    if production:
        extra["webhook_encryption_keys"] = generate_key()
        extra["contact_keys"] = generate_key()
        extra["audit_hash_key"] = generate_key()
    return NotifySettings(
        database_url=database.url, smtp_port=free_port(), platform=platform, **extra
    )


def service_of(notify_settings: NotifySettings, database: Database) -> UseCases:
    # Pinned when the service is made, not at import: the receiver checks a delivery's
    # timestamp against its own clock (Standard Webhooks, ±5 minutes), and a full run is longer.
    global NOW
    NOW = datetime.now(UTC).replace(microsecond=0)
    return build_use_cases(database, notify_settings, FixedClock(NOW))


async def escalate(service: UseCases, database: Database) -> None:
    event = InspectionEscalated(
        rectification_id=uuid.uuid4(),
        inspection_id=uuid.uuid4(),
        subject_id=uuid.uuid4(),
        subject_kind=SubjectKind.ORGANISATION,
        severity=Severity.SERIOUS,
        comply_by=NOW - timedelta(days=1),
        grid_id="g-07",
        community_id="c-xingfu",
        level="department",
        department="urban-management",
        escalated_at=NOW,
    )
    with event_context("corr-egress", causation_id="evt-esc"):
        await service.making.notice_overdue(event, f"evt-{uuid.uuid4()}")


async def add(service: UseCases, url: str) -> uuid.UUID:
    endpoint = await service.webhooks.add_webhook(
        name="城管局", url=url, notice_types=[NoticeType.OVERDUE_ESCALATION], department=None
    )
    return endpoint.id


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "https://127.0.0.1/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://100.100.100.200/latest/meta-data/",
        "https://0x7f000001/hook",
        "https://2130706433/hook",
        "https://127.1/hook",
        "https://localhost/hook",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[64:ff9b::a9fe:a9fe]/latest/meta-data/",
        "https://[2002:7f00:1::1]/hook",
        "https://10.0.0.8/hook",
        "https://192.168.1.1/hook",
        "https://224.0.0.1/hook",
        "https://0.0.0.0/hook",
        "https://user:pass@partner.example/hook",
        "http://partner.example/hook",
    ],
)
async def test_production_refuses_webhooks_to_local_metadata_credentialed_or_plain_urls(
    database: Database, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    resolving(monkeypatch, PUBLIC)
    service = service_of(settings(database, production=True), database)
    with pytest.raises(RuleViolation) as refused:
        await add(service, url)
    assert refused.value.field == "url"
    assert "egress rules" in refused.value.message
    assert (await service.webhooks.webhooks(FIRST_PAGE)).items == []


async def test_an_allow_listed_private_network_is_reachable_but_metadata_never(
    database: Database,
) -> None:
    allowed = ["10.20.0.0/16", "169.254.0.0/16"]
    service = service_of(
        settings(database, production=True, webhook_allowed_networks=allowed), database
    )
    await add(service, "https://10.20.1.5/linli")
    for url in ("https://10.30.0.1/linli", "https://169.254.169.254/latest/meta-data/"):
        with pytest.raises(RuleViolation):
            await add(service, url)
    [endpoint] = (await service.webhooks.webhooks(FIRST_PAGE)).items
    assert endpoint.url == "https://10.20.1.5/linli"
    with pytest.raises(RuleViolation):  # changing the URL is held to the same rules
        await service.webhooks.update_webhook(endpoint.id, url="https://169.254.169.254/latest/")
    assert (await service.webhooks.webhook(endpoint.id)).url == "https://10.20.1.5/linli"


async def test_a_name_rebound_to_loopback_after_registration_is_refused_at_delivery(
    database: Database, receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolver = resolving(monkeypatch, PUBLIC, "127.0.0.1")
    service = service_of(settings(database, production=True), database)
    endpoint = await add(service, f"https://{PARTNER}:{receiver.url.rsplit(':', 1)[1]}/hook")
    await escalate(service, database)

    assert await service.webhook_delivery.deliver_next_webhook() is True
    [(message, [attempt])] = (await service.webhooks.webhook_messages(endpoint, FIRST_PAGE)).items
    assert attempt.status == "failed"
    assert attempt.status_code is None
    assert attempt.response == "refused by the egress rules: 127.0.0.1 is a loopback address"
    assert message.status == "pending"  # retried later: the name may point outside again
    assert receiver.attempts == []
    assert resolver.asked == 2  # at registration and at delivery


async def test_delivery_connects_to_the_address_it_checked_and_keeps_the_name(
    database: Database, receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolver = resolving(monkeypatch, "127.0.0.1")
    service = service_of(settings(database, production=False), database)
    port = receiver.url.rsplit(":", 1)[1]
    endpoint = await service.webhooks.add_webhook(
        name="城管局",
        url=f"http://{PARTNER}:{port}/hook",
        notice_types=[NoticeType.OVERDUE_ESCALATION],
        department=None,
    )
    receiver.trust(list(endpoint.secrets))
    await escalate(service, database)

    assert await service.webhook_delivery.deliver_next_webhook() is True
    [request] = receiver.attempts
    assert request.headers["host"] == f"{PARTNER}:{port}"
    assert resolver.asked == 2, "the name is resolved once per check, never again by the client"
    [(message, _)] = (await service.webhooks.webhook_messages(endpoint.id, FIRST_PAGE)).items
    assert message.status == "delivered"


async def test_a_name_with_one_forbidden_address_among_public_ones_is_refused(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolving(monkeypatch, f"{PUBLIC},169.254.169.254")
    service = service_of(settings(database, production=True), database)
    with pytest.raises(RuleViolation, match="metadata"):
        await add(service, f"https://{PARTNER}/hook")


async def test_the_next_checked_address_is_tried_when_one_does_not_connect(
    database: Database, receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolving(monkeypatch, "127.0.0.2,127.0.0.1")  # nothing listens on 127.0.0.2
    service = service_of(settings(database, production=False), database)
    port = receiver.url.rsplit(":", 1)[1]
    endpoint = await service.webhooks.add_webhook(
        name="城管局",
        url=f"http://{PARTNER}:{port}/hook",
        notice_types=[NoticeType.OVERDUE_ESCALATION],
        department=None,
    )
    receiver.trust(list(endpoint.secrets))
    await escalate(service, database)

    assert await service.webhook_delivery.deliver_next_webhook() is True
    assert len(receiver.received) == 1


async def test_a_partners_answer_is_summarised_never_stored(
    database: Database, receiver: WebhookReceiver
) -> None:
    service = service_of(settings(database, production=False), database)
    endpoint = await service.webhooks.add_webhook(
        name="城管局",
        url=f"{receiver.url}/hook",
        notice_types=[NoticeType.OVERDUE_ESCALATION],
        department=None,
    )
    receiver.trust(list(endpoint.secrets))
    receiver.fail(times=1, status=500)
    await escalate(service, database)

    assert await service.webhook_delivery.deliver_next_webhook() is True
    [(_, [attempt])] = (await service.webhooks.webhook_messages(endpoint.id, FIRST_PAGE)).items
    assert (attempt.status_code, attempt.response) == (500, "partner error (HTTP 500)")
    assert len(receiver.attempts) == 1  # it did answer, with a body that is not kept


async def _stored_secrets(database: Database, endpoint: uuid.UUID) -> list[str]:
    async with database.connect() as connection:
        stored = await connection.scalar(
            sa.select(tables.webhook_endpoints.c.secrets).where(
                tables.webhook_endpoints.c.id == endpoint
            )
        )
    assert isinstance(stored, list)
    return [str(s) for s in stored]


async def test_signing_secrets_are_encrypted_at_rest(database: Database) -> None:
    notify_settings = settings(database, production=False)
    service = service_of(notify_settings, database)
    endpoint = await service.webhooks.add_webhook(
        name="城管局",
        url="https://partner.city.example/hook",
        notice_types=[NoticeType.OVERDUE_ESCALATION],
        department=None,
    )
    [secret] = endpoint.secrets
    [stored] = await _stored_secrets(database, endpoint.id)
    assert secret not in stored and not stored.startswith("whsec_")
    assert notify_settings.webhook_cipher().decrypt(stored) == secret
    rotated = await service.webhooks.rotate_webhook_secret(endpoint.id, keep_previous=True)
    assert rotated.secrets[1] == secret
    assert not {s for s in await _stored_secrets(database, endpoint.id)} & set(rotated.secrets)


async def test_the_migration_encrypts_the_secrets_stored_before_it(
    create_database: Any, receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = generate_key()
    monkeypatch.setenv("LINLI_NOTIFY_WEBHOOK_ENCRYPTION_KEYS", key)
    url = await create_database("linli_notify")
    await asyncio.to_thread(upgrade, DEFINITION.migrations_dir, url, "c1a5e0d7b204")
    database = Database(url)
    try:
        endpoint, secret = uuid.uuid4(), "whsec_" + "c2VjcmV0LWZyb20tYmVmb3JlLXRoZS1taWdyYXRpb24="
        async with database.transaction() as connection:
            await connection.execute(
                sa.insert(tables.webhook_endpoints).values(
                    id=endpoint,
                    name="城管局",
                    url=f"{receiver.url}/hook",
                    secrets=[secret],
                    notice_types=[NoticeType.OVERDUE_ESCALATION.value],
                    enabled=True,
                    consecutive_failures=0,
                    created_at=NOW,
                )
            )
        await asyncio.to_thread(upgrade, DEFINITION.migrations_dir, url)

        [stored] = await _stored_secrets(database, endpoint)
        assert stored != secret
        assert KeyRing([key]).decrypt(stored) == secret
        # The partner keeps the secret it was given: deliveries are still signed with it.
        service = service_of(settings(database, production=False), database)
        receiver.trust([secret])
        await escalate(service, database)
        assert await service.webhook_delivery.deliver_next_webhook() is True
        assert len(receiver.received) == 1 and receiver.bad_signatures == 0
    finally:
        await database.dispose()


async def test_secrets_no_key_decrypts_fail_the_attempt_not_the_dispatcher(
    database: Database, receiver: WebhookReceiver
) -> None:
    before = service_of(settings(database, production=False), database)
    endpoint = await add(before, f"{receiver.url}/hook")
    # The operator dropped the key the secrets were sealed with.
    after = service_of(
        settings(database, production=False, webhook_encryption_keys=generate_key()), database
    )
    await escalate(after, database)

    assert await after.webhook_delivery.deliver_next_webhook() is True
    assert (
        await after.webhook_delivery.deliver_next_webhook() is False
    )  # retried later, on the schedule
    [(_, [attempt])] = (await before.webhooks.webhook_messages(endpoint, FIRST_PAGE)).items
    assert attempt.response == "not sent: no configured key decrypts its secrets"
    assert receiver.attempts == []
