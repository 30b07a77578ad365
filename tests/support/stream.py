"""A stream of inspections through the running platform, and the ledger/notice accounting after.

Inspections of one household are posted one after another (so their order is defined); different
households go concurrently. Every post carries a client-generated id, so retrying after a 503 or
a dropped connection records each inspection once.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from linli_shared.auth import mint_dev_token
from linli_shared.contracts import topics
from linli_shared.messaging.envelope import Envelope
from linli_shared.settings import PlatformSettings
from tests.support.events import group_lag, read_topics
from tests.support.platform import Platform
from tests.support.polling import eventually

TOKEN = mint_dev_token(PlatformSettings(), "fault-driver", ["admin"])
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclass(frozen=True)
class Planned:
    inspection_id: str
    household_id: str
    failed: bool


@dataclass
class Stream:
    households: list[str]
    planned: list[Planned] = field(default_factory=list)
    posted: int = 0

    @property
    def failed(self) -> list[Planned]:
        return [p for p in self.planned if p.failed]

    def failed_in_order(self, household_id: str) -> list[str]:
        return [
            p.inspection_id for p in self.planned if p.failed and p.household_id == household_id
        ]


async def register_households(http: httpx.AsyncClient, platform: Platform, count: int) -> Stream:
    households = []
    community = f"fault-{uuid.uuid4().hex[:8]}"  # a stream of its own on a shared platform
    for i in range(count):
        body: dict[str, object] = {
            "community_id": community,
            "grid_id": f"grid-{i % 4}",
            "address": f"测试路 {i} 号",
            "members": [{"name": f"住户{i}", "relation": "head"}],
            "contact_email": f"household{i}@example.cn",
        }
        response = await _post_with_retries(http, f"{platform.url('registry')}/v1/households", body)
        households.append(response.json()["id"])
    stream = Stream(households)
    await _known_to_every_consumer(platform, stream)
    return stream


async def _known_to_every_consumer(platform: Platform, stream: Stream) -> None:
    """Wait until credit and notify have applied every household's registration, as a city's
    households are known long before they are inspected. (A stream posted at once would race
    the registrations: notify opens each one's sealed name, address and contact with keys it
    asks the registry for, and an event about a household it does not know yet waits.)"""
    queries = {
        "credit": "SELECT count(*) FROM accounts WHERE subject_id = ANY($1)",
        "notify": "SELECT count(*) FROM recipients WHERE id = ANY($1)",
    }

    async def known() -> bool:
        for service, query in queries.items():
            [row] = await _fetch(platform.database_url(service), query, stream)
            if row[0] < len(stream.households):
                return False
        return True

    await eventually(known, "every household known to credit and notify", within=120)


def plan(stream: Stream, count: int, seed: int = 7) -> None:
    chooser = random.Random(seed)
    stream.planned = [
        Planned(str(uuid.uuid4()), chooser.choice(stream.households), chooser.random() < 0.5)
        for _ in range(count)
    ]


async def post_stream(
    http: httpx.AsyncClient,
    platform: Platform,
    stream: Stream,
    *,
    at: int | None = None,
    then: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Post every planned inspection; run `then` (the fault) once `at` of them are posted."""
    by_household: dict[str, list[Planned]] = defaultdict(list)
    for planned in stream.planned:
        by_household[planned.household_id].append(planned)
    fault_done = asyncio.Event()
    fault_task: asyncio.Task[None] | None = None

    async def post_household(items: list[Planned]) -> None:
        nonlocal fault_task
        for planned in items:
            await _post_with_retries(
                http, f"{platform.url('inspections')}/v1/inspections", _inspection_body(planned)
            )
            stream.posted += 1
            if then is not None and at is not None and stream.posted >= at and fault_task is None:
                fault_task = asyncio.create_task(_run_once(then, fault_done))

    started = time.monotonic()
    await asyncio.gather(*(post_household(items) for items in by_household.values()))
    print(f"\nposted {len(stream.planned)} inspections in {time.monotonic() - started:.1f}s")
    if fault_task is not None:
        await fault_task


async def _run_once(action: Callable[[], Awaitable[None]], done: asyncio.Event) -> None:
    await action()
    done.set()


def _inspection_body(planned: Planned) -> dict[str, object]:
    return {
        "id": planned.inspection_id,
        "subject_id": planned.household_id,
        "subject_kind": "household",
        "checklist": "sanitation",
        "findings": [
            {"item": "bins emptied daily", "passed": not planned.failed, "severity": "general"},
            {"item": "no graffiti or small ads", "passed": True},
        ],
    }


async def _post_with_retries(
    http: httpx.AsyncClient, url: str, body: dict[str, object], attempts: int = 120
) -> httpx.Response:
    for _ in range(attempts):
        try:
            response = await http.post(url, json=body, headers=AUTH)
        except httpx.TransportError:
            await asyncio.sleep(0.5)
            continue
        if response.status_code in (200, 201):
            return response
        if _subject_not_known_yet(response):
            # The household's registration is still on its way to inspections: resend the same
            # inspection (same id) shortly, as docs/inspections.md tells clients to.
            await asyncio.sleep(0.5)
            continue
        if response.status_code not in (502, 503, 504):
            raise AssertionError(f"{url}: {response.status_code} {response.text}")
        await asyncio.sleep(0.5)
    raise AssertionError(f"{url}: gave up after {attempts} attempts")


def _subject_not_known_yet(response: httpx.Response) -> bool:
    if response.status_code != 422:
        return False
    errors = response.json().get("errors") or []
    return any(error.get("field") == "subject_id" for error in errors)


# --- accounting ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Accounting:
    entries_per_inspection: Counter[str]
    notices_per_inspection: Counter[str]
    score_change_order: dict[str, list[str]]
    delivered_notices: dict[str, int]

    def summary(self) -> str:
        return (
            f"ledger entries={sum(self.entries_per_inspection.values())} "
            f"rectification notices={sum(self.notices_per_inspection.values())} "
            f"delivered notices={self.delivered_notices}"
        )


async def _fetch(url: str, query: str, stream: Stream) -> list[asyncpg.Record]:
    """`query`'s rows; `$1` in it is the stream's households."""
    parsed = make_url(url)
    connection = await asyncpg.connect(
        host=parsed.host, port=parsed.port, user=parsed.username, database=parsed.database
    )
    try:
        return list(await connection.fetch(query, [uuid.UUID(h) for h in stream.households]))
    finally:
        await connection.close()


async def account(platform: Platform, bootstrap: str, namespace: str, stream: Stream) -> Accounting:
    """What the platform did for the stream's households (other streams may share the platform)."""
    households = set(stream.households)
    published = [
        envelope
        for envelope in await read_topics(bootstrap, namespace, [topics.INSPECTIONS, topics.CREDIT])
        if envelope.subject in households
    ]
    inspection_of_event: dict[str, str] = {}
    score_changes: dict[str, list[str]] = defaultdict(list)
    seen: set[str] = set()
    for envelope in published:
        if envelope.id in seen:
            continue  # a republished duplicate: consumers see it once
        seen.add(envelope.id)
        if envelope.type == "linli.inspections.inspection.failed.v1":
            inspection_of_event[envelope.id] = envelope.data["inspection_id"]
    for envelope in _in_partition_order(published):
        if envelope.type == "linli.credit.score.changed.v1":
            source = envelope.data["source_event_id"]
            inspection = inspection_of_event.get(source, f"unknown:{source}")
            if inspection not in score_changes[envelope.subject]:
                score_changes[envelope.subject].append(inspection)
    entries = await _fetch(
        platform.database_url("credit"),
        "SELECT source_event_id FROM entries WHERE subject_id = ANY($1)",
        stream,
    )
    notices = await _fetch(
        platform.database_url("notify"),
        "SELECT variables->>'inspection_id' AS inspection_id FROM notices "
        "WHERE notice_type = 'rectification' AND recipient_id = ANY($1)",
        stream,
    )
    delivered = await _fetch(
        platform.database_url("notify"),
        "SELECT notice_type, count(*) AS n FROM notices WHERE status = 'delivered' "
        "AND recipient_id = ANY($1) GROUP BY notice_type",
        stream,
    )
    return Accounting(
        entries_per_inspection=Counter(
            inspection_of_event.get(row["source_event_id"], "unknown") for row in entries
        ),
        notices_per_inspection=Counter(row["inspection_id"] for row in notices),
        score_change_order=dict(score_changes),
        delivered_notices={row["notice_type"]: row["n"] for row in delivered},
    )


def _in_partition_order(envelopes: list[Envelope]) -> list[Envelope]:
    # read_topics returns records partition by partition, each in offset order, which is all
    # that per-key order needs: one household lives in one partition.
    return envelopes


async def settle(
    platform: Platform, bootstrap: str, namespace: str, stream: Stream, within: float = 240.0
) -> Accounting:
    """Wait until every failed inspection has its entry and both its notices are delivered."""
    expected = len(stream.failed)

    async def settled() -> Accounting | None:
        entries = await _fetch(
            platform.database_url("credit"),
            "SELECT count(*) AS n FROM entries WHERE subject_id = ANY($1)",
            stream,
        )
        delivered = await _fetch(
            platform.database_url("notify"),
            "SELECT count(*) AS n FROM notices WHERE status = 'delivered' "
            "AND notice_type IN ('rectification', 'score_change') AND recipient_id = ANY($1)",
            stream,
        )
        if entries[0]["n"] >= expected and delivered[0]["n"] >= 2 * expected:
            return await account(platform, bootstrap, namespace, stream)
        return None

    started = time.monotonic()
    await eventually(
        settled, f"{expected} entries, their rectification and score notices delivered", within
    )
    print(f"settled {time.monotonic() - started:.1f}s after the last post")
    # Rather than waiting a while for a doubled effect to land: wait until every group has
    # committed every record. A consumer commits its effect before its offset, so from then on
    # every effect any record will ever have is in the databases.
    await eventually(
        lambda: _all_consumed(bootstrap, namespace), "every consumer group to be caught up", within
    )
    return await account(platform, bootstrap, namespace, stream)


READERS = {
    "linli-credit": [topics.REGISTRY, topics.INSPECTIONS],
    "linli-notify": [topics.REGISTRY, topics.INSPECTIONS, topics.CREDIT],
}


async def _all_consumed(bootstrap: str, namespace: str) -> bool:
    for group, read in READERS.items():
        if await group_lag(bootstrap, namespace, group, read) > 0:
            return False
    return True


def assert_exactly_once(stream: Stream, accounting: Accounting) -> None:
    print(
        f"\n{len(stream.planned)} inspections, {len(stream.failed)} failed: {accounting.summary()}"
    )
    failed_ids = {p.inspection_id for p in stream.failed}
    passed_ids = {p.inspection_id for p in stream.planned if not p.failed}
    wrong_entries = {i: n for i, n in accounting.entries_per_inspection.items() if n != 1}
    assert not wrong_entries, f"inspections without exactly one ledger entry: {wrong_entries}"
    assert set(accounting.entries_per_inspection) == failed_ids
    wrong_notices = {i: n for i, n in accounting.notices_per_inspection.items() if n != 1}
    assert not wrong_notices, (
        f"inspections without exactly one rectification notice: {wrong_notices}"
    )
    assert set(accounting.notices_per_inspection) == failed_ids
    assert not passed_ids & set(accounting.notices_per_inspection)
    assert accounting.delivered_notices.get("rectification") == len(failed_ids)
    assert accounting.delivered_notices.get("score_change") == len(failed_ids)
    for household in stream.households:
        assert accounting.score_change_order.get(household, []) == stream.failed_in_order(
            household
        ), f"score changes of {household} out of inspection order"
