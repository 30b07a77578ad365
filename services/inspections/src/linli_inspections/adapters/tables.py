from sqlalchemy import Boolean, Column, ForeignKey, Integer, MetaData, String, Table, Uuid

from linli_shared.db import UtcDateTime
from linli_shared.messaging.inbox import inbox_table
from linli_shared.messaging.outbox import outbox_table

metadata = MetaData()

inspections = Table(
    "inspections",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("subject_id", Uuid, nullable=False, index=True),
    Column("subject_kind", String(20), nullable=False),
    Column("checklist", String(100), nullable=False),
    Column("inspector_id", String(200), nullable=False),
    Column("inspected_at", UtcDateTime, nullable=False),
    Column("outcome", String(20), nullable=False),
    Column("severity", String(20), nullable=True),
    Column("comply_by", UtcDateTime, nullable=True),
)

findings = Table(
    "findings",
    metadata,
    Column("inspection_id", Uuid, ForeignKey("inspections.id"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("item", String(200), nullable=False),
    Column("passed", Boolean, nullable=False),
    Column("severity", String(20), nullable=False),
    Column("note", String(2000), nullable=True),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
