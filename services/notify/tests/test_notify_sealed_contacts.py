"""Contacts reach notify sealed by the registry (issue 15): notify opens them with the contact
key it shares with the registry alone, refuses a seal made for another record, still reads the
clear contacts of events written before, and shows a phone it delivered to only masked."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from linli_notify.adapters.repository import NoticeRepository
from linli_notify.api.schemas import DeliveryOut
from linli_notify.domain.delivery import Delivery
from linli_notify.domain.notice import Recipient
from linli_notify.service import UseCases
from linli_shared.clock import FixedClock
from linli_shared.contracts import (
    HouseholdContactChanged,
    HouseholdRegistered,
    OrganisationRegistered,
)
from linli_shared.contracts.registry import SEALED_EMAIL, ContactV1, MemberV1
from linli_shared.crypto import Sealer, generate_key
from linli_shared.db import Database
from linli_shared.messaging.envelope import MalformedEvent
from services.notify.tests.notify_support import make

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
KEY = generate_key()


def build(database: Database, *keys: str) -> UseCases:
    return make(database, FixedClock(NOW), contact_keys=",".join(keys))


def sealed(subject: uuid.UUID, email: str | None, phone: str | None, key: str = KEY) -> ContactV1:
    return ContactV1(
        preferred_channels=["sms", "email"],
        sealed=Sealer([key]).seal(str(subject), {"email": email, "phone": phone}),
    )


def registered(household: uuid.UUID, contact: ContactV1) -> HouseholdRegistered:
    return HouseholdRegistered(
        household_id=household,
        community_id="c",
        grid_id="g",
        address="幸福路 1 号",
        members=[MemberV1(name="张三", relation="head")],
        contact_email=SEALED_EMAIL,
        registered_at=NOW - timedelta(days=1),
        contact=contact,
    )


async def _recipient(database: Database, recipient_id: uuid.UUID) -> Recipient:
    async with database.connect() as connection:
        recipient = await NoticeRepository(connection).recipient(recipient_id)
    assert recipient is not None
    return recipient


async def test_a_sealed_contact_is_opened_into_the_recipient(database: Database) -> None:
    service, household, organisation = build(database, KEY), uuid.uuid4(), uuid.uuid4()

    await service.recipients.remember_household(
        registered(household, sealed(household, "zhang@example.cn", "13812345678"))
    )
    await service.recipients.remember_organisation(
        OrganisationRegistered(
            organisation_id=organisation,
            kind="shop",
            name="小卖部",
            community_id="c",
            contact=sealed(organisation, None, "13912345678"),
            registered_at=NOW,
        ),
    )
    await service.recipients.remember_contacts(
        HouseholdContactChanged(
            household_id=household,
            contact=sealed(household, "zhang.san@example.cn", "13600001111"),
            changed_at=NOW,
            version=2,
        ),
    )

    mine = await _recipient(database, household)
    assert (mine.email, mine.phone) == ("zhang.san@example.cn", "13600001111")
    theirs = await _recipient(database, organisation)
    assert (theirs.email, theirs.phone) == (None, "13912345678")


async def test_a_contact_sealed_under_a_previous_key_still_opens(database: Database) -> None:
    previous, household = generate_key(), uuid.uuid4()
    service = build(database, KEY, previous)

    await service.recipients.remember_household(
        registered(household, sealed(household, "li@example.cn", None, previous))
    )

    assert (await _recipient(database, household)).email == "li@example.cn"


@pytest.mark.parametrize("why", ["another record", "another key"])
async def test_a_seal_made_for_another_record_or_key_is_refused(
    database: Database, why: str
) -> None:
    service, household = build(database, KEY), uuid.uuid4()
    contact = (
        sealed(uuid.uuid4(), "x@example.cn", "13812345678")
        if why == "another record"
        else sealed(household, "x@example.cn", "13812345678", generate_key())
    )

    with pytest.raises(MalformedEvent, match="contact"):
        await service.recipients.remember_household(registered(household, contact))
    async with database.connect() as connection:
        assert await NoticeRepository(connection).recipient(household) is None


async def test_a_clear_contact_of_an_older_event_is_still_read(database: Database) -> None:
    service, household = build(database, KEY), uuid.uuid4()
    older = registered(household, ContactV1()).model_copy(
        update={"contact": None, "contact_email": "old@example.cn"}
    )

    async with database.transaction() as connection:
        await service.recipients.remember_household(older)
        first = await NoticeRepository(connection).recipient(household)
        assert first is not None and first.email == "old@example.cn"
        await service.recipients.remember_contacts(
            HouseholdContactChanged(
                household_id=household,
                contact=ContactV1(email="new@example.cn", phone="13812345678"),
                changed_at=NOW,
                version=2,
            ),
        )

    recipient = await _recipient(database, household)
    assert (recipient.email, recipient.phone) == ("new@example.cn", "13812345678")


def test_a_delivery_to_a_phone_is_shown_masked() -> None:
    def shown(channel: str, address: str) -> str:
        return DeliveryOut.of(Delivery(channel, address, "delivered", None, NOW)).address

    assert shown("sms", "13812345678") == "138****5678"
    assert shown("email", "zhang@example.cn") == "zhang@example.cn"
