from sqlalchemy import (
    JSON,
    Column,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
)

from linli_shared.db import BigIntegerPK, UtcDateTime
from linli_shared.messaging.inbox import inbox_table
from linli_shared.messaging.outbox import outbox_table

metadata = MetaData()

# Local read model of the registry's households: notify never calls the registry.
recipients = Table(
    "recipients",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("email", String(320), nullable=False),
    Column("address", String(500), nullable=False),
    Column("locale", String(20), nullable=False),
)

notices = Table(
    "notices",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("recipient_id", Uuid, nullable=False, index=True),
    Column("notice_type", String(50), nullable=False),
    Column("source_event_id", String(100), nullable=False),
    Column("correlation_id", String(100), nullable=False),
    Column("traceparent", String(100), nullable=True),
    Column("variables", JSON, nullable=False),
    Column("status", String(20), nullable=False, index=True),
    Column("attempts", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("delivered_at", UtcDateTime, nullable=True),
    # The same event never makes the same notice twice for the same person.
    UniqueConstraint("source_event_id", "notice_type", "recipient_id"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", BigIntegerPK, primary_key=True, autoincrement=True),
    Column("notice_id", Uuid, ForeignKey("notices.id"), nullable=False, index=True),
    Column("channel", String(20), nullable=False),
    Column("address", String(320), nullable=False),
    Column("status", String(20), nullable=False),
    Column("response", Text, nullable=True),
    Column("attempted_at", UtcDateTime, nullable=False),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
