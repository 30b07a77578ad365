"""Key rotation: re-encrypt every encrypted personal-data column, and every subject key, under
the current key.

Rolling out a new key: put it first in LINLI_REGISTRY_ENCRYPTION_KEYS (the old one stays, so
everything still decrypts), deploy, run `linli registry rotate-keys`, then remove the old key.
The job walks each table in primary-key order in bounded batches, one transaction per batch. A
value already under the current key is left alone, so running it again (or after it stopped
half-way) only does what is left. Each value is written back only if it is still the one that
was read: a concurrent change by the API (already under the current key) is never overwritten.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, Table, and_, or_, select, tuple_, update

from linli_registry.adapters.tables import (
    access_answers,
    access_requests,
    households,
    members,
    organisations,
    subject_keys,
)
from linli_shared.crypto import FieldCipher
from linli_shared.db import Database


@dataclass(frozen=True)
class EncryptedColumns:
    table: Table
    columns: tuple[str, ...]

    @property
    def key(self) -> tuple[Column[Any], ...]:
        return tuple(self.table.primary_key.columns)


# Every column holding personal data encrypted at rest.
ENCRYPTED = (
    EncryptedColumns(households, ("contact_phone_enc",)),
    EncryptedColumns(members, ("id_number_enc", "phone_enc")),
    EncryptedColumns(organisations, ("contact_phone_enc",)),
    # The per-subject keys of crypto-shredding (a destroyed one holds nothing to rotate).
    EncryptedColumns(subject_keys, ("key_enc",)),
    # Access requests: the key that opens the services' answers, and the answers as opened.
    EncryptedColumns(access_requests, ("private_key_enc",)),
    EncryptedColumns(access_answers, ("records_enc",)),
)


@dataclass
class RotationReport:
    """Per table: rows examined, values re-encrypted."""

    examined: dict[str, int] = field(default_factory=dict)
    rotated: dict[str, int] = field(default_factory=dict)

    @property
    def total_rotated(self) -> int:
        return sum(self.rotated.values())


class KeyRotation:
    def __init__(self, database: Database, cipher: FieldCipher, batch_size: int = 500) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._database = database
        self._cipher = cipher
        self._batch_size = batch_size

    async def run(self, on_batch: Callable[[str, int], None] | None = None) -> RotationReport:
        """Rotate every table; `on_batch(table, rows)` after each committed batch."""
        report = RotationReport()
        for encrypted in ENCRYPTED:
            name = encrypted.table.name
            report.examined[name] = report.rotated[name] = 0
            after: tuple[Any, ...] | None = None
            while True:
                examined, rotated, after = await self._batch(encrypted, after)
                report.examined[name] += examined
                report.rotated[name] += rotated
                if on_batch is not None and examined:
                    on_batch(name, examined)
                if after is None:
                    break
        return report

    async def _batch(
        self, encrypted: EncryptedColumns, after: tuple[Any, ...] | None
    ) -> tuple[int, int, tuple[Any, ...] | None]:
        """One batch after the key `after`: (rows examined, values rotated, last key or None)."""
        table, key = encrypted.table, encrypted.key
        columns = [table.c[name] for name in encrypted.columns]
        query = (
            select(*key, *columns)
            .where(or_(*(column.is_not(None) for column in columns)))
            .order_by(*key)
            .limit(self._batch_size)
        )
        if after is not None:
            query = query.where(tuple_(*key) > tuple_(*after))
        rotated = 0
        async with self._database.transaction() as connection:
            rows = (await connection.execute(query)).all()
            for row in rows:
                changes = self._rotated_values(row, encrypted.columns)
                if not changes:
                    continue
                still_the_same = [table.c[name] == row._mapping[name] for name in changes]
                result = await connection.execute(
                    update(table)
                    .where(*_matches(key, row), and_(*still_the_same))
                    .values(**changes)
                )
                rotated += len(changes) if result.rowcount == 1 else 0
        last = tuple(rows[-1]._mapping[c.name] for c in key) if rows else None
        return len(rows), rotated, last if len(rows) == self._batch_size else None

    def _rotated_values(self, row: Any, names: Sequence[str]) -> dict[str, str]:
        changes = {}
        for name in names:
            value = row._mapping[name]
            if value is not None and not self._cipher.is_current(value):
                changes[name] = self._cipher.rotate(value)
        return changes


def _matches(key: Sequence[Column[Any]], row: Any) -> list[Any]:
    return [column == row._mapping[column.name] for column in key]
