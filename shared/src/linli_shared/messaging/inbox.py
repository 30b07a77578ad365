"""Inbox: which events a consumer group has applied, committed with the handler's effect."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import Column, MetaData, String, Table, delete, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_shared.db import Database, UtcDateTime, insert_ignoring_conflicts


def inbox_table(metadata: MetaData) -> Table:
    return Table(
        "inbox",
        metadata,
        Column("consumer_group", String(200), primary_key=True),
        Column("event_id", String(100), primary_key=True),
        Column("event_type", String(200), nullable=False),
        Column("processed_at", UtcDateTime(), nullable=False),
    )


class Inbox:
    def __init__(self, table: Table) -> None:
        self._table = table

    async def claim(
        self, connection: AsyncConnection, group: str, event_id: str, event_type: str
    ) -> bool:
        """Record the event as applied; False when it already was (a redelivery).

        One statement: the insert does nothing on a known id. A concurrent claim of the same
        id waits for the first to commit (then claims nothing) or roll back (then claims it),
        so at most one of two racing deliveries commits its effect.
        """
        claimed = await connection.scalar(
            insert_ignoring_conflicts(connection, self._table).returning(self._table.c.event_id),
            {
                "consumer_group": group,
                "event_id": event_id,
                "event_type": event_type,
                "processed_at": datetime.now(UTC),
            },
        )
        return claimed is not None

    async def claim_all(
        self, connection: AsyncConnection, group: str, events: Sequence[tuple[str, str]]
    ) -> set[str]:
        """`claim` for a batch's events (id, type) in one statement: the ids claimed now."""
        if not events:
            return set()
        now = datetime.now(UTC)
        rows = [
            {"consumer_group": group, "event_id": id_, "event_type": type_, "processed_at": now}
            for id_, type_ in dict(events).items()  # an id twice in one statement: claimed once
        ]
        # The rows as parameters (SQLAlchemy sends them as one INSERT … VALUES …, …), not in the
        # statement: a statement holding the values is compiled anew for every batch.
        claimed = await connection.scalars(
            insert_ignoring_conflicts(connection, self._table).returning(self._table.c.event_id),
            rows,
        )
        return set(claimed)

    async def prune(self, database: Database, before: datetime, batch_size: int) -> int:
        """Forget events applied before `before`, `batch_size` at a time; returns how many.

        Safe only when no record older than that can be delivered again (see the retention
        settings): a forgotten id that came back would be applied a second time.
        """
        table = self._table
        key = tuple_(table.c.consumer_group, table.c.event_id)
        pruned = 0
        while True:
            oldest = (
                select(table.c.consumer_group, table.c.event_id)
                .where(table.c.processed_at < before)
                .limit(batch_size)
            )
            async with database.transaction() as connection:
                result = await connection.execute(delete(table).where(key.in_(oldest)))
            pruned += result.rowcount
            if result.rowcount < batch_size:
                return pruned
