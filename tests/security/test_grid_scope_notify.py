"""The grid walk over notify: grid workers see and act only on their grids' recipients.

Every notify route admitting a grid-bound role is called with a token for another grid about a
household of the other grid (its notices, inbox and preferences) and about the other grid's own
grid worker (whose inbox holds that grid's overdue rectifications). Each answers 404: a notice,
inbox or recipient of another grid reads as absent, whether read or changed.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from conftest import MigratedDatabase
from linli_notify.app import DEFINITION, build_use_cases, create_app
from linli_notify.consumers import subscriptions
from linli_notify.domain.notice import grid_worker_id
from linli_notify.service import UseCases
from linli_notify.settings import NotifySettings
from linli_shared.clock import FixedClock
from linli_shared.contracts import InspectionFailed, RectificationOverdue
from linli_shared.contracts.common import Severity, SubjectKind
from linli_shared.contracts.inspections import FailedFindingV1
from linli_shared.db import Database
from linli_shared.permissions import RoutePermission, route_permissions
from tests.support.api import api_client
from tests.support.grid_scope import (
    ADMIN,
    OURS,
    THEIRS,
    Probe,
    bearer,
    consume,
    household_in,
    refused,
    walk,
)
from tests.support.infra import free_port

GRID_FREE = {("GET", "/v1/templates"), ("POST", "/v1/templates/{notice_type}/preview")}
# Daytime in the community (no quiet hours), so the notices go out at once.
NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
PREFERENCES = {"channel_order": ["inbox"], "quiet_hours": None, "digest": True}


@dataclass(frozen=True)
class Notify:
    client: httpx.AsyncClient
    permissions: list[RoutePermission]
    service: UseCases  # on a fixed daytime clock, to consume and deliver
    database: Database


@pytest.fixture
async def notify(migrated_database: MigratedDatabase) -> AsyncIterator[Notify]:
    url = await migrated_database(DEFINITION)
    settings = NotifySettings(database_url=url, smtp_port=free_port())
    app = create_app(settings)
    database = Database(url)
    try:
        async with api_client(app, "notify") as client:
            service = build_use_cases(database, settings, FixedClock(NOW))
            yield Notify(client, route_permissions(app), service, database)
    finally:
        await database.dispose()


def failed_inspection(household: uuid.UUID, grid: str) -> InspectionFailed:
    return InspectionFailed(
        inspection_id=uuid.uuid4(),
        subject_id=household,
        subject_kind=SubjectKind.HOUSEHOLD,
        checklist="sanitation",
        inspected_at=NOW - timedelta(hours=1),
        severity=Severity.LIGHT,
        failed_findings=[FailedFindingV1(item="no-small-ads", severity=Severity.LIGHT)],
        comply_by=NOW + timedelta(days=3),
        grid_id=grid,
    )


async def _household_told(notify: Notify, grid: str) -> dict[str, str]:
    """A household of `grid` told of a failed inspection (delivered to its in-app inbox), and
    the grid's worker told of an overdue rectification."""
    registered = household_in(grid, at=NOW)
    household = registered.household_id
    consumer = subscriptions(notify.service)
    await consume(consumer, notify.database, registered)
    failed = failed_inspection(household, grid)
    await consume(consumer, notify.database, failed)
    contact = await notify.client.put(
        f"/v1/grid-contacts/{grid}",
        json={"name": "网格员", "email": "grid@example.cn", "channels": ["inbox"]},
        headers=ADMIN,
    )
    assert contact.status_code == 200, contact.text
    await consume(
        consumer,
        notify.database,
        RectificationOverdue(
            rectification_id=uuid.uuid4(),
            inspection_id=failed.inspection_id,
            subject_id=household,
            subject_kind=SubjectKind.HOUSEHOLD,
            severity=Severity.LIGHT,
            comply_by=NOW - timedelta(days=1),
            overdue_since=NOW,
            grid_id=grid,
            community_id=registered.community_id,
        ),
    )
    while await notify.service.dispatcher.deliver_next():
        pass
    listed = await notify.client.get(
        "/v1/notices", params={"recipient_id": str(household)}, headers=ADMIN
    )
    [notice] = listed.json()["items"]
    assert notice["status"] == "delivered", notice
    return {"household": str(household), "notice": notice["id"]}


def _probes(theirs: dict[str, str], grid: str) -> list[Probe]:
    household, notice = theirs["household"], theirs["notice"]
    return [
        Probe("GET", "/v1/notices", f"/v1/notices?recipient_id={household}"),
        Probe("GET", "/v1/notices", f"/v1/notices?recipient_id={grid_worker_id(grid)}"),
        Probe("GET", "/v1/notices/{notice_id}", f"/v1/notices/{notice}"),
        Probe("GET", "/v1/recipients/{recipient_id}/inbox", f"/v1/recipients/{household}/inbox"),
        Probe(
            "GET",
            "/v1/recipients/{recipient_id}/inbox",
            f"/v1/recipients/{grid_worker_id(grid)}/inbox",
        ),
        Probe(
            "PUT",
            "/v1/notices/{notice_id}/read-state",
            f"/v1/notices/{notice}/read-state",
            {"read": True},
        ),
        Probe(
            "GET",
            "/v1/recipients/{recipient_id}/preferences",
            f"/v1/recipients/{household}/preferences",
        ),
        Probe(
            "PUT",
            "/v1/recipients/{recipient_id}/preferences",
            f"/v1/recipients/{household}/preferences",
            PREFERENCES,
        ),
    ]


async def test_grid_workers_are_refused_other_grids_recipients(notify: Notify) -> None:
    client = notify.client
    theirs = await _household_told(notify, THEIRS)
    ours = await _household_told(notify, OURS)

    def is_refused(probe: Probe, response: httpx.Response) -> bool:
        return refused(probe, response, lambda item: False)  # every route is about one recipient

    walked = await walk(
        client,
        notify.permissions,
        _probes(theirs, THEIRS),
        grid_free=GRID_FREE,
        is_refused=is_refused,
    )
    assert walked >= 8
    # Nothing of theirs was changed: the notice is unread, the preferences as they were.
    [item] = (
        await client.get(f"/v1/recipients/{theirs['household']}/inbox", headers=ADMIN)
    ).json()["items"]
    assert item["read_at"] is None
    preferences = await client.get(
        f"/v1/recipients/{theirs['household']}/preferences", headers=ADMIN
    )
    assert preferences.json()["digest"] is False
    # Each grid's worker reaches its own grid's households and its own inbox.
    for grid, mine in ((THEIRS, theirs), (OURS, ours)):
        worker = bearer("grid_worker", [grid])
        for probe in _probes(mine, grid):
            response = await client.request(
                probe.method, probe.url, json=probe.body, headers=worker
            )
            assert response.status_code == 200, (probe.url, response.text)
        own = await client.get(f"/v1/recipients/{grid_worker_id(grid)}/inbox", headers=worker)
        assert [n["notice_type"] for n in own.json()["items"]] == ["overdue_escalation"]
