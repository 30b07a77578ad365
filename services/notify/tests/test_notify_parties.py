"""Recipients signed in for themselves: a resident reads their household's notices and inbox and
sets its preferences; a property manager or shop its organisation's. Another recipient's notice,
inbox or preferences is not found (404), whether read or changed, whatever id is asked for.

Which household is a resident's comes from the registry's members lists, as notify keeps them
(household.registered, then household.members-changed).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import delete

from linli_notify.adapters.repository import NoticeRepository
from linli_notify.adapters.tables import household_members
from linli_notify.consumers import subscriptions
from linli_shared.clock import FixedClock
from linli_shared.contracts import HouseholdMembersChanged, OrganisationRegistered
from linli_shared.contracts.common import SubjectKind
from linli_shared.contracts.registry import ContactV1, MemberV1
from linli_shared.db import Database
from services.notify.tests.notify_support import make
from services.notify.tests.test_notify_grid_scope import NOW, Notify, failed_inspection
from tests.support.api import assert_problem
from tests.support.grid_scope import COMMUNITY, bearer, consume, household_in

GRID = "grid-a"


@pytest.fixture
def notify(client: httpx.AsyncClient, database: Database) -> Notify:
    return Notify(client, make(database, FixedClock(NOW)), database)


def resident(resident_id: uuid.UUID) -> dict[str, str]:
    return bearer("resident", subject=f"person-{resident_id}", resident_id=resident_id)


async def household_of(notify: Notify, resident_id: uuid.UUID) -> tuple[uuid.UUID, str]:
    """A household with this resident, told of a failed inspection in its inbox; its notice."""
    registered = household_in(GRID, resident_id=resident_id, at=NOW)
    await notify.apply(registered)
    await notify.apply(failed_inspection(registered.household_id, SubjectKind.HOUSEHOLD))
    await notify.deliver()
    return registered.household_id, await notify.notice_of(registered.household_id)


async def answers(
    client: httpx.AsyncClient, ids: tuple[uuid.UUID, str], headers: dict[str, str]
) -> set[int]:
    """What every notice route answers these headers about this recipient and its notice."""
    recipient, notice = ids
    return {
        response.status_code
        for response in [
            await client.get(
                "/v1/notices", params={"recipient_id": str(recipient)}, headers=headers
            ),
            await client.get(f"/v1/notices/{notice}", headers=headers),
            await client.get(f"/v1/recipients/{recipient}/inbox", headers=headers),
            await client.put(
                f"/v1/notices/{notice}/read-state", json={"read": True}, headers=headers
            ),
            await client.get(f"/v1/recipients/{recipient}/preferences", headers=headers),
            await client.put(
                f"/v1/recipients/{recipient}/preferences", json={"digest": False}, headers=headers
            ),
        ]
    }


async def test_a_resident_reaches_their_households_notices_and_no_neighbours(
    notify: Notify,
) -> None:
    me, neighbour = uuid.uuid4(), uuid.uuid4()
    ours, theirs = await household_of(notify, me), await household_of(notify, neighbour)
    client = notify.client
    assert await answers(client, ours, resident(me)) == {200}
    assert await answers(client, theirs, resident(me)) == {404}
    assert await answers(client, theirs, resident(neighbour)) == {200}

    inbox = (await client.get(f"/v1/recipients/{ours[0]}/inbox", headers=resident(me))).json()
    [item] = inbox["items"]
    assert item["notice_type"] == "rectification" and item["body"]
    unread = await client.put(
        f"/v1/notices/{ours[1]}/read-state", json={"read": False}, headers=resident(me)
    )
    assert unread.json()["read_at"] is None
    quiet = await client.put(
        f"/v1/recipients/{ours[0]}/preferences",
        json={"quiet_hours": {"start": "22:00", "end": "07:00"}, "digest": True},
        headers=resident(me),
    )
    assert quiet.status_code == 200 and quiet.json()["digest"] is True
    refused = await client.put(
        f"/v1/recipients/{theirs[0]}/preferences", json={"digest": True}, headers=resident(me)
    )
    assert_problem(refused, 404, "not-found")


async def test_a_resident_follows_the_households_members_list(notify: Notify) -> None:
    me, newcomer = uuid.uuid4(), uuid.uuid4()
    ours = await household_of(notify, me)
    changed = HouseholdMembersChanged(
        household_id=ours[0],
        members=[MemberV1(name="李娜", relation="head", resident_id=newcomer)],
        changed_at=datetime.now(UTC),
        version=2,
    )
    await notify.apply(changed)
    assert await answers(notify.client, ours, resident(newcomer)) == {200}
    assert await answers(notify.client, ours, resident(me)) == {404}, "left the household"
    # An older list arriving late changes nothing.
    await consume(
        subscriptions(notify.service),
        notify.database,
        changed.model_copy(
            update={
                "version": 1,
                "members": [MemberV1(name="张伟", relation="head", resident_id=me)],
            }
        ),
    )
    assert await answers(notify.client, ours, resident(me)) == {404}
    # Notices greet the household's head as the registry lists it now.
    async with notify.database.connect() as connection:
        recipient = await NoticeRepository(connection).recipient(ours[0])
    assert recipient is not None and recipient.name == "李娜"


async def test_an_organisation_reaches_its_own_notices_only(notify: Notify) -> None:
    ours, theirs = uuid.uuid4(), uuid.uuid4()
    for organisation in (ours, theirs):
        await notify.apply(
            OrganisationRegistered(
                organisation_id=organisation,
                kind="shop",
                name="幸福小卖部",
                community_id=COMMUNITY,
                grid_id=GRID,
                frontage_segments=[f"seg-{organisation}"],
                contact=ContactV1(preferred_channels=["inbox"]),
                registered_at=NOW,
            )
        )
        await notify.apply(failed_inspection(organisation, SubjectKind.ORGANISATION))
    await notify.deliver()
    shop = bearer("shop", subject="shop-desk", organisation_id=ours)
    ids_ours = (ours, await notify.notice_of(ours))
    ids_theirs = (theirs, await notify.notice_of(theirs))
    assert await answers(notify.client, ids_ours, shop) == {200}
    assert await answers(notify.client, ids_theirs, shop) == {404}


async def test_a_party_token_without_its_claim_reaches_no_recipient(notify: Notify) -> None:
    ours = await household_of(notify, uuid.uuid4())
    for role in ("resident", "property_manager", "shop"):
        assert await answers(notify.client, ours, bearer(role)) == {404}
    assert await answers(notify.client, ours, resident(uuid.uuid4())) == {404}


async def test_a_resident_downloads_what_notify_holds_about_them_and_no_one_else(
    notify: Notify,
) -> None:
    me, neighbour = uuid.uuid4(), uuid.uuid4()
    ours, _ = await household_of(notify, me), await household_of(notify, neighbour)
    client = notify.client
    copy = await client.get(f"/v1/residents/{me}/data-copy", headers=resident(me))
    assert copy.status_code == 200, copy.text
    body = copy.json()
    assert body["recipient"]["id"] == str(ours[0])
    assert body["recipient"]["email"] == "zhang@example.cn"
    [notice] = body["notices"]
    assert notice["id"] == ours[1] and notice["body"] and notice["deliveries"]
    for other in (neighbour, uuid.uuid4()):
        assert_problem(
            await client.get(f"/v1/residents/{other}/data-copy", headers=resident(me)),
            404,
            "not-found",
        )
    assert_problem(
        await client.get(f"/v1/residents/{me}/data-copy", headers=bearer("community_staff")),
        403,
        "forbidden",
    )
    trail = await client.get(
        "/v1/audit", params={"action": "personal-data-read"}, headers=bearer("admin")
    )
    assert any(e["path"] == f"/v1/residents/{me}/data-copy" for e in trail.json()["items"])


async def test_a_household_known_before_members_were_kept_learns_them_from_the_announcement(
    notify: Notify,
) -> None:
    """Households registered before notify kept members (a release ago) have none here; the
    registry's `announce-members` re-sends their list at the current version, which notify
    takes, and a second announcement changes nothing."""
    me = uuid.uuid4()
    ours = await household_of(notify, me)
    async with notify.database.transaction() as connection:  # as a household from before #22
        await connection.execute(delete(household_members))
    assert await answers(notify.client, ours, resident(me)) == {404}

    announced = HouseholdMembersChanged(
        household_id=ours[0],
        members=[MemberV1(name="张伟", relation="head", resident_id=me)],
        changed_at=datetime.now(UTC),
        version=1,  # the household's version, unchanged since its registration
    )
    await notify.apply(announced)
    assert await answers(notify.client, ours, resident(me)) == {200}
    await consume(subscriptions(notify.service), notify.database, announced)
    assert await answers(notify.client, ours, resident(me)) == {200}
