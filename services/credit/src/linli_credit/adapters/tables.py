from sqlalchemy import Column, Integer, MetaData, String, Table, Uuid

from linli_shared.db import UtcDateTime
from linli_shared.messaging.inbox import inbox_table
from linli_shared.messaging.outbox import outbox_table

metadata = MetaData()

accounts = Table(
    "accounts",
    metadata,
    Column("subject_id", Uuid, primary_key=True),
    Column("subject_kind", String(20), nullable=False),
    Column("score", Integer, nullable=False),
    Column("grade", String(5), nullable=False),
    Column("opened_at", UtcDateTime, nullable=False),
)

entries = Table(
    "entries",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("subject_id", Uuid, nullable=False, index=True),
    Column("points", Integer, nullable=False),
    Column("reason_code", String(100), nullable=False),
    Column("policy_version", String(50), nullable=False),
    # One entry per causing event: a redelivered event cannot add a second one.
    Column("source_event_id", String(100), nullable=False, unique=True),
    Column("severity", String(20), nullable=True),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
