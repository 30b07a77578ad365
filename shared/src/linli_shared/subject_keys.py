"""The registry's per-subject keys, as the services that seal or open personal data in events
get them (crypto-shredding, docs/privacy.md): notify opens names, addresses and contacts the
registry sealed, and inspectors' notes inspections sealed; inspections seals those notes under
the key of the household (or organisation) they are about.

The port, `SubjectKeySource.key_of(subject)`, answers the key, or None once the registry has
destroyed it (the subject was erased: nothing sealed under it opens any more, and nothing new is
sealed under it); `keys_of(subjects)` answers several at once, as a note's household and members
need them (one read, not one per subject). Two sources: `RegistryKeyClient` asks the registry's
API (`GET /v1/subject-keys/{id}` and `GET /v1/subject-keys?subject_id=…` with the service's
`key_reader` token); `linli run` passes one that calls the registry in the same process.
`CachedSubjectKeys` keeps answers briefly, so a burst of one household's events (or requests)
asks once.

A registry that cannot answer (away, refusing the token, failing) is not the event's fault:
`SubjectKeyUnavailable` is a `ConnectionError`, which the record processor retries with backoff
until it answers, never dead-lettering the event (`linli_shared.faults`); an API answers 503.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

import httpx

from linli_shared.messaging.processing import UnknownSubject

KEYS_KEPT = 10_000
# The most subjects one read of the registry's (`GET /v1/subject-keys?subject_id=…`) answers:
# a household and its members fit; a client asking for more asks in several reads.
SUBJECT_KEYS_PER_READ = 50


class SubjectKeyUnavailable(ConnectionError):
    """The registry did not answer with a key or its destruction: try again later."""


class SubjectKeySource(Protocol):
    async def key_of(self, subject_id: uuid.UUID) -> str | None:
        """The subject's key; None once destroyed. Raises `SubjectKeyUnavailable` when the
        registry cannot say, `UnknownSubject` when it holds no key for the subject."""
        ...

    async def keys_of(self, subject_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str | None]:
        """Each subject's key, None once destroyed; a subject the registry holds no key for is
        left out of the answer (where `key_of` raises `UnknownSubject`), so each caller decides
        what an unknown one means. Raises `SubjectKeyUnavailable` when the registry cannot say."""
        ...


def batches(subject_ids: Iterable[uuid.UUID]) -> Iterator[list[uuid.UUID]]:
    """The distinct subjects, in order, in reads of at most `SUBJECT_KEYS_PER_READ`."""
    distinct = list(dict.fromkeys(subject_ids))
    for start in range(0, len(distinct), SUBJECT_KEYS_PER_READ):
        yield distinct[start : start + SUBJECT_KEYS_PER_READ]


class RegistryKeyClient:
    """Asks the registry's API with the service's bearer token (the `key_reader` role);
    `settings_prefix` names the service's settings in the error when they are missing."""

    def __init__(
        self,
        base_url: str | None,
        token: str | None,
        timeout_seconds: float = 5.0,
        client: httpx.AsyncClient | None = None,
        settings_prefix: str = "LINLI_NOTIFY",
    ) -> None:
        self._base_url = base_url.rstrip("/") if base_url else None
        self._token = token
        self._timeout = timeout_seconds
        self._client = client
        self._prefix = settings_prefix

    async def key_of(self, subject_id: uuid.UUID) -> str | None:
        response = await self._get(f"/v1/subject-keys/{subject_id}")
        if response.status_code == 410:
            return None
        if response.status_code == 404:
            raise UnknownSubject(subject_id, "subject key")
        _refused_unless_ok(response)
        try:
            key = response.json()["key"]
        except (ValueError, KeyError, TypeError) as error:
            raise SubjectKeyUnavailable("the registry answered without a key") from error
        if not isinstance(key, str):
            raise SubjectKeyUnavailable("the registry answered without a key")
        return key

    async def keys_of(self, subject_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str | None]:
        """One read of the registry's per `SUBJECT_KEYS_PER_READ` subjects (a household and its
        members: one), not one per subject."""
        answer: dict[uuid.UUID, str | None] = {}
        for batch in batches(subject_ids):
            response = await self._get(
                "/v1/subject-keys", params={"subject_id": [str(subject) for subject in batch]}
            )
            if response.status_code in (404, 405):
                # A registry older than the batch read (midway through a rolling upgrade) has
                # no such route; the batch route itself answers unknown subjects with a 200.
                answer.update(await self._one_by_one(batch))
                continue
            _refused_unless_ok(response)
            answer.update(_keys_answered(batch, response))
        return answer

    async def _one_by_one(self, subject_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str | None]:
        answer: dict[uuid.UUID, str | None] = {}
        for subject_id in subject_ids:
            with contextlib.suppress(UnknownSubject):  # left out, as the batch read leaves it
                answer[subject_id] = await self.key_of(subject_id)
        return answer

    async def _get(
        self, path: str, params: Mapping[str, list[str]] | None = None
    ) -> httpx.Response:
        if self._base_url is None or not self._token:
            raise SubjectKeyUnavailable(
                f"{self._prefix}_REGISTRY_URL and {self._prefix}_REGISTRY_TOKEN must be set to "
                "seal or open personal data in events under subject keys"
            )
        headers = {"Authorization": f"Bearer {self._token}"}
        try:
            return await self._http().get(
                self._base_url + path, params=params, headers=headers, timeout=self._timeout
            )
        except httpx.HTTPError as error:
            raise SubjectKeyUnavailable(f"the registry is unreachable: {error!r}") from error

    def _http(self) -> httpx.AsyncClient:
        """One client for the process's life, made on first use (in the running event loop). A
        client per key cost an SSL context and a TCP connection each time: measured, it was
        45 % of the inspections API's CPU and 17 % of notify's in the loop benchmark."""
        if self._client is None:
            self._client = httpx.AsyncClient()
        return self._client


def _refused_unless_ok(response: httpx.Response) -> None:
    if response.status_code != 200:
        # 401/403: the service's credential is wrong or expired; 5xx: the registry fails.
        # Neither is the event's fault: it waits for the operator or the registry.
        raise SubjectKeyUnavailable(
            f"the registry refused the subject key: HTTP {response.status_code}"
        )


def _keys_answered(
    asked: Sequence[uuid.UUID], response: httpx.Response
) -> dict[uuid.UUID, str | None]:
    """The registry's batch answer (`keys`, `destroyed`, `unknown`) as the port's: keys, None
    for the destroyed, the unknown left out; an answer that leaves out a subject asked for, or
    names one that was not, is no answer."""
    try:
        body: dict[str, Any] = response.json()
        answer: dict[uuid.UUID, str | None] = {
            uuid.UUID(each["subject_id"]): _key_in(each) for each in body["keys"]
        }
        answer.update((uuid.UUID(each["subject_id"]), None) for each in body["destroyed"])
        unknown = {uuid.UUID(each) for each in body["unknown"]}
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise SubjectKeyUnavailable("the registry answered without the keys") from error
    if answer.keys() | unknown != set(asked) or answer.keys() & unknown:
        raise SubjectKeyUnavailable("the registry answered for other subjects than asked")
    return {subject: answer[subject] for subject in asked if subject in answer}


def _key_in(answered: dict[str, Any]) -> str:
    key = answered["key"]
    if not isinstance(key, str):
        raise TypeError("a key that is not a string")
    return key


class CachedSubjectKeys:
    """Answers (keys and destructions) kept for `ttl_seconds`, at most `KEYS_KEPT` of them,
    least recently used out first. A key destroyed meanwhile is seen after at most the ttl;
    `forget` drops a subject's answer at once (notify's own erasure of the subject)."""

    def __init__(
        self,
        source: SubjectKeySource,
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._ttl = ttl_seconds
        self._clock = clock
        self._kept: OrderedDict[uuid.UUID, tuple[str | None, float]] = OrderedDict()

    async def key_of(self, subject_id: uuid.UUID) -> str | None:
        kept = self._kept.get(subject_id)
        if kept is not None and self._clock() < kept[1]:
            self._kept.move_to_end(subject_id)
            return kept[0]
        key = await self._source.key_of(subject_id)
        self._keep(subject_id, key)
        return key

    async def keys_of(self, subject_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str | None]:
        """The kept answers, and the others from the source in one ask; an unknown subject is
        not kept (as `key_of` keeps none), so it is asked again next time."""
        asked = list(dict.fromkeys(subject_ids))
        now = self._clock()
        answer: dict[uuid.UUID, str | None] = {}
        missing: list[uuid.UUID] = []
        for subject_id in asked:
            kept = self._kept.get(subject_id)
            if kept is not None and now < kept[1]:
                self._kept.move_to_end(subject_id)
                answer[subject_id] = kept[0]
            else:
                missing.append(subject_id)
        if missing:
            fetched = await self._source.keys_of(missing)
            for subject_id, key in fetched.items():
                self._keep(subject_id, key)
            answer.update(fetched)
        return {subject: answer[subject] for subject in asked if subject in answer}

    def _keep(self, subject_id: uuid.UUID, key: str | None) -> None:
        if self._ttl > 0:
            self._kept[subject_id] = (key, self._clock() + self._ttl)
            self._kept.move_to_end(subject_id)
            if len(self._kept) > KEYS_KEPT:
                self._kept.popitem(last=False)

    def forget(self, subject_id: uuid.UUID) -> None:
        self._kept.pop(subject_id, None)

    def forget_all(self) -> None:
        self._kept.clear()
