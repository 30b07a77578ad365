"""Personal data sealed under each subject's key (crypto-shredding): notify opens names,
addresses and contacts with the keys the registry gives it; a destroyed key leaves nothing of the
subject behind, on first delivery and on replay, without dead-lettering; a registry that cannot
answer is a transient fault, never the event's."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from linli_notify.adapters.repository import NoticeRepository
from linli_notify.app import build_use_cases
from linli_notify.domain.notice import Recipient
from linli_notify.service import UseCases
from linli_shared.clock import FixedClock
from linli_shared.contracts import (
    HouseholdContactChanged,
    HouseholdMembersChanged,
    HouseholdMoved,
    HouseholdRegistered,
    OrganisationRegistered,
)
from linli_shared.contracts.erasure import ErasureRequested
from linli_shared.contracts.registry import SEALED_EMAIL, ContactV1, MemberV1
from linli_shared.crypto import Sealer, generate_key
from linli_shared.db import Database
from linli_shared.faults import is_infrastructure_error
from linli_shared.messaging.envelope import MalformedEvent
from linli_shared.messaging.processing import UnknownSubject
from linli_shared.subject_keys import (
    SUBJECT_KEYS_PER_READ,
    CachedSubjectKeys,
    RegistryKeyClient,
    SubjectKeyUnavailable,
)
from services.notify.tests.notify_support import apply, settings_for

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


class RegistryKeys:
    """The registry's keys as notify sees them: a key per subject, some destroyed, or the
    registry away."""

    def __init__(self) -> None:
        self.keys: dict[uuid.UUID, str] = {}
        self.destroyed: set[uuid.UUID] = set()
        self.away = False
        self.asked: list[uuid.UUID] = []
        self.reads = 0  # batch reads

    def key(self, subject: uuid.UUID) -> str:
        return self.keys.setdefault(subject, generate_key())

    def seal(self, subject: uuid.UUID, **values: str | None) -> str:
        return Sealer([self.key(subject)]).seal(str(subject), values)

    def destroy(self, subject: uuid.UUID) -> None:
        self.keys.pop(subject, None)
        self.destroyed.add(subject)

    async def key_of(self, subject_id: uuid.UUID) -> str | None:
        self.asked.append(subject_id)
        if self.away:
            raise SubjectKeyUnavailable("the registry is unreachable")
        if subject_id in self.destroyed:
            return None
        if subject_id not in self.keys:
            raise UnknownSubject(subject_id, "subject key")
        return self.keys[subject_id]

    async def keys_of(self, subject_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str | None]:
        asked = list(subject_ids)
        self.asked.extend(asked)
        self.reads += 1
        if self.away:
            raise SubjectKeyUnavailable("the registry is unreachable")
        return {
            subject: None if subject in self.destroyed else self.keys[subject]
            for subject in asked
            if subject in self.destroyed or subject in self.keys
        }


@pytest.fixture
def registry() -> RegistryKeys:
    return RegistryKeys()


@pytest.fixture
def notify(database: Database, registry: RegistryKeys) -> UseCases:
    # No cache: each test sees a destruction at once (the cache has a test of its own).
    settings = settings_for(database, registry_cache_seconds=0)
    return build_use_cases(database, settings, FixedClock(NOW), subject_keys=registry)


def member(registry: RegistryKeys, resident: uuid.UUID, name: str, relation: str) -> MemberV1:
    return MemberV1(
        name="",
        relation=relation,
        resident_id=resident,
        name_sealed=registry.seal(resident, name=name),
    )


def registered(
    registry: RegistryKeys, household: uuid.UUID, head: uuid.UUID, spouse: uuid.UUID
) -> HouseholdRegistered:
    """As the registry writes it: every personal value sealed under its subject's key."""
    return HouseholdRegistered(
        household_id=household,
        community_id="c",
        grid_id="g",
        address="",
        address_sealed=registry.seal(household, address="幸福路 1 号"),
        members=[
            MemberV1(
                name="",
                relation="head",
                resident_id=head,
                name_sealed=registry.seal(head, name="张三"),
            ),
            MemberV1(
                name="",
                relation="spouse",
                resident_id=spouse,
                name_sealed=registry.seal(spouse, name="李四"),
            ),
        ],
        contact_email=SEALED_EMAIL,
        registered_at=NOW - timedelta(days=1),
        contact=ContactV1(
            preferred_channels=["sms", "email"],
            subject_sealed=registry.seal(household, email="zhang@example.cn", phone="13812345678"),
        ),
    )


async def _recipient(database: Database, recipient_id: uuid.UUID) -> Recipient | None:
    async with database.connect() as connection:
        return await NoticeRepository(connection).recipient(recipient_id)


async def test_names_addresses_and_contacts_open_under_their_subjects_keys(
    notify: UseCases, database: Database, registry: RegistryKeys
) -> None:
    household, head, spouse, shop = (uuid.uuid4() for _ in range(4))

    await apply(notify, database, registered(registry, household, head, spouse))
    await apply(
        notify,
        database,
        OrganisationRegistered(
            organisation_id=shop,
            kind="shop",
            name="好邻居便利店",
            community_id="c",
            contact=ContactV1(
                subject_sealed=registry.seal(shop, email="shop@example.cn", phone=None)
            ),
            registered_at=NOW,
        ),
    )

    mine = await _recipient(database, household)
    assert mine is not None
    assert (mine.name, mine.address) == ("张三", "幸福路 1 号")
    assert (mine.email, mine.phone) == ("zhang@example.cn", "13812345678")
    theirs = await _recipient(database, shop)
    assert theirs is not None and theirs.email == "shop@example.cn"
    assert set(registry.asked) == {household, head, shop}  # the spouse's name is not needed


async def test_a_destroyed_household_key_leaves_no_address_or_contact(
    notify: UseCases, database: Database, registry: RegistryKeys
) -> None:
    household, head, spouse = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    event = registered(registry, household, head, spouse)
    registry.destroy(household)

    await apply(notify, database, event)  # applied, not dead-lettered

    recipient = await _recipient(database, household)
    assert recipient is not None
    assert (recipient.address, recipient.email, recipient.phone) == (None, None, None)
    assert recipient.name == "张三"  # the head's own key still opens the name


async def test_a_destroyed_resident_key_leaves_no_name(
    notify: UseCases, database: Database, registry: RegistryKeys
) -> None:
    household, head, spouse = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await apply(notify, database, registered(registry, household, head, spouse))
    members = HouseholdMembersChanged(
        household_id=household,
        members=[
            MemberV1(
                name="",
                relation="head",
                resident_id=head,
                name_sealed=registry.seal(head, name="张三"),
            )
        ],
        changed_at=NOW,
        version=2,
    )
    registry.destroy(head)

    await apply(notify, database, members)

    recipient = await _recipient(database, household)
    assert recipient is not None and recipient.name == ""
    assert recipient.email == "zhang@example.cn"  # the household's key still opens its contact


async def test_replaying_every_event_after_the_keys_are_destroyed_brings_nothing_back(
    notify: UseCases, database: Database, registry: RegistryKeys
) -> None:
    household, head, spouse = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    history = [
        registered(registry, household, head, spouse),
        HouseholdMoved(
            household_id=household,
            community_id="c",
            grid_id="g",
            address="",
            address_sealed=registry.seal(household, address="安康路 8 号"),
            moved_at=NOW,
            version=2,
        ),
        HouseholdContactChanged(
            household_id=household,
            contact=ContactV1(
                subject_sealed=registry.seal(household, email="new@example.cn", phone="13900001111")
            ),
            changed_at=NOW,
            version=3,
        ),
    ]
    for event in history:
        await apply(notify, database, event)
    registry.destroy(household)
    registry.destroy(head)
    registry.destroy(spouse)

    for event in history:  # the consumer group rewound, the inbox pruned: applied anew
        await apply(notify, database, event)

    recipient = await _recipient(database, household)
    assert recipient is not None
    assert (recipient.name, recipient.address) == ("", None)
    assert (recipient.email, recipient.phone) == (None, None)


async def test_an_unreachable_registry_is_a_fault_of_the_surroundings_and_changes_nothing(
    notify: UseCases, database: Database, registry: RegistryKeys
) -> None:
    household = uuid.uuid4()
    event = registered(registry, household, uuid.uuid4(), uuid.uuid4())
    registry.away = True

    with pytest.raises(SubjectKeyUnavailable) as away:
        await apply(notify, database, event)

    # The record processor retries such a fault until the registry answers: never a dead letter.
    assert is_infrastructure_error(away.value)
    assert await _recipient(database, household) is None
    registry.away = False
    await apply(notify, database, event)
    assert (recipient := await _recipient(database, household)) is not None
    assert recipient.email == "zhang@example.cn"


async def test_a_value_sealed_for_another_subject_is_refused(
    notify: UseCases, database: Database, registry: RegistryKeys
) -> None:
    household, other = uuid.uuid4(), uuid.uuid4()
    event = registered(registry, household, uuid.uuid4(), uuid.uuid4())
    registry.keys[other] = registry.key(household)  # even under the very same key
    copied = event.model_copy(update={"household_id": other})

    with pytest.raises(MalformedEvent, match="sealed"):
        await apply(notify, database, copied)
    assert await _recipient(database, other) is None


# --- the registry's API -----------------------------------------------------------------------


def _client(
    answer: Callable[[httpx.Request], httpx.Response], token: str = "notify-token"
) -> tuple[RegistryKeyClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer(request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return RegistryKeyClient("http://registry:8000/", token, 2.0, client), seen


async def test_the_registry_is_asked_with_notifys_token_and_410_means_destroyed() -> None:
    subject, key = uuid.uuid4(), generate_key()
    keys, seen = _client(lambda request: httpx.Response(200, json={"key": key}))
    assert await keys.key_of(subject) == key
    assert str(seen[0].url) == f"http://registry:8000/v1/subject-keys/{subject}"
    assert seen[0].headers["authorization"] == "Bearer notify-token"

    gone, _ = _client(lambda request: httpx.Response(410, json={"type": "gone"}))
    assert await gone.key_of(subject) is None
    unknown, _ = _client(lambda request: httpx.Response(404))
    with pytest.raises(UnknownSubject):
        await unknown.key_of(subject)


@dataclass
class _Served:
    """What a registry on 127.0.0.1 (`_registry_serving`) saw: its address, the connections
    opened to it and each request's target."""

    url: str
    connections: int = 0
    targets: list[str] = field(default_factory=list)


@contextlib.asynccontextmanager
async def _registry_serving(answer: Callable[[str], object]) -> AsyncIterator[_Served]:
    """A real HTTP/1.1 server answering each request's target with `answer(target)` as JSON."""
    served = _Served("")

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        served.connections += 1
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while head := await reader.readuntil(b"\r\n\r\n"):
                target = head.split(b" ")[1].decode()
                served.targets.append(target)
                body = json.dumps(answer(target)).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    + f"content-length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                await writer.drain()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    served.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        yield served
    finally:
        server.close()


async def test_keys_are_asked_over_one_kept_connection_not_one_per_key() -> None:
    """A real HTTP server on 127.0.0.1 counts the connections three key requests open."""
    key = generate_key()
    async with _registry_serving(lambda target: {"key": key}) as registry:
        keys = RegistryKeyClient(registry.url, "notify-token")
        for _ in range(3):
            assert await keys.key_of(uuid.uuid4()) == key
    assert registry.connections == 1


class _ImportsSought:
    """A meta path finder that notes each module the import system looks for, and finds none."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        self.names.append(name)


async def test_asking_for_a_key_looks_for_no_module_once_the_client_is_warm() -> None:
    """httpcore imports sniffio on every request; were it missing, each request would search
    sys.path for it (a failed import is not remembered), about 0.1 ms of CPU per key asked."""
    key = generate_key()
    async with _registry_serving(lambda target: {"key": key}) as registry:
        keys = RegistryKeyClient(registry.url, "notify-token")
        await keys.key_of(uuid.uuid4())
        sought = _ImportsSought()
        sys.meta_path.insert(0, sought)
        try:
            for _ in range(3):
                assert await keys.key_of(uuid.uuid4()) == key
        finally:
            sys.meta_path.remove(sought)
    assert sought.names == []


async def test_a_notes_keys_are_asked_in_one_request_not_one_per_subject() -> None:
    """A real HTTP server on 127.0.0.1 answers the household's and its members' keys."""
    subjects = [uuid.uuid4() for _ in range(6)]
    keys = {subject: generate_key() for subject in subjects}

    def answer(target: str) -> object:
        asked = parse_qs(urlsplit(target).query)["subject_id"]
        return {
            "keys": [
                {"subject_id": s, "kind": "resident", "key": keys[uuid.UUID(s)]} for s in asked
            ],
            "destroyed": [],
            "unknown": [],
        }

    async with _registry_serving(answer) as registry:
        client = RegistryKeyClient(registry.url, "notify-token")
        assert await client.keys_of(subjects) == keys
    [target] = registry.targets
    assert urlsplit(target).path == "/v1/subject-keys"


async def test_several_keys_answer_destroyed_as_none_and_leave_the_unknown_out() -> None:
    live, gone, unknown = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    key = generate_key()
    answer = {
        "keys": [{"subject_id": str(live), "kind": "household", "key": key}],
        "destroyed": [{"subject_id": str(gone), "kind": "resident", "destroyed_at": "2026-03-01"}],
        "unknown": [str(unknown)],
    }
    keys, seen = _client(lambda request: httpx.Response(200, json=answer))
    assert await keys.keys_of([live, gone, unknown, live]) == {live: key, gone: None}
    [request] = seen
    assert request.url.params.get_list("subject_id") == [str(live), str(gone), str(unknown)]
    assert request.headers["authorization"] == "Bearer notify-token"
    assert await keys.keys_of([]) == {} and len(seen) == 1

    with pytest.raises(SubjectKeyUnavailable, match="other subjects"):
        await keys.keys_of([live, gone, unknown, uuid.uuid4()])
    broken: list[dict[str, object]] = [
        {"keys": []},
        {"keys": [{"subject_id": "x"}], "destroyed": [], "unknown": []},
        {"keys": [{"subject_id": str(live), "key": None}], "destroyed": [], "unknown": []},
    ]
    for body in broken:
        malformed, _ = _client(functools.partial(_answered, body))
        with pytest.raises(SubjectKeyUnavailable):
            await malformed.keys_of([live])


async def test_a_registry_older_than_the_batch_read_is_asked_one_key_at_a_time() -> None:
    """Midway through a rolling upgrade a new notify or inspections meets a registry released
    before `GET /v1/subject-keys?subject_id=…`: its router answers 404 there, and the keys come
    from the single reads that registry has."""
    live, gone, unknown = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    key = generate_key()

    def released_before(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/subject-keys":
            # What the registry released before the batch read answers there: no such route.
            problem = {"type": "https://linli.dev/problems/not-found", "status": 404}
            return httpx.Response(404, json=problem)
        subject = uuid.UUID(request.url.path.rsplit("/", 1)[1])
        if subject == live:
            return httpx.Response(200, json={"subject_id": str(live), "key": key})
        return httpx.Response(410 if subject == gone else 404)

    keys, seen = _client(released_before)
    assert await keys.keys_of([live, gone, unknown]) == {live: key, gone: None}
    assert [request.url.path for request in seen] == [
        "/v1/subject-keys",
        *(f"/v1/subject-keys/{subject}" for subject in (live, gone, unknown)),
    ]


def _answered(body: dict[str, object], request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=body)


async def test_more_keys_than_one_read_answers_are_asked_in_as_few_reads_as_fit() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        asked = request.url.params.get_list("subject_id")
        assert len(asked) <= SUBJECT_KEYS_PER_READ
        return httpx.Response(200, json={"keys": [], "destroyed": [], "unknown": asked})

    keys, seen = _client(answer)
    assert await keys.keys_of(uuid.uuid4() for _ in range(SUBJECT_KEYS_PER_READ + 1)) == {}
    assert len(seen) == 2


def _refused(status: int) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(status)


def _unreachable(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


@pytest.mark.parametrize(
    "answer",
    [_unreachable, _refused(401), _refused(403), _refused(500), _refused(503)],
    ids=["unreachable", "401", "403", "500", "503"],
)
async def test_a_registry_that_cannot_answer_is_a_transient_fault(
    answer: Callable[[httpx.Request], httpx.Response],
) -> None:
    keys, _ = _client(answer)
    with pytest.raises(SubjectKeyUnavailable) as error:
        await keys.key_of(uuid.uuid4())
    assert is_infrastructure_error(error.value)


@pytest.mark.parametrize(
    "answer",
    [_unreachable, _refused(401), _refused(403), _refused(422), _refused(500)],
    ids=["unreachable", "401", "403", "422", "500"],
)
async def test_a_registry_that_cannot_answer_several_keys_is_a_transient_fault(
    answer: Callable[[httpx.Request], httpx.Response],
) -> None:
    keys, _ = _client(answer)
    with pytest.raises(SubjectKeyUnavailable) as error:
        await keys.keys_of([uuid.uuid4(), uuid.uuid4()])
    assert is_infrastructure_error(error.value)


async def test_without_the_registrys_address_nothing_sealed_opens_but_nothing_is_lost() -> None:
    with pytest.raises(SubjectKeyUnavailable, match="LINLI_NOTIFY_REGISTRY_URL"):
        await RegistryKeyClient(None, None).key_of(uuid.uuid4())


async def test_answers_are_kept_briefly_and_forgotten_on_request(registry: RegistryKeys) -> None:
    now = [0.0]
    subject = uuid.uuid4()
    registry.key(subject)
    cached = CachedSubjectKeys(registry, ttl_seconds=30, clock=lambda: now[0])
    ask: Callable[[], Awaitable[str | None]] = lambda: cached.key_of(subject)  # noqa: E731

    first = await ask()
    await ask()
    assert registry.asked == [subject]
    registry.destroy(subject)
    now[0] = 31.0
    assert first is not None and await ask() is None  # a destruction is seen after the ttl
    registry.keys[subject] = first  # (never happens; shows the next answer is fetched)
    registry.destroyed.clear()
    cached.forget(subject)
    assert await ask() == first
    assert len(registry.asked) == 3


async def test_kept_answers_are_not_asked_again_and_the_others_in_one_read(
    registry: RegistryKeys,
) -> None:
    now = [0.0]
    kept, live, gone, unknown = (uuid.uuid4() for _ in range(4))
    for subject in (kept, live, gone):
        registry.key(subject)
    registry.destroy(gone)
    cached = CachedSubjectKeys(registry, ttl_seconds=30, clock=lambda: now[0])
    first = await cached.key_of(kept)

    answer = await cached.keys_of([kept, live, gone, unknown])
    assert answer == {kept: first, live: registry.keys[live], gone: None}
    assert registry.asked == [kept, live, gone, unknown] and registry.reads == 1
    again = await cached.keys_of([kept, live, gone, unknown])
    assert again == answer
    assert registry.asked[4:] == [unknown] and registry.reads == 2  # the unknown is not kept
    now[0] = 31.0
    await cached.keys_of([kept, live])
    assert registry.asked[5:] == [kept, live] and registry.reads == 3


async def test_after_an_erasure_a_replay_opens_nothing_of_the_household_with_cached_keys(
    database: Database, registry: RegistryKeys
) -> None:
    # The cache on (30 s): the erasure itself empties it.
    cached = build_use_cases(
        database,
        settings_for(database, registry_cache_seconds=30),
        FixedClock(NOW),
        subject_keys=registry,
    )
    household, head, spouse = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    event = registered(registry, household, head, spouse)
    await apply(cached, database, event)
    for subject in (household, head, spouse):  # the registry erases the household ...
        registry.destroy(subject)
    await apply(  # ... and asks every service to erase it
        cached,
        database,
        ErasureRequested(erasure_id=uuid.uuid4(), household_id=household, requested_at=NOW),
    )

    await apply(cached, database, event, event_id=str(uuid.uuid4()))  # a replay, inbox pruned

    recipient = await _recipient(database, household)
    assert recipient is not None
    assert (recipient.name, recipient.address, recipient.email, recipient.phone) == (
        "",
        None,
        None,
        None,
    )
