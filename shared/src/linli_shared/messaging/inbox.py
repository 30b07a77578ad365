"""Inbox: which events a consumer group has applied, committed with the handler's effect."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, MetaData, String, Table, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_shared.db import UtcDateTime


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

        A concurrent claim of the same id fails the transaction on the primary key, so at most
        one of two racing deliveries can commit its effect.
        """
        table = self._table
        seen = await connection.scalar(
            select(table.c.event_id).where(
                table.c.consumer_group == group, table.c.event_id == event_id
            )
        )
        if seen is not None:
            return False
        await connection.execute(
            insert(table).values(
                consumer_group=group,
                event_id=event_id,
                event_type=event_type,
                processed_at=datetime.now(UTC),
            )
        )
        return True
