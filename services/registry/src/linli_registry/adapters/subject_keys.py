"""Per-subject keys: crypto-shredding of the personal data in the registry's events.

Every household, resident and organisation is a subject with a key of its own, made the first
time an event carries its personal data. Its name, address and contact travel sealed under that
key (`linli_shared.crypto.Sealer`, bound to the subject's id), and only notify is given the key
(`GET /v1/subject-keys/{id}`, the `key_reader` role). Destroying the key makes every sealed copy
unreadable wherever it lies: each topic, dead-letter topic, the embedded event log, the outbox,
a backup of any of them. See docs/privacy.md.

At rest a key is encrypted under the registry's key ring (LINLI_REGISTRY_ENCRYPTION_KEYS), like
ID numbers and phones, and `linli registry rotate-keys` re-encrypts it under a new ring key.
A destroyed key's row keeps the subject, its kind and when the key was destroyed, and nothing of
the key: a destroyed subject never gets a key again, so nothing about it is sealed any more.

Every method joins the caller's transaction (`Database.transaction`): the erasure use case
destroys the keys in the transaction that anonymises the subject's rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_registry.adapters.tables import subject_keys
from linli_registry.domain.subject_keys import SubjectKey, SubjectKind
from linli_shared.clock import Clock
from linli_shared.crypto import KeyRing, generate_key
from linli_shared.db import Database, insert_ignoring_conflicts


class SubjectKeys:
    """The key store: `keys_for` (sealing an event), `find` and `find_all` (the key readers'
    routes), `destroy` (erasure), `destroyed` (what to destroy again after a restore)."""

    def __init__(self, database: Database, ring: KeyRing, clock: Clock) -> None:
        self._database = database
        self._ring = ring
        self._clock = clock

    async def keys_for(
        self, subjects: Mapping[uuid.UUID, SubjectKind]
    ) -> dict[uuid.UUID, str | None]:
        """Each subject's key, made on first use; None for a subject whose key was destroyed.

        Two transactions making the first key of one subject at once agree on one key: the
        second insert does nothing and both read the row that won.
        """
        if not subjects:
            return {}
        now = self._clock.now()
        async with self._database.transaction() as connection:
            found = await self._read(connection, subjects)
            missing = [s for s in subjects if s not in found]
            if missing:
                await connection.execute(
                    insert_ignoring_conflicts(connection, subject_keys),
                    [
                        {
                            "subject_id": subject,
                            "kind": subjects[subject],
                            "key_enc": self._ring.encrypt(generate_key()),
                            "created_at": now,
                        }
                        for subject in missing
                    ],
                )
                found.update(await self._read(connection, missing))
        return {subject: found[subject].key for subject in subjects}

    async def find(self, subject_id: uuid.UUID) -> SubjectKey | None:
        """The subject's key (or that it was destroyed); None for a subject that never had one."""
        async with self._database.transaction() as connection:
            return (await self._read(connection, [subject_id])).get(subject_id)

    async def find_all(self, subject_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, SubjectKey]:
        """The keys (or destructions) of those subjects that ever had one, in one statement."""
        if not subject_ids:
            return {}
        async with self._database.transaction() as connection:
            return await self._read(connection, subject_ids)

    async def destroy(self, subject_id: uuid.UUID, kind: SubjectKind) -> SubjectKey:
        """Make the subject's key unrecoverable, now and for good; idempotent.

        The key is overwritten in its row (NULL) in the caller's transaction: once that commits,
        no copy of the key is left in the live database (backups: docs/privacy.md). A subject
        that never had a key is recorded as destroyed too, so none is ever made for it.
        Returns the row as it stands: `destroyed_at` is the first destruction's time.
        """
        now = self._clock.now()
        async with self._database.transaction() as connection:
            await connection.execute(
                insert_ignoring_conflicts(connection, subject_keys),
                [
                    {
                        "subject_id": subject_id,
                        "kind": kind,
                        "key_enc": None,
                        "created_at": now,
                        "destroyed_at": now,
                    }
                ],
            )
            await connection.execute(
                update(subject_keys)
                .where(
                    subject_keys.c.subject_id == subject_id,
                    subject_keys.c.destroyed_at.is_(None),
                )
                .values(key_enc=None, destroyed_at=now)
            )
            return (await self._read(connection, [subject_id]))[subject_id]

    async def destroyed(self) -> list[SubjectKey]:
        """Every subject whose key was destroyed, oldest destruction first: the list to keep
        outside the database, and to destroy again after restoring it from a backup."""
        async with self._database.connect() as connection:
            rows = await connection.execute(
                select(subject_keys)
                .where(subject_keys.c.destroyed_at.is_not(None))
                .order_by(subject_keys.c.destroyed_at, subject_keys.c.subject_id)
            )
            return [self._key(row) for row in rows]

    async def _read(
        self, connection: AsyncConnection, subjects: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, SubjectKey]:
        rows = await connection.execute(
            select(subject_keys).where(subject_keys.c.subject_id.in_(list(subjects)))
        )
        return {row.subject_id: self._key(row) for row in rows}

    def _key(self, row: Any) -> SubjectKey:
        return SubjectKey(
            subject_id=row.subject_id,
            kind=row.kind,
            key=self._ring.decrypt(row.key_enc) if row.key_enc is not None else None,
            created_at=row.created_at,
            destroyed_at=row.destroyed_at,
        )
