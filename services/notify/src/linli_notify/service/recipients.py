"""RecipientUseCases from the registry: notify's own copy of the households and organisations it
tells, with their contacts (opened from the registry's seal), consent and grid.

Notify never calls the registry: these use cases apply its events, inside the consumer's
transaction (which also claims the event), so a redelivered event changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from linli_notify.adapters.repository import NoticeRepository
from linli_notify.domain.notice import Channel, Recipient, RecipientKind, normalise_locale
from linli_shared.contracts import (
    HouseholdConsentChanged,
    HouseholdContactChanged,
    HouseholdDeregistered,
    HouseholdMembersChanged,
    HouseholdMoved,
    HouseholdRegistered,
    OrganisationChanged,
    OrganisationRegistered,
)
from linli_shared.contracts.registry import ContactV1, MemberV1
from linli_shared.crypto import SealBroken, Sealer
from linli_shared.db import Database
from linli_shared.messaging.envelope import MalformedEvent


class RecipientUseCases:
    def __init__(self, database: Database, contacts: Sealer | None = None) -> None:
        self._database = database
        self._contacts = contacts

    async def remember_household(self, event: HouseholdRegistered) -> None:
        # The contract allows a household without members: its notices then greet no one by name.
        head = _head(event.members)
        contact = event.contact or ContactV1(email=event.contact_email)
        email, phone = self._opened(event.household_id, contact, str(event.contact_email))
        recipient = _from_contact(
            event.household_id,
            head.name if head is not None else "",
            event.address,
            RecipientKind.HOUSEHOLD,
            contact,
            email=email,
            phone=phone,
            consented=event.consent.notice_channels if event.consent else None,
            grid_id=event.grid_id,
        )
        async with self._database.transaction() as connection:
            repository = NoticeRepository(connection)
            await repository.upsert_recipient(recipient)
            await repository.put_members(
                event.household_id, _residents(event.members), event.version
            )

    async def remember_members(self, event: HouseholdMembersChanged) -> None:
        """Who the household's residents are now (a resident signed in reaches its notices),
        and the head it greets by name."""
        head = _head(event.members)
        async with self._database.transaction() as connection:
            repository = NoticeRepository(connection)
            newer = await repository.put_members(
                event.household_id, _residents(event.members), event.version
            )
            if newer and head is not None:
                await repository.update_recipient(event.household_id, name=head.name)

    async def household_of(self, resident_id: uuid.UUID) -> uuid.UUID | None:
        """The household the registry has this resident in now, as notify knows it."""
        async with self._database.connect() as connection:
            return await NoticeRepository(connection).household_of(resident_id)

    async def remember_household_move(self, event: HouseholdMoved) -> None:
        """The new address is the one notices name; the new grid's workers see the household."""
        async with self._database.transaction() as connection:
            await NoticeRepository(connection).update_recipient(
                event.household_id, address=event.address, grid_id=event.grid_id
            )

    async def remember_contacts(self, event: HouseholdContactChanged) -> None:
        contact = event.contact
        email, phone = self._opened(event.household_id, contact)
        async with self._database.transaction() as connection:
            await NoticeRepository(connection).update_recipient(
                event.household_id,
                **({"email": email} if email else {}),
                phone=phone,
                preferred_channels=list(contact.preferred_channels),
                locale=normalise_locale(contact.locale),
            )

    async def remember_consent(self, event: HouseholdConsentChanged) -> None:
        async with self._database.transaction() as connection:
            await NoticeRepository(connection).update_recipient(
                event.household_id, consented_channels=list(event.consent.notice_channels)
            )

    async def forget_household(self, event: HouseholdDeregistered) -> None:
        """Deregistered: told nothing more (a notice still due fails with the reason)."""
        async with self._database.transaction() as connection:
            await NoticeRepository(connection).update_recipient(event.household_id, active=False)

    async def remember_organisation(
        self, event: OrganisationRegistered | OrganisationChanged
    ) -> None:
        email, phone = self._opened(event.organisation_id, event.contact)
        recipient = _from_contact(
            event.organisation_id,
            event.name,
            None,
            RecipientKind.ORGANISATION,
            event.contact,
            email=email,
            phone=phone,
            grid_id=event.grid_id,
        )
        async with self._database.transaction() as connection:
            await NoticeRepository(connection).upsert_recipient(recipient)

    def _opened(
        self, subject: uuid.UUID, contact: ContactV1, fallback_email: str | None = None
    ) -> tuple[str | None, str | None]:
        """The contact's e-mail address and phone: opened from the seal the registry put them
        under, or as they came in clear in events written before it sealed them."""
        if contact.sealed is None:
            return (str(contact.email) if contact.email else fallback_email), contact.phone
        if self._contacts is None:
            raise SealBroken("no contact key is configured to open the sealed contact")
        try:
            opened = self._contacts.open(str(subject), contact.sealed)
        except SealBroken as error:
            # The event's fault (or a key notify was never given): dead-lettered at once, replayed
            # once the key is in place; no retry can open it.
            raise MalformedEvent(f"contact: {error}") from error
        return opened.get("email"), opened.get("phone")


def _head(members: Sequence[MemberV1]) -> MemberV1 | None:
    return next((m for m in members if m.relation == "head"), members[0] if members else None)


def _residents(members: Sequence[MemberV1]) -> list[uuid.UUID]:
    return [m.resident_id for m in members if m.resident_id is not None]


def _from_contact(
    recipient_id: uuid.UUID,
    name: str,
    address: str | None,
    kind: RecipientKind,
    contact: ContactV1,
    *,
    email: str | None,
    phone: str | None,
    consented: Sequence[str] | None = None,
    grid_id: str | None = None,
) -> Recipient:
    return Recipient(
        id=recipient_id,
        name=name,
        email=email,
        address=address,
        locale=normalise_locale(contact.locale),
        kind=kind,
        phone=phone,
        preferred_channels=tuple(Channel(c) for c in contact.preferred_channels),
        consented_channels=tuple(Channel(c) for c in consented) if consented is not None else None,
        grid_id=grid_id,
    )
