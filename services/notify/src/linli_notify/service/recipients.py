"""RecipientUseCases from the registry: notify's own copy of the households and organisations it
tells, with their names, addresses and contacts (opened from the registry's seals), consent and
grid.

These use cases apply the registry's events, inside the consumer's transaction (which also
claims the event), so a redelivered event changes nothing. The personal data in the events are
sealed under each subject's key (crypto-shredding, docs/privacy.md): the one thing notify asks
the registry for is that key (`linli_shared.subject_keys`). A destroyed key means the subject was
erased: notify keeps no name, address or contact of it, and the event is applied without them
(never dead-lettered), on its first delivery as on any replay.
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
from linli_shared.contracts.registry import SEALED_EMAIL, ContactV1, MemberV1
from linli_shared.crypto import SealBroken, Sealer
from linli_shared.db import Database
from linli_shared.messaging.envelope import MalformedEvent
from linli_shared.subject_keys import (
    CachedSubjectKeys,
    SubjectKeySource,
    SubjectKeyUnavailable,
)


class RecipientUseCases:
    def __init__(
        self,
        database: Database,
        contacts: Sealer | None = None,
        keys: SubjectKeySource | None = None,
    ) -> None:
        self._database = database
        self._contacts = contacts
        self._keys = keys

    async def remember_household(self, event: HouseholdRegistered) -> None:
        # The contract allows a household without members: its notices then greet no one by name.
        head = _head(event.members)
        contact = event.contact or ContactV1(email=event.contact_email)
        email, phone = await self._contact(event.household_id, contact, str(event.contact_email))
        recipient = _from_contact(
            event.household_id,
            await self._name(head) if head is not None else "",
            await self._address(event.household_id, event.address, event.address_sealed),
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
                await repository.update_recipient(event.household_id, name=await self._name(head))

    async def household_of(self, resident_id: uuid.UUID) -> uuid.UUID | None:
        """The household the registry has this resident in now, as notify knows it."""
        async with self._database.connect() as connection:
            return await NoticeRepository(connection).household_of(resident_id)

    async def remember_household_move(self, event: HouseholdMoved) -> None:
        """The new address is the one notices name; the new grid's workers see the household."""
        address = await self._address(event.household_id, event.address, event.address_sealed)
        async with self._database.transaction() as connection:
            await NoticeRepository(connection).update_recipient(
                event.household_id, address=address, grid_id=event.grid_id
            )

    async def remember_contacts(self, event: HouseholdContactChanged) -> None:
        contact = event.contact
        email, phone = await self._contact(event.household_id, contact)
        # A contact sealed under a destroyed key leaves no e-mail address behind.
        sealed = contact.subject_sealed is not None
        async with self._database.transaction() as connection:
            await NoticeRepository(connection).update_recipient(
                event.household_id,
                **({"email": email} if email or sealed else {}),
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
        email, phone = await self._contact(event.organisation_id, event.contact)
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

    def forget_key(self, subject_id: uuid.UUID) -> None:
        """Drop a subject's key (or its destruction) from the cache, if one is kept."""
        if isinstance(self._keys, CachedSubjectKeys):
            self._keys.forget(subject_id)

    def forget_keys(self) -> None:
        """Drop every key kept (an erasure: which of them were destroyed is not known here)."""
        if isinstance(self._keys, CachedSubjectKeys):
            self._keys.forget_all()

    async def _name(self, member: MemberV1) -> str:
        """The member's name: opened under the resident's key, empty once it is destroyed."""
        if member.name_sealed is None or member.resident_id is None:
            return member.name
        opened = await self._opened(member.resident_id, member.name_sealed)
        return (opened or {}).get("name") or ""

    async def _address(self, household: uuid.UUID, address: str, sealed: str | None) -> str | None:
        """The address: opened under the household's key, none once it is destroyed."""
        if sealed is None:
            return address or None
        opened = await self._opened(household, sealed)
        return (opened or {}).get("address") or None

    async def _contact(
        self, subject: uuid.UUID, contact: ContactV1, fallback_email: str | None = None
    ) -> tuple[str | None, str | None]:
        """The contact's e-mail address and phone: opened under the subject's key (none once it
        is destroyed), or under the platform's contact key, or as they came in clear, as the
        registry wrote them in turn."""
        if contact.subject_sealed is not None:
            opened = await self._opened(subject, contact.subject_sealed) or {}
            return opened.get("email"), opened.get("phone")
        if contact.sealed is None:
            fallback = fallback_email if fallback_email != SEALED_EMAIL else None
            return (str(contact.email) if contact.email else fallback), contact.phone
        if self._contacts is None:
            raise SealBroken("no contact key is configured to open the sealed contact")
        try:
            opened = self._contacts.open(str(subject), contact.sealed)
        except SealBroken as error:
            # The event's fault (or a key notify was never given): dead-lettered at once, replayed
            # once the key is in place; no retry can open it.
            raise MalformedEvent(f"contact: {error}") from error
        return opened.get("email"), opened.get("phone")

    async def _opened(self, subject: uuid.UUID, sealed: str) -> dict[str, str | None] | None:
        """What the registry sealed under the subject's key; None once the key is destroyed."""
        if self._keys is None:
            raise SubjectKeyUnavailable("no source of subject keys is configured")
        key = await self._keys.key_of(subject)
        if key is None:
            return None
        try:
            return Sealer([key]).open(str(subject), sealed)
        except SealBroken as error:
            # Sealed for another record, or altered: no retry can open it.
            raise MalformedEvent(f"sealed value of {subject}: {error}") from error


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
