from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
)

from linli_shared.audit import audit_table
from linli_shared.db import BigIntegerPK, UtcDateTime
from linli_shared.messaging.inbox import inbox_table
from linli_shared.messaging.outbox import outbox_table

metadata = MetaData()

# The projection of each subject's ledger (score, grade, green channel): one row, read by key.
accounts = Table(
    "accounts",
    metadata,
    Column("subject_id", Uuid, primary_key=True),
    Column("subject_kind", String(20), nullable=False),
    Column("score", Integer, nullable=False),
    Column("grade", String(5), nullable=False),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("balance", Integer, nullable=False, server_default="0"),
    Column("policy_version", String(50), nullable=False, server_default=""),
    Column("community_id", String(100), nullable=True, index=True),
    Column("consent", String(20), nullable=False, server_default="unrecorded"),
    Column("closed_at", UtcDateTime, nullable=True),
    Column("green_channel", Boolean, nullable=False, server_default="0"),
    Column("green_evaluated_at", UtcDateTime, nullable=True),
    Column("green_valid_until", Date, nullable=True),
    # A resident's household; a household's last applied members-changed version.
    Column("household_id", Uuid, nullable=True, index=True),
    Column("members_version", Integer, nullable=False, server_default="0"),
    # The registry's grid of the subject (a resident's: its household's), for grid reach.
    Column("grid_id", String(100), nullable=True, index=True),
)

# The ledger: append-only (the database refuses UPDATE and DELETE, see the migration).
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
    Column("rule", String(200), nullable=False, server_default=""),
    Column("counts_until", UtcDateTime, nullable=True, index=True),
    Column("refers_to", Uuid, nullable=True, index=True),
    Column("inspection_id", Uuid, nullable=True, index=True),
    Column("cause", JSON, nullable=False, server_default="{}"),
)

# Entries whose counting period ended and that the scheduled job has settled (events sent).
expired_entries = Table(
    "expired_entries",
    metadata,
    Column("entry_id", Uuid, primary_key=True),
    Column("subject_id", Uuid, nullable=False),
    Column("expired_at", UtcDateTime, nullable=False),
    Column("settled_at", UtcDateTime, nullable=False),
)

appeals = Table(
    "appeals",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("subject_id", Uuid, nullable=False, index=True),
    Column("entry_id", Uuid, nullable=False, index=True),
    Column("state", String(20), nullable=False),
    Column("filed_by", String(200), nullable=False),
    Column("grounds", Text, nullable=False),
    Column("filed_at", UtcDateTime, nullable=False),
    Column("decide_by", Date, nullable=False),
    Column("decided_by", String(200), nullable=True),
    Column("decided_at", UtcDateTime, nullable=True),
    Column("decision_reason", Text, nullable=True),
    Column("reversal_entry_id", Uuid, nullable=True),
    Index("ix_appeals_state_decide_by", "state", "decide_by"),
)

# Every green-channel check the service hall makes: who asked, when, about whom, the answer.
green_channel_checks = Table(
    "green_channel_checks",
    metadata,
    Column("id", BigIntegerPK, primary_key=True, autoincrement=True),
    Column("subject_id", Uuid, nullable=False, index=True),
    Column("checked_by", String(200), nullable=False),
    Column("checked_at", UtcDateTime, nullable=False),
    Column("granted", Boolean, nullable=False),
    Column("grade", String(5), nullable=True),
    Column("valid_until", Date, nullable=True),
    Column("reason", Text, nullable=True),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
audit = audit_table(metadata)
