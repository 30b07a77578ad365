"""Access requests as stored, the key that opens the services' answers, and the answers as
opened (encrypted at rest under the registry's key ring)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_registry.adapters.tables import access_answers, access_requests
from linli_registry.domain.access import AccessRequest
from linli_shared.crypto import KeyRing


class AccessRequestRepository:
    def __init__(self, connection: AsyncConnection, ring: KeyRing) -> None:
        self._connection = connection
        self._ring = ring

    async def add(self, request: AccessRequest, private_key: str) -> None:
        await self._connection.execute(
            insert(access_requests).values(
                id=request.id,
                household_id=request.household_id,
                resident_id=request.resident_id,
                reason=request.reason,
                requested_by=request.requested_by,
                requested_at=request.requested_at,
                private_key_enc=self._ring.encrypt(private_key),
                completed_at=request.completed_at,
            )
        )

    async def get(self, request_id: uuid.UUID, *, for_update: bool = False) -> AccessRequest | None:
        query = select(access_requests).where(access_requests.c.id == request_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._connection.execute(query)).one_or_none()
        if row is None:
            return None
        answers = await self._connection.execute(
            select(access_answers.c.service, access_answers.c.record_count).where(
                access_answers.c.access_request_id == request_id
            )
        )
        return AccessRequest(
            id=row.id,
            household_id=row.household_id,
            resident_id=row.resident_id,
            reason=row.reason,
            requested_by=row.requested_by,
            requested_at=row.requested_at,
            answered={str(service): int(count) for service, count in answers.all()},
            completed_at=row.completed_at,
        )

    async def private_key(self, request_id: uuid.UUID) -> str | None:
        """The key that opens the services' answers; None once every service has answered."""
        token = (
            await self._connection.execute(
                select(access_requests.c.private_key_enc).where(access_requests.c.id == request_id)
            )
        ).scalar_one_or_none()
        return None if token is None else self._ring.decrypt(token)

    async def add_answer(
        self,
        request_id: uuid.UUID,
        service: str,
        records: list[dict[str, Any]] | None,
        count: int,
        answered_at: datetime,
    ) -> None:
        """`service`'s records as opened (None: they could not be kept, an erasure came first)."""
        await self._connection.execute(
            insert(access_answers).values(
                access_request_id=request_id,
                service=service,
                record_count=count,
                records_enc=None
                if records is None
                else self._ring.encrypt(json.dumps(records, ensure_ascii=False)),
                answered_at=answered_at,
            )
        )

    async def complete(self, request_id: uuid.UUID, completed_at: datetime) -> None:
        """Every service has answered: the key that opened their answers is needed no more."""
        await self._connection.execute(
            update(access_requests)
            .where(access_requests.c.id == request_id)
            .values(completed_at=completed_at, private_key_enc=None)
        )

    async def records(self, request_id: uuid.UUID) -> dict[str, list[dict[str, Any]] | None]:
        """Each service's records as opened, by service; None where an erasure removed them."""
        rows = await self._connection.execute(
            select(access_answers.c.service, access_answers.c.records_enc).where(
                access_answers.c.access_request_id == request_id
            )
        )
        return {
            str(service): None if token is None else json.loads(self._ring.decrypt(token))
            for service, token in rows.all()
        }

    async def erase(self, household_id: uuid.UUID, resident_id: uuid.UUID | None) -> int:
        """Remove the records of the erased resident's (or the household's) access requests
        and the keys that open answers still to come; the requests and their counts stay.
        Returns the answers whose records went."""
        about = (
            access_requests.c.household_id == household_id
            if resident_id is None
            else access_requests.c.resident_id == resident_id
        )
        ids = select(access_requests.c.id).where(about)
        await self._connection.execute(
            update(access_requests).where(about).values(private_key_enc=None)
        )
        result = await self._connection.execute(
            update(access_answers)
            .where(
                access_answers.c.access_request_id.in_(ids),
                access_answers.c.records_enc.is_not(None),
            )
            .values(records_enc=None)
        )
        return int(result.rowcount or 0)
