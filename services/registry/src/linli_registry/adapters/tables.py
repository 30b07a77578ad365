from sqlalchemy import Column, ForeignKey, Integer, MetaData, String, Table, Uuid

from linli_shared.db import UtcDateTime
from linli_shared.messaging.inbox import inbox_table
from linli_shared.messaging.outbox import outbox_table

metadata = MetaData()

households = Table(
    "households",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("community_id", String(64), nullable=False, index=True),
    Column("grid_id", String(64), nullable=False, index=True),
    Column("address", String(500), nullable=False),
    Column("contact_email", String(320), nullable=False),
    Column("registered_at", UtcDateTime, nullable=False),
    Column("version", Integer, nullable=False),
)

members = Table(
    "members",
    metadata,
    Column("household_id", Uuid, ForeignKey("households.id"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("relation", String(50), nullable=False),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
