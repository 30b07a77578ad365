"""The audit trail: every write and every read of unmasked personal data, append-only.

Each service keeps its own `audit_log` table (its database, its records). The web layer records
writes by itself; a route that reveals personal data says so with `mark_personal_data_read`.
The table refuses UPDATE, and DELETE of any entry younger than `AUDIT_DELETE_FLOOR_DAYS`, by a
database trigger, so the trail cannot be edited through the application's own connection either;
only the retention job (`linli_shared.retention`) deletes, and only entries past the policy's
period, which is never shorter than the floor.

What a reveal was asked with is kept without the personal data in it: every query parameter is
recorded as `hmac-sha256:<hex>`, the keyed hash of its value under the service's audit hash key
(`LINLI_<SERVICE>_AUDIT_HASH_KEY`), except the few a route declares harmless (`audit_readable`)
and the paging and reveal switches every route shares (`READABLE_EVERYWHERE`). Hashing is the
default, not a list of personal parameters, so a route added tomorrow, a parameter renamed or
one nobody declared (`?13812345678`, whose very name is kept hashed) leaks nothing in clear: at
worst its entry is less readable until its route declares what is harmless. An auditor asks
"who searched for this person, when" with the value itself (`GET /v1/audit?searched=...`),
which the service hashes under the same key to match; the hash cannot be reversed without the
key, and the key never leaves the service's secrets (docs/privacy.md, "The audit trail").

Fail-closed: a write's entry is inserted in the transaction that makes the change (they commit
together or not at all); any other entry (a reveal, a refused write) is written before the first
byte of the answer leaves. An entry that cannot be written turns the answer into a 503 without
the data (`AuditUnavailable`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel
from sqlalchemy import (
    JSON,
    Column,
    Index,
    MetaData,
    String,
    Table,
    Text,
    cast,
    func,
    insert,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_shared.auth import Principal, require_roles
from linli_shared.crypto import BlindIndex
from linli_shared.db import BigIntegerPK, Database, UtcDateTime
from linli_shared.errors import ProblemError
from linli_shared.pagination import PageRequest, Slice, page_request

log = logging.getLogger(__name__)

WRITE = "write"
PERSONAL_DATA_READ = "personal-data-read"
RETENTION = "retention"

# The youngest entry the database lets anyone delete (the retention job, past the policy's
# period): six months, the least time China's Cybersecurity Law (Art. 21) keeps network logs.
# Changing it is a migration (`retention_only_statements`), not a setting.
AUDIT_DELETE_FLOOR_DAYS = 180

# How a value kept only as its keyed hash starts, in an entry's `details`.
HASHED = "hmac-sha256:"
# The OpenAPI extension in which a route declares its harmless query parameters (`audit_readable`).
AUDIT_READABLE = "x-audit-readable"
# Readable on every route: the shared paging (`linli_shared.pagination`), the reveal switch and
# the reason a reveal is made for, which is its legal justification and must be read as typed
# (docs/privacy.md says what staff write in it).
READABLE_EVERYWHERE = frozenset({"limit", "offset", "reveal", "reason"})


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
        # What a reveal was asked and what it showed: {"query": {...}, "subjects": [ids]}.
        Column("details", JSON, nullable=True),
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


def retention_only_statements(dialect: str, floor_days: int, table: str = "audit_log") -> list[str]:
    """DDL replacing `append_only_statements`' triggers: UPDATE is still refused, and so is DELETE
    of an entry younger than `floor_days` by the database's own clock, whoever asks. Older entries
    may be deleted, which only the retention job does."""
    refusal = (
        f"the audit trail is append-only: only entries older than {floor_days} days may be "
        "deleted, by the retention job"
    )
    if dialect == "postgresql":
        return [
            "CREATE OR REPLACE FUNCTION linli_audit_retention_only() RETURNS trigger AS $$ "
            f"BEGIN IF TG_OP = 'DELETE' AND OLD.at < now() - interval '{floor_days} days' "
            f"THEN RETURN OLD; END IF; RAISE EXCEPTION '{refusal}'; END; $$ LANGUAGE plpgsql",
            f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}",
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION linli_audit_retention_only()",
        ]
    # SQLite keeps the instant as UTC text ('2026-01-31 08:00:00.000000'), which sorts as time.
    return [
        f"DROP TRIGGER IF EXISTS {table}_no_delete",
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
        f"WHEN OLD.at >= datetime('now', '-{floor_days} days') "
        f"BEGIN SELECT RAISE(ABORT, '{refusal}'); END",
    ]


def append_only_again_statements(dialect: str, table: str = "audit_log") -> list[str]:
    """Undo `retention_only_statements` (a migration's downgrade)."""
    if dialect == "postgresql":
        return [
            f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}",
            "DROP FUNCTION IF EXISTS linli_audit_retention_only()",
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION linli_refuse_change()",
        ]
    return [
        f"DROP TRIGGER IF EXISTS {table}_no_delete",
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
    details: dict[str, Any] | None = None


class AuditUnavailable(ProblemError):
    """The trail could not record an audited action, so the action is refused."""

    def __init__(self) -> None:
        super().__init__(
            503,
            "audit-unavailable",
            "The audit trail is unavailable",
            "the action could not be recorded, so it was not done and nothing is shown; retry",
        )


def _fit(value: str | None, length: int) -> str | None:
    """A value the column takes whatever came in: no NUL (PostgreSQL refuses it), not too long."""
    return None if value is None else value.replace("\x00", "\ufffd")[:length]


def _values(entry: AuditRecord) -> dict[str, Any]:
    return {
        "at": datetime.now(UTC),
        "actor": _fit(entry.actor, 200),
        "roles": _fit(entry.roles, 200),
        "action": entry.action,
        "method": _fit(entry.method, 10),
        "path": _fit(entry.path, 500),
        "status": str(entry.status)[:3],
        "resource": _fit(entry.resource, 200),
        "client": _fit(entry.client, 100),
        "correlation_id": _fit(entry.correlation_id, 100),
        "details": entry.details,
    }


class AuditLog:
    """`query_hash`: the keyed hash of what reveals were asked with; an app that records the
    requests it serves needs it (`create_service_app` refuses a log without), a job that only
    records its own runs (retention) does not."""

    def __init__(
        self, database: Database, table: Table, *, query_hash: BlindIndex | None = None
    ) -> None:
        self._database = database
        self._table = table
        self.query_hash = query_hash

    async def record(self, entry: AuditRecord) -> None:
        """Write the entry on its own (committed when this returns)."""
        values = _values(entry)
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
        async with self._database.connect() as connection, connection.begin():
            await connection.execute(insert(self._table), values)

    def pending_write(self, request: Request, correlation_id: str) -> PendingWrite:
        return PendingWrite(self._database, self._table, request, correlation_id, self.hashing())

    def hashing(self) -> BlindIndex:
        if self.query_hash is None:
            raise ValueError("this audit log has no audit hash key: it records no requests")
        return self.query_hash

    async def query(
        self,
        *,
        actor: str | None,
        action: str | None,
        page: PageRequest,
        searched: str | None = None,
    ) -> Slice[dict[str, Any]]:
        """Entries, newest first, and how many match in all. `searched`: only the entries whose
        details hold the keyed hash of that value (a reveal asked with it)."""
        table = self._table
        conditions = []
        if actor:
            conditions.append(table.c.actor == actor)
        if action:
            conditions.append(table.c.action == action)
        if searched is not None:
            # A hash is hex, so it is matched as it stands; a scan, but only admins ask, rarely.
            hashed = HASHED + self.hashing().of(searched)
            conditions.append(cast(table.c.details, Text).contains(hashed))
        query = (
            select(table)
            .where(*conditions)
            .order_by(table.c.id.desc())
            .limit(page.limit)
            .offset(page.offset)
        )
        count = select(func.count()).select_from(table).where(*conditions)
        async with self._database.connect() as connection:
            rows = [dict(row) for row in (await connection.execute(query)).mappings()]
            total = int((await connection.execute(count)).scalar_one())
        return Slice(rows, total, page)


class PendingWrite:
    """A write request's entry, inserted in the first transaction the request commits on the
    service's database (`linli_shared.db.before_commit`), with the route's success status."""

    def __init__(
        self,
        database: Database,
        table: Table,
        request: Request,
        correlation_id: str,
        query_hash: BlindIndex,
    ) -> None:
        self._database = database
        self._table = table
        self._request = request
        self._correlation_id = correlation_id
        self._query_hash = query_hash
        self.recorded = False

    async def __call__(self, database: Database, connection: AsyncConnection) -> None:
        if self.recorded or database is not self._database:
            return
        route = self._request.scope.get("route")
        status = getattr(route, "status_code", None) or 200
        entry = audit_entry(self._request, status, self._correlation_id, self._query_hash)
        if entry is None:
            return
        try:
            await connection.execute(insert(self._table), _values(entry))
        except Exception as error:
            # The transaction rolls back: the change does not happen without its record.
            log.exception("could not record the audit entry for %s %s", entry.method, entry.path)
            raise AuditUnavailable from error
        self.recorded = True


def is_write(method: str) -> bool:
    return method in {"POST", "PUT", "PATCH", "DELETE"}


def mark_personal_data_read(request: Request, resource: str) -> None:
    """Say that this request revealed unmasked personal data, so the trail records it (with the
    query it was asked with, its values hashed but for those the route declares readable:
    `audit_readable`)."""
    request.state.personal_data_read = resource


def mark_subjects_revealed(request: Request, subjects: Iterable[object]) -> None:
    """Name what a reveal showed (a search's households), for its trail entry."""
    request.state.personal_data_subjects = [str(subject) for subject in subjects]


def audit_readable(*names: str) -> dict[str, Any]:
    """A route's declaration of the query parameters its trail entries may keep in clear, for
    its decorator's `openapi_extra` (where the OpenAPI document shows it too). Only what cannot
    name a person: ids of places, a status, a kind; never a name, an address, a number, a
    contact or free text (tests/security/test_audit_hashing.py checks every route's list)."""
    return {AUDIT_READABLE: sorted(names)}


def _route_query(request: Request) -> tuple[frozenset[str], frozenset[str]]:
    """The query parameters the matched route declares readable, and every one it takes."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return READABLE_EVERYWHERE, frozenset()
    declared = (route.openapi_extra or {}).get(AUDIT_READABLE, ())
    return READABLE_EVERYWHERE | frozenset(declared), query_parameters(route.dependant)


def query_parameters(dependant: Dependant) -> frozenset[str]:
    """The query parameters a route takes, its dependencies' (paging, revealing) included."""
    names = {field.alias for field in dependant.query_params}
    for dependency in dependant.dependencies:
        names |= query_parameters(dependency)
    return frozenset(names)


def _query_of(request: Request, status: int, query_hash: BlindIndex) -> dict[str, str | list[str]]:
    """The request's query as the trail keeps it: a readable parameter in clear when it was
    given once and the route accepted it (a 422 vouches for nothing, and a repeated parameter's
    other values were never validated); every other value as its keyed hash, and the name of a
    parameter the route does not take hashed too (a name can be a person's)."""
    readable, taken = _route_query(request)
    if status == 422:
        readable = frozenset()
    query: dict[str, str | list[str]] = {}
    for key in dict.fromkeys(request.query_params.keys()):
        values = request.query_params.getlist(key)
        if key in readable and len(values) == 1:
            query[key] = values[0]
            continue
        hashed = [HASHED + query_hash.of(value) for value in values]
        name = key if key in taken or key in READABLE_EVERYWHERE else HASHED + query_hash.of(key)
        query[name] = hashed[0] if len(hashed) == 1 else hashed
    return query


def audit_entry(
    request: Request, status: int, correlation_id: str, query_hash: BlindIndex
) -> AuditRecord | None:
    """What the trail should keep of this request, if anything."""
    # `request.state`'s dict itself: a name State lacks costs it an AttributeError, formatted.
    state: dict[str, Any] = request.scope.get("state", {})
    principal: Principal | None = state.get("principal")
    revealed: str | None = state.get("personal_data_read")
    write = is_write(request.method)
    if principal is None or not (write or revealed):
        return None
    details: dict[str, Any] | None = None
    if revealed:
        details = {"query": _query_of(request, status, query_hash)}
        subjects = state.get("personal_data_subjects")
        if subjects is not None:
            details["subjects"] = subjects
    return AuditRecord(
        actor=principal.subject,
        roles=",".join(sorted(principal.roles)),
        action=PERSONAL_DATA_READ if revealed and not write else WRITE,
        method=request.method,
        path=request.url.path,
        status=status,
        resource=revealed,
        client=request.client.host if request.client else None,
        correlation_id=correlation_id,
        details=details,
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
    details: dict[str, Any] | None = None


class AuditPage(BaseModel):
    items: list[AuditEntryOut]
    total: int
    limit: int
    offset: int


def audit_router() -> APIRouter:
    router = APIRouter(tags=["audit"])

    @router.get(
        "/audit",
        response_model=AuditPage,
        summary="The audit trail (admins only)",
        description="Newest first. `searched` finds the reveals asked with a value (a name, "
        "an ID number, a phone): the trail keeps what a reveal was asked with only as keyed "
        "hashes, and the service hashes the value given here under the same key to match. A "
        "lookup by `searched` is itself a `personal-data-read` in the trail, the value hashed.",
        openapi_extra=audit_readable("actor", "action"),
    )
    async def list_audit(
        request: Request,
        page: Annotated[PageRequest, Depends(page_request)],
        _: Annotated[Principal, Depends(require_roles("admin"))],
        actor: Annotated[str | None, Query(max_length=200)] = None,
        action: Annotated[
            str | None, Query(pattern="^(write|personal-data-read|retention)$")
        ] = None,
        searched: Annotated[
            str | None,
            Query(
                min_length=1,
                max_length=500,
                description="A value a reveal was asked with, exactly as it was asked (audited)",
            ),
        ] = None,
    ) -> AuditPage:
        log: AuditLog = request.app.state.audit_log
        if searched is not None:
            mark_personal_data_read(request, request.url.path)
        found = await log.query(actor=actor, action=action, page=page, searched=searched)
        return AuditPage(
            items=[AuditEntryOut.model_validate(row) for row in found.items],
            total=found.total,
            limit=page.limit,
            offset=page.offset,
        )

    return router
