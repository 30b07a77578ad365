"""Accounts from the registry: households, their residents and organisations, where they are,
their consent, and their closing. The consumer calls these with the typed registry event."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncConnection

from linli_credit.adapters.repository import LedgerRepository
from linli_credit.domain.ledger import Account
from linli_credit.domain.policy import Consent
from linli_credit.service.scoring import Scoring
from linli_shared.contracts.credit import AccountClosed, AccountOpened, CreditSubjectKind
from linli_shared.contracts.registry import (
    ConsentV1,
    HouseholdConsentChanged,
    HouseholdDeregistered,
    HouseholdMembersChanged,
    HouseholdMoved,
    HouseholdRegistered,
    MemberV1,
    OrganisationChanged,
    OrganisationRegistered,
)
from linli_shared.db import Database


def consent_of(consent: ConsentV1 | None) -> Consent:
    if consent is None:
        return "unrecorded"
    return "granted" if consent.integrity_scoring else "declined"


@dataclass(frozen=True)
class AccountUseCases:
    _database: Database
    _scoring: Scoring

    async def remember_household(self, event: HouseholdRegistered) -> Account:
        """The household's account (announced when new), placed, with its residents' accounts."""
        async with self._database.transaction() as connection:
            household = await self._scoring.open_account(
                connection,
                event.household_id,
                CreditSubjectKind.HOUSEHOLD,
                community_id=event.community_id,
                consent=consent_of(event.consent),
                grid_id=event.grid_id,
                announce=True,
            )
            household = await self._place(connection, household, event.community_id, event.grid_id)
            return await self._sync_members(connection, household, event.members, event.version)

    async def remember_household_move(self, event: HouseholdMoved) -> Account:
        """The household, and its residents with it, are now in the event's community and grid."""
        async with self._database.transaction() as connection:
            household = await self._scoring.open_account(
                connection, event.household_id, CreditSubjectKind.HOUSEHOLD
            )
            return await self._place(connection, household, event.community_id, event.grid_id)

    async def remember_members(self, event: HouseholdMembersChanged) -> Account:
        """New members' resident accounts open, removed members' close."""
        async with self._database.transaction() as connection:
            household = await self._scoring.open_account(
                connection, event.household_id, CreditSubjectKind.HOUSEHOLD
            )
            return await self._sync_members(connection, household, event.members, event.version)

    async def remember_consent(self, event: HouseholdConsentChanged) -> Account:
        """The household's consent, and so its residents': they are scored under it."""
        consent = consent_of(event.consent)
        async with self._database.transaction() as connection:
            household = await self._scoring.open_account(
                connection, event.household_id, CreditSubjectKind.HOUSEHOLD, consent=consent
            )
            ledger = LedgerRepository(connection)
            for resident in await ledger.residents_of(event.household_id, for_update=True):
                if resident.consent != consent:
                    changed = await self._scoring.guard_green_channel(
                        connection, replace(resident, consent=consent)
                    )
                    await ledger.save_account(changed)
            return household

    async def forget_household(self, event: HouseholdDeregistered) -> Account:
        """The household's account and its residents' close; their ledgers stay."""
        async with self._database.transaction() as connection:
            account = await self._scoring.open_account(
                connection, event.household_id, CreditSubjectKind.HOUSEHOLD
            )
            ledger = LedgerRepository(connection)
            for resident in await ledger.residents_of(event.household_id, for_update=True):
                await self._close(connection, resident, "deregistered", event.deregistered_at)
            return await self._close(connection, account, "deregistered", event.deregistered_at)

    async def remember_organisation(
        self, event: OrganisationRegistered | OrganisationChanged
    ) -> Account:
        """The organisation's account, opened (announced) if new, placed where the registry
        says it is now."""
        async with self._database.transaction() as connection:
            organisation = await self._scoring.open_account(
                connection,
                event.organisation_id,
                CreditSubjectKind.ORGANISATION,
                community_id=event.community_id,
                grid_id=event.grid_id,
                announce=True,
            )
            return await self._place(connection, organisation, event.community_id, event.grid_id)

    # --- internals -----------------------------------------------------------------------------

    async def _place(
        self,
        connection: AsyncConnection,
        account: Account,
        community_id: str,
        grid_id: str | None,
    ) -> Account:
        """Where the registry now places the subject; a household's residents go with it."""
        ledger = LedgerRepository(connection)
        placed = replace(account, community_id=community_id, grid_id=grid_id)
        if placed != account:
            await ledger.save_account(placed)
        for resident in await ledger.residents_of(account.subject_id, for_update=True):
            moved = replace(resident, community_id=community_id, grid_id=grid_id)
            if moved != resident:
                await ledger.save_account(moved)
        return placed

    async def _sync_members(
        self,
        connection: AsyncConnection,
        household: Account,
        members: list[MemberV1],
        version: int,
    ) -> Account:
        """Resident accounts follow the household's members (those with a resident id); an
        older member list than one applied already, or a closed household, changes nothing."""
        if household.closed_at is not None or version <= household.members_version:
            return household
        ledger = LedgerRepository(connection)
        wanted = {m.resident_id for m in members if m.resident_id is not None}
        current = await ledger.residents_of(household.subject_id, for_update=True)
        for resident in current:
            if resident.subject_id not in wanted:
                await self._close(connection, resident, "left_household")
        for resident_id in sorted(wanted - {r.subject_id for r in current}):
            await self._join(connection, resident_id, household)
        household = replace(household, members_version=version)
        await ledger.save_account(household)
        return household

    async def _join(
        self, connection: AsyncConnection, resident_id: uuid.UUID, household: Account
    ) -> Account:
        """The resident's account in this household: opened, or moved here (reopened if closed)."""
        ledger = LedgerRepository(connection)
        existing = await ledger.account(resident_id, for_update=True)
        if existing is None:
            return await self._scoring.open_account(
                connection,
                resident_id,
                CreditSubjectKind.RESIDENT,
                community_id=household.community_id,
                consent=household.consent,
                household_id=household.subject_id,
                grid_id=household.grid_id,
                announce=True,
            )
        moved = replace(
            existing,
            household_id=household.subject_id,
            community_id=household.community_id,
            grid_id=household.grid_id,
            consent=household.consent,
            closed_at=None,
        )
        moved = await self._scoring.guard_green_channel(connection, moved)
        await ledger.save_account(moved)
        await self._scoring.outbox.add(
            connection,
            AccountOpened(
                subject_id=resident_id,
                subject_kind=CreditSubjectKind.RESIDENT,
                opened_at=self._scoring.clock.now(),
                community_id=household.community_id,
                household_id=household.subject_id,
                reopened=True,
            ),
        )
        return moved

    async def _close(
        self,
        connection: AsyncConnection,
        account: Account,
        reason: Literal["deregistered", "left_household"],
        at: datetime | None = None,
    ) -> Account:
        """Close an account: its ledger stays, new causes make no entries, no green channel."""
        if account.closed_at is not None:
            return account
        closed_at = at or self._scoring.clock.now()
        closed = await self._scoring.guard_green_channel(
            connection, replace(account, closed_at=closed_at)
        )
        await LedgerRepository(connection).save_account(closed)
        await self._scoring.outbox.add(
            connection,
            AccountClosed(
                subject_id=account.subject_id,
                subject_kind=account.subject_kind,
                closed_at=closed_at,
                reason=reason,
                household_id=account.household_id,
            ),
        )
        return closed
