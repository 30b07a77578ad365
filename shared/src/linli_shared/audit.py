"""The audit trail: every write and every read of unmasked personal data, append-only.

Each service keeps its own `audit_log` table (its database, its records). The web layer records
writes by itself; a route that reveals personal data says so with `mark_personal_data_read`.
The table refuses UPDATE and DELETE by a database trigger, so the trail cannot be edited through
the application's own connection either.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel
from sqlalchemy import Column, Index, MetaData, String, Table, insert, select

from linli_shared.auth import Principal, require_roles
from linli_shared.db import BigIntegerPK, Database, UtcDateTime

WRITE = "write"
PERSONAL_DATA_READ = "personal-data-read"


def audit_table(metadata: MetaData) -> Table:
    return Table(
        "audit_log",
        metadata,
        Column("id", BigIntegerPK, primary_key=True, autoincrement=True),
        Column("at", UtcDateTime(), nullable=False),
        Column("actor", String(200), nullable=False),
        Column("roles", String(200), nullable=False),
        Column("action", String(40), nullable=False),
        Column("method", String(10), nullable=False),
        Column("path", String(500), nullable=False),
        Column("status", String(3), nullable=False),
        Column("resource", String(200), nullable=True),
        Column("client", String(100), nullable=True),
        Column("correlation_id", String(100), nullable=True),
        Index("ix_audit_log_actor_at", "actor", "at"),
    )


def append_only_statements(dialect: str, table: str = "audit_log") -> list[str]:
    """DDL making `table` refuse UPDATE and DELETE (for a service's migration)."""
    if dialect == "postgresql":
        return [
            "CREATE OR REPLACE FUNCTION linli_refuse_change() RETURNS trigger AS $$ "
            "BEGIN RAISE EXCEPTION 'the audit trail is append-only'; END; $$ LANGUAGE plpgsql",
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION linli_refuse_change()",
        ]
    return [
        f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
        "BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END",
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
        "BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END",
    ]


@dataclass(frozen=True)
class AuditRecord:
    actor: str
    roles: str
    action: str
    method: str
    path: str
    status: int
    resource: str | None
    client: str | None
    correlation_id: str | None


class AuditLog:
    def __init__(self, database: Database, table: Table) -> None:
        self._database = database
        self._table = table

    async def record(self, entry: AuditRecord) -> None:
        values = {
            "at": datetime.now(UTC),
            "actor": entry.actor,
            "roles": entry.roles,
            "action": entry.action,
            "method": entry.method,
            "path": entry.path[:500],
            "status": str(entry.status),
            "resource": entry.resource,
            "client": entry.client,
            "correlation_id": entry.correlation_id,
        }
        reads = self._database.reads
        if reads is not None:
            # One round trip on PostgreSQL instead of the engine's ping, BEGIN, INSERT, COMMIT.
            columns = ", ".join(values)
            placeholders = ", ".join(f"${number}" for number in range(1, len(values) + 1))
            await reads.execute(
                f"INSERT INTO {self._table.name} ({columns}) VALUES ({placeholders})",
                *values.values(),
            )
            return
        async with self._database.transaction() as connection:
            await connection.execute(insert(self._table).values(**values))

    async def query(
        self, *, actor: str | None, action: str | None, limit: int, offset: int
    ) -> list[dict[str, Any]]:
        table = self._table
        query = select(table).order_by(table.c.id.desc()).limit(limit).offset(offset)
        if actor:
            query = query.where(table.c.actor == actor)
        if action:
            query = query.where(table.c.action == action)
        async with self._database.connect() as connection:
            return [dict(row) for row in (await connection.execute(query)).mappings()]


def mark_personal_data_read(request: Request, resource: str) -> None:
    """Say that this request revealed unmasked personal data, so the trail records it."""
    request.state.personal_data_read = resource


def audit_entry(request: Request, status: int, correlation_id: str) -> AuditRecord | None:
    """What the trail should keep of this request, if anything."""
    principal: Principal | None = getattr(request.state, "principal", None)
    revealed: str | None = getattr(request.state, "personal_data_read", None)
    is_write = request.method in {"POST", "PUT", "PATCH", "DELETE"}
    if principal is None or not (is_write or revealed):
        return None
    return AuditRecord(
        actor=principal.subject,
        roles=",".join(sorted(principal.roles)),
        action=PERSONAL_DATA_READ if revealed and not is_write else WRITE,
        method=request.method,
        path=request.url.path,
        status=status,
        resource=revealed,
        client=request.client.host if request.client else None,
        correlation_id=correlation_id,
    )


class AuditEntryOut(BaseModel):
    id: int
    at: datetime
    actor: str
    roles: str
    action: str
    method: str
    path: str
    status: str
    resource: str | None
    client: str | None
    correlation_id: str | None


class AuditPage(BaseModel):
    items: list[AuditEntryOut]
    limit: int
    offset: int


def audit_router() -> APIRouter:
    router = APIRouter(tags=["audit"])

    @router.get("/audit", response_model=AuditPage, summary="The audit trail (admins only)")
    async def list_audit(
        request: Request,
        actor: str | None = Query(default=None, max_length=200),
        action: str | None = Query(default=None, pattern="^(write|personal-data-read)$"),
        limit: int = Query(default=50, ge=1, le=200),
        offset: int = Query(default=0, ge=0, le=1_000_000),
        _: Principal = Depends(require_roles("admin")),
    ) -> AuditPage:
        log: AuditLog = request.app.state.audit_log
        rows = await log.query(actor=actor, action=action, limit=limit, offset=offset)
        return AuditPage(items=[AuditEntryOut(**row) for row in rows], limit=limit, offset=offset)

    return router
