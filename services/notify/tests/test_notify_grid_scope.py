"""Grid workers see and act only on the recipients of their grids, wherever the registry puts them.

On a migrated database, with events applied through notify's own subscriptions: a household's
grid comes from household.registered and follows household.moved; an organisation's from
organisation.registered/changed; a grid worker's inbox is in the grid it answers for.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from linli_notify.adapters.repository import NoticeRepository
from linli_notify.consumers import subscriptions
from linli_notify.domain.notice import grid_worker_id
from linli_notify.service import UseCases
from linli_shared.clock import FixedClock
from linli_shared.contracts import (
    InspectionFailed,
    OrganisationChanged,
    OrganisationRegistered,
    RectificationOverdue,
)
from linli_shared.contracts.base import EventData
from linli_shared.contracts.common import Severity, SubjectKind
from linli_shared.contracts.inspections import FailedFindingV1
from linli_shared.contracts.registry import ContactV1
from linli_shared.db import Database
from services.notify.tests.notify_support import make
from tests.support.api import assert_problem
from tests.support.grid_scope import COMMUNITY, bearer, consume, household_in, moved_to

A, B = "grid-a", "grid-b"
WORKER_A = bearer("grid_worker", [A], subject="worker-a")
WORKER_B = bearer("grid_worker", [B], subject="worker-b")
STAFF = bearer("community_staff")
NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # daytime in the community: no quiet hours


@dataclass(frozen=True)
class Notify:
    client: httpx.AsyncClient
    service: UseCases  # on a fixed daytime clock, to consume and deliver
    database: Database

    async def apply(self, event: EventData) -> str:
        return await consume(subscriptions(self.service), self.database, event)

    async def deliver(self) -> None:
        while await self.service.dispatcher.deliver_next():
            pass

    async def household(self, grid: str) -> tuple[uuid.UUID, str]:
        """A household of `grid` told of a failed inspection in its in-app inbox; the notice id."""
        registered = household_in(grid, at=NOW)
        await self.apply(registered)
        await self.apply(failed_inspection(registered.household_id, SubjectKind.HOUSEHOLD))
        await self.deliver()
        return registered.household_id, await self.notice_of(registered.household_id)

    async def notice_of(self, recipient: uuid.UUID) -> str:
        listed = await self.client.get(
            "/v1/notices", params={"recipient_id": str(recipient)}, headers=STAFF
        )
        [notice] = listed.json()["items"]
        return str(notice["id"])


@pytest.fixture
def notify(client: httpx.AsyncClient, database: Database) -> Notify:
    return Notify(client, make(database, FixedClock(NOW)), database)


def failed_inspection(subject: uuid.UUID, kind: SubjectKind) -> InspectionFailed:
    return InspectionFailed(
        inspection_id=uuid.uuid4(),
        subject_id=subject,
        subject_kind=kind,
        checklist="sanitation",
        inspected_at=NOW - timedelta(hours=1),
        severity=Severity.LIGHT,
        failed_findings=[FailedFindingV1(item="no-small-ads", severity=Severity.LIGHT)],
        comply_by=NOW + timedelta(days=3),
    )


async def reads(
    client: httpx.AsyncClient, recipient: uuid.UUID, headers: dict[str, str]
) -> set[int]:
    """What the recipient's notices, inbox and preferences answer to these headers."""
    urls = (
        f"/v1/notices?recipient_id={recipient}",
        f"/v1/recipients/{recipient}/inbox",
        f"/v1/recipients/{recipient}/preferences",
    )
    return {(await client.get(url, headers=headers)).status_code for url in urls}


async def test_a_grid_worker_reads_and_changes_only_its_grids_households(notify: Notify) -> None:
    (ours, our_notice), (theirs, their_notice) = (
        await notify.household(A),
        await notify.household(B),
    )
    client = notify.client
    assert await reads(client, ours, WORKER_A) == {200}
    assert await reads(client, theirs, WORKER_A) == {404}
    assert await reads(client, theirs, WORKER_B) == {200}
    assert await reads(client, theirs, STAFF) == {200}
    assert (await client.get(f"/v1/notices/{our_notice}", headers=WORKER_A)).status_code == 200
    assert_problem(
        await client.get(f"/v1/notices/{their_notice}", headers=WORKER_A), 404, "not-found"
    )

    read = {"read": True}
    marked = await client.put(f"/v1/notices/{our_notice}/read-state", json=read, headers=WORKER_A)
    assert marked.status_code == 200 and marked.json()["read"] is True
    assert_problem(
        await client.put(f"/v1/notices/{their_notice}/read-state", json=read, headers=WORKER_A),
        404,
        "not-found",
    )
    preferences = {"channel_order": ["inbox"], "digest": True}
    for recipient, status in ((ours, 200), (theirs, 404)):
        answer = await client.put(
            f"/v1/recipients/{recipient}/preferences", json=preferences, headers=WORKER_A
        )
        assert answer.status_code == status, answer.text
    # Theirs is untouched: unread, no digest.
    [item] = (await client.get(f"/v1/recipients/{theirs}/inbox", headers=STAFF)).json()["items"]
    assert item["read"] is False
    their_preferences = await client.get(f"/v1/recipients/{theirs}/preferences", headers=STAFF)
    assert their_preferences.json()["digest"] is False


async def test_a_grid_workers_own_inbox_is_in_its_grid(notify: Notify) -> None:
    household, _ = await notify.household(A)
    client = notify.client
    contact = {"name": "网格员王", "email": "wang@example.cn", "channels": ["inbox"]}
    assert (await client.put(f"/v1/grid-contacts/{A}", json=contact, headers=STAFF)).is_success
    await notify.apply(
        RectificationOverdue(
            rectification_id=uuid.uuid4(),
            inspection_id=uuid.uuid4(),
            subject_id=household,
            subject_kind=SubjectKind.HOUSEHOLD,
            severity=Severity.LIGHT,
            comply_by=NOW - timedelta(days=1),
            overdue_since=NOW,
            grid_id=A,
            community_id=COMMUNITY,
        )
    )
    await notify.deliver()
    inbox = f"/v1/recipients/{grid_worker_id(A)}/inbox"
    own = await client.get(inbox, headers=WORKER_A)
    assert [n["notice_type"] for n in own.json()["items"]] == ["overdue_escalation"]
    assert_problem(await client.get(inbox, headers=WORKER_B), 404, "not-found")
    # Removing the contact stops new notices, not the grid's sight of the old ones.
    assert (await client.delete(f"/v1/grid-contacts/{A}", headers=STAFF)).status_code == 204
    assert (await client.get(inbox, headers=WORKER_A)).json()["items"] == own.json()["items"]


async def test_a_move_takes_the_household_to_the_new_grid_and_address(notify: Notify) -> None:
    household, notice = await notify.household(A)
    moved = moved_to(B, household)

    await notify.apply(moved)

    client = notify.client
    assert await reads(client, household, WORKER_A) == {404}
    assert await reads(client, household, WORKER_B) == {200}
    assert (await client.get(f"/v1/notices/{notice}", headers=WORKER_B)).status_code == 200
    async with notify.database.connect() as connection:
        recipient = await NoticeRepository(connection).recipient(household)
    assert recipient is not None
    assert (recipient.grid_id, recipient.address) == (B, moved.address)


async def test_an_organisation_is_in_the_grid_the_registry_names(notify: Notify) -> None:
    organisation = uuid.uuid4()
    common: dict[str, Any] = {
        "organisation_id": organisation,
        "kind": "shop",
        "name": "幸福超市",
        "community_id": COMMUNITY,
        "contact": ContactV1(email="shop@example.cn"),
    }
    await notify.apply(OrganisationRegistered(**common, grid_id=A, registered_at=NOW))
    assert await reads(notify.client, organisation, WORKER_A) == {200}
    assert await reads(notify.client, organisation, WORKER_B) == {404}

    await notify.apply(OrganisationChanged(**common, grid_id=B, changed_at=NOW, version=2))
    assert await reads(notify.client, organisation, WORKER_A) == {404}
    assert await reads(notify.client, organisation, WORKER_B) == {200}
