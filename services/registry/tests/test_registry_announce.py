"""`linli registry announce-members`: every active household's members again, at its current
version, in bounded batches; a deregistered household is left out (SQLite and PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import select

from linli_registry.adapters import tables
from linli_registry.adapters.subject_keys import SubjectKeys
from linli_registry.domain.household import HEAD, Household, Member
from linli_registry.service import UseCases
from linli_registry.service.announce import MembersAnnouncement
from linli_registry.settings import RegistrySettings
from linli_shared.clock import FixedClock
from linli_shared.contracts import CATALOGUE, HouseholdMembersChanged
from linli_shared.db import Database
from linli_shared.messaging.envelope import Envelope
from linli_shared.messaging.outbox import Outbox


async def _announced(database: Database) -> list[HouseholdMembersChanged]:
    async with database.connect() as connection:
        rows = (await connection.execute(select(tables.outbox.c.payload))).scalars()
        found = [Envelope.from_json(payload).parse(CATALOGUE) for payload in rows]
    return [event for event in found if isinstance(event, HouseholdMembersChanged)]


async def test_every_active_households_members_are_announced_at_their_version(
    registry: UseCases, database: Database, clock: FixedClock
) -> None:
    async def register(address: str) -> Household:
        return await registry.registration.register_household(
            community_id="c-xingfu",
            grid_id="g-07",
            address=address,
            members=[Member(f"户主 {address}", HEAD)],
            contact_email="home@example.com",
        )

    first, second, gone = [await register(f"幸福路 {n} 号") for n in (1, 2, 3)]
    changed = await registry.changes.change_members(
        second.id,
        version=1,
        members=[*second.members, Member("李四", "spouse")],
        changed_by="staff",
    )
    await registry.changes.deregister_household(
        gone.id,
        version=1,
        reason="moved away",
        changed_by="staff",
    )
    already = len(await _announced(database))  # the members change itself
    cipher = RegistrySettings().cipher()
    announcement = MembersAnnouncement(
        database,
        Outbox(tables.outbox, "/linli/registry"),
        clock,
        cipher,
        SubjectKeys(database, cipher, clock),
        1,
    )

    batches: list[int] = []
    assert await announcement.run(on_batch=batches.append) == 2
    assert batches == [1, 1]  # one household per transaction, as asked

    events = (await _announced(database))[already:]
    by_household = {event.household_id: event for event in events}
    assert set(by_household) == {first.id, changed.id}
    assert by_household[changed.id].version == 2
    assert [m.resident_id for m in by_household[changed.id].members] == [
        m.resident_id for m in changed.members
    ]
    assert by_household[first.id].version == 1
    assert all(event.changed_at == clock.now() for event in events)

    assert await announcement.run() == 2  # again: harmless, consumers have those versions
