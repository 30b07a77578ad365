"""Retention as data: how long each category of a service's records is kept, and the job that
applies it.

A service's retention policy is a versioned TOML file (`linli_<service>/policies/retention/
<version>.toml`, reviewed in pull requests like credit's scoring policy): per category a period
in days and the reason for it. A version applies from its effective date (local, in its time
zone); `RetentionBook.at` picks the one in force. The service owns its categories (which table,
which rows are past their period, whether they are deleted or anonymised: `service/retention.py`);
this module owns the mechanism: the policy model and loader, and `RetentionJob`, which applies
the policy in force in bounded batches (each batch its own short transaction), counts what went
(`linli_retention_*` metrics) and writes one audit entry per run.
"""

from __future__ import annotations

import asyncio
import logging
import tomllib
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Depends, Request
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
)
from sqlalchemy import ColumnElement, Table, delete, select, tuple_

from linli_shared.aio import sleep_or_stop
from linli_shared.audit import AUDIT_DELETE_FLOOR_DAYS, RETENTION, AuditLog, AuditRecord
from linli_shared.auth import Principal, require_roles
from linli_shared.clock import Clock, SystemClock
from linli_shared.db import Database
from linli_shared.messaging.inbox import Inbox
from linli_shared.messaging.outbox import prune_sent
from linli_shared.metrics import RETENTION_LAST_SUCCESS, RETENTION_ROWS, RETENTION_RUNS
from linli_shared.rules import RuleViolation

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "system:retention"

# The categories every service keeps (each service's policy names them with its own).
AUDIT_TRAIL = "audit_trail"
OUTBOX = "outbox"
INBOX = "inbox"
DEAD_LETTERS = "dead_letters"


class RetentionPolicyError(RuleViolation):
    """A retention policy file that breaks a rule; `field` names the offending key."""


@dataclass(frozen=True)
class Period:
    """How long one category is kept, and why that long."""

    category: str
    days: int
    reason: str

    @property
    def length(self) -> timedelta:
        return timedelta(days=self.days)


@dataclass(frozen=True)
class RetentionPolicy:
    version: str
    effective_from: date
    time_zone: str
    periods: Mapping[str, Period]

    def period(self, category: str) -> Period:
        return self.periods[category]

    def cutoff(self, category: str, now: datetime) -> datetime:
        """Records of `category` whose clock started before this instant are past their period."""
        return now - self.periods[category].length

    def local_date(self, at: datetime) -> date:
        return at.astimezone(ZoneInfo(self.time_zone)).date()


@dataclass(frozen=True)
class RetentionBook:
    """Every version of a service's retention policy, by effective date."""

    policies: tuple[RetentionPolicy, ...]

    def __post_init__(self) -> None:
        if not self.policies:
            raise RetentionPolicyError("policies", "at least one retention policy is needed")
        ordered = tuple(sorted(self.policies, key=lambda p: p.effective_from))
        versions = [p.version for p in ordered]
        if len(set(versions)) != len(versions):
            raise RetentionPolicyError("version", f"duplicate versions: {versions}")
        if len({p.effective_from for p in ordered}) != len(ordered):
            raise RetentionPolicyError(
                "effective_from", "two versions take effect on the same date"
            )
        object.__setattr__(self, "policies", ordered)

    def at(self, instant: datetime) -> RetentionPolicy:
        """The version in force at `instant` (by its local date); the first one before it."""
        current = self.policies[0]
        for policy in self.policies:
            if policy.local_date(instant) >= policy.effective_from:
                current = policy
        return current

    @property
    def latest(self) -> RetentionPolicy:
        return self.policies[-1]

    def require(self, categories: Collection[str]) -> None:
        """Every version names only `categories`, and the newest names each of them. An older
        version may lack a category a later one brought in (while it is in force, that category
        is not applied: its records are kept as before), but a category, once named, is named
        by every later version: none is dropped unnoticed."""
        expected = set(categories)
        for policy in self.policies:
            unknown = sorted(set(policy.periods) - expected)
            if unknown:
                names = ", ".join(unknown)
                raise RetentionPolicyError(
                    "categories",
                    f"policy {policy.version}: {names}: not a category of this service",
                )
        for earlier, later in zip(self.policies, self.policies[1:], strict=False):
            dropped = sorted(set(earlier.periods) - set(later.periods))
            if dropped:
                raise RetentionPolicyError(
                    "categories",
                    f"policy {later.version}: no period for {', '.join(dropped)}, "
                    f"which {earlier.version} named",
                )
        missing = sorted(expected - set(self.latest.periods))
        if missing:
            raise RetentionPolicyError(
                "categories", f"policy {self.latest.version}: no period for {', '.join(missing)}"
            )


# --- loading ---------------------------------------------------------------------------------


class _Category(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    days: Annotated[StrictInt, Field(ge=1)]
    reason: Annotated[StrictStr, Field(min_length=10)]


class RetentionFile(BaseModel):
    """A retention policy file as written; `policy()` is the `RetentionPolicy`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Annotated[StrictStr, Field(min_length=1)]
    effective_from: date = Field(strict=True, description="A TOML local date, e.g. 2026-01-01")
    time_zone: Annotated[StrictStr, Field(min_length=1)]
    categories: dict[StrictStr, _Category]

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {zone!r}") from error
        return zone

    def policy(self) -> RetentionPolicy:
        return RetentionPolicy(
            version=self.version,
            effective_from=self.effective_from,
            time_zone=self.time_zone,
            periods={
                name: Period(name, category.days, " ".join(category.reason.split()))
                for name, category in self.categories.items()
            },
        )


def retention_policy_from_mapping(
    raw: Mapping[str, Any], categories: Collection[str], *, complete: bool = True
) -> RetentionPolicy:
    """Build and validate a policy from a parsed TOML document. It must name no category but
    the `categories` the service applies (and, if `complete`, each of them), and keep the audit
    trail at least as long as the database lets it be deleted (`AUDIT_DELETE_FLOOR_DAYS`)."""
    try:
        policy = RetentionFile.model_validate(raw).policy()
    except ValidationError as error:
        first = error.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        raise RetentionPolicyError(key, first["msg"].removeprefix("Value error, ")) from error
    missing = sorted(set(categories) - set(policy.periods))
    if missing and complete:
        raise RetentionPolicyError("categories", f"no period for {', '.join(missing)}")
    unknown = sorted(set(policy.periods) - set(categories))
    if unknown:
        raise RetentionPolicyError(
            "categories", f"{', '.join(unknown)}: not a category of this service"
        )
    audit = policy.periods.get(AUDIT_TRAIL)
    if audit is not None and audit.days < AUDIT_DELETE_FLOOR_DAYS:
        raise RetentionPolicyError(
            "categories.audit_trail.days",
            f"the audit trail is kept at least {AUDIT_DELETE_FLOOR_DAYS} days",
        )
    return policy


def load_retention_book(directory: Path, categories: Collection[str]) -> RetentionBook:
    """Every retention policy version in `directory` (`*.toml`); the newest names every one of
    `categories`, an older one may lack those brought in since (`RetentionBook.require`)."""
    policies = []
    for path in sorted(directory.glob("*.toml")):
        with path.open("rb") as file:
            raw = tomllib.load(file)
        policies.append(retention_policy_from_mapping(raw, categories, complete=False))
    book = RetentionBook(tuple(policies))
    book.require(categories)
    return book


# --- applying it -----------------------------------------------------------------------------

# Applies one category: deletes or anonymises the records past `before`, `batch_size` per
# transaction, and returns how many it changed.
Sweep = Callable[[datetime, int], Awaitable[int]]


async def delete_in_batches(
    database: Database,
    table: Table,
    key: Collection[str],
    where: ColumnElement[bool],
    batch_size: int,
) -> int:
    """Delete the rows of `table` matching `where`, `batch_size` per transaction (by `key`, the
    primary key's columns); returns how many went."""
    columns = [table.c[name] for name in key]
    target = columns[0] if len(columns) == 1 else tuple_(*columns)
    deleted = 0
    while True:
        batch = select(*columns).where(where).limit(batch_size)
        async with database.transaction() as connection:
            result = await connection.execute(delete(table).where(target.in_(batch)))
        deleted += result.rowcount
        if result.rowcount < batch_size:
            return deleted


def common_sweeps(
    database: Database, *, outbox: Table, inbox: Table, audit: Table
) -> dict[str, Sweep]:
    """The categories every service has: its audit trail, sent outbox rows and the event ids
    its inbox remembers."""
    remembered = Inbox(inbox)

    async def audit_trail(before: datetime, batch_size: int) -> int:
        return await delete_in_batches(database, audit, ["id"], audit.c.at < before, batch_size)

    async def sent_events(before: datetime, batch_size: int) -> int:
        return await prune_sent(database, outbox, before, batch_size)

    async def applied_events(before: datetime, batch_size: int) -> int:
        return await remembered.prune(database, before, batch_size)

    return {AUDIT_TRAIL: audit_trail, OUTBOX: sent_events, INBOX: applied_events}


@dataclass(frozen=True)
class RetentionRun:
    """What one run did: the policy version, and per category the cutoff and the records gone."""

    service: str
    version: str
    started_at: datetime
    cutoffs: dict[str, datetime]
    counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def details(self, trigger: str) -> dict[str, Any]:
        details: dict[str, Any] = {
            "policy_version": self.version,
            "trigger": trigger,
            "started_at": self.started_at.isoformat(),
            "cutoffs": {name: at.isoformat() for name, at in self.cutoffs.items()},
            "counts": self.counts,
        }
        if self.error is not None:
            details["error"] = self.error
        return details


class RetentionJob:
    """Applies a service's retention policy: each category's sweep in turn, with the cutoff of
    the version in force, then one audit entry naming the version and the counts.

    `elsewhere` names the categories of the policy that something else applies (dead letters:
    the broker, by the topics' `retention.ms`), so the policy is checked to cover them too.
    """

    def __init__(
        self,
        *,
        service: str,
        database: Database,
        audit: Table,
        book: RetentionBook,
        sweeps: Mapping[str, Sweep],
        elsewhere: Collection[str] = (),
        batch_size: int = 1000,
        interval_seconds: float = 3600,
        clock: Clock | None = None,
    ) -> None:
        book.require({*sweeps, *elsewhere})
        self.service = service
        self.database = database
        self.book = book
        self.elsewhere = frozenset(elsewhere)
        self._audit = AuditLog(database, audit)
        self._sweeps = dict(sweeps)
        self._batch_size = batch_size
        self._interval = interval_seconds
        self._clock = clock or SystemClock()

    def apply_here(self, category: str, sweep: Sweep) -> None:
        """Apply a category the job left to something else, where nothing else does (dead
        letters in the embedded event log, which no broker expires)."""
        if category not in self.elsewhere:
            raise ValueError(f"{category} is not a category left to something else")
        self._sweeps[category] = sweep

    def policy(self) -> RetentionPolicy:
        """The version in force now."""
        return self.book.at(self._clock.now())

    async def run_once(
        self, *, actor: str = SYSTEM_ACTOR, roles: str = "", trigger: str = "schedule"
    ) -> RetentionRun:
        """One run over every category the version in force names (one it does not, brought in
        by a later version, is not applied yet); its audit entry is written even when a category
        fails (what went before the failure stays gone), and the failure is raised after it."""
        now = self._clock.now()
        policy = self.book.at(now)
        sweeps = {name: sweep for name, sweep in self._sweeps.items() if name in policy.periods}
        run = RetentionRun(
            service=self.service,
            version=policy.version,
            started_at=now,
            cutoffs={name: policy.cutoff(name, now) for name in sweeps},
        )
        failure: BaseException | None = None
        for name, sweep in sweeps.items():
            try:
                count = await sweep(run.cutoffs[name], self._batch_size)
            except Exception as error:
                failure = error
                run = replace(run, error=f"{name}: {type(error).__name__}: {error}")
                break
            run.counts[name] = count
            RETENTION_ROWS.labels(self.service, name).inc(count)
        await self._audit.record(
            AuditRecord(
                actor=actor,
                roles=roles,
                action=RETENTION,
                method="RUN",
                path=f"/retention/{policy.version}",
                status=500 if failure else 200,
                resource=f"retention-policy:{policy.version}",
                client=None,
                correlation_id=None,
                details=run.details(trigger),
            )
        )
        RETENTION_RUNS.labels(self.service, "failed" if failure else "succeeded").inc()
        if failure is not None:
            raise failure
        RETENTION_LAST_SUCCESS.labels(self.service).set(now.timestamp())
        if run.total:
            log.info(
                "retention policy %s applied: %s",
                run.version,
                ", ".join(f"{name} {count}" for name, count in run.counts.items() if count),
            )
        return run

    async def run(self, stop: asyncio.Event) -> None:
        """At start and then every interval, until `stop`."""
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception:
                log.exception("applying the retention policy failed; trying again later")
            await sleep_or_stop(stop, self._interval)


# --- the admins' routes ------------------------------------------------------------------------


class PeriodOut(BaseModel):
    category: str
    days: int
    reason: str


class RetentionPolicyOut(BaseModel):
    service: str
    version: str
    effective_from: date
    time_zone: str
    periods: list[PeriodOut]

    @classmethod
    def of(cls, service: str, policy: RetentionPolicy) -> RetentionPolicyOut:
        return cls(
            service=service,
            version=policy.version,
            effective_from=policy.effective_from,
            time_zone=policy.time_zone,
            periods=[
                PeriodOut(category=p.category, days=p.days, reason=p.reason)
                for p in policy.periods.values()
            ],
        )


class RetentionRunOut(BaseModel):
    service: str
    policy_version: str
    started_at: datetime
    cutoffs: dict[str, datetime]
    counts: dict[str, int]

    @classmethod
    def of(cls, run: RetentionRun) -> RetentionRunOut:
        return cls(
            service=run.service,
            policy_version=run.version,
            started_at=run.started_at,
            cutoffs=run.cutoffs,
            counts=run.counts,
        )


def retention_router() -> APIRouter:
    router = APIRouter(tags=["retention"])

    @router.get(
        "/retention/policy",
        response_model=RetentionPolicyOut,
        summary="The retention policy in force: each category's period and reason (admins only)",
    )
    async def read_retention_policy(
        request: Request, _: Annotated[Principal, Depends(require_roles("admin"))]
    ) -> RetentionPolicyOut:
        job: RetentionJob = request.app.state.retention
        return RetentionPolicyOut.of(job.service, job.policy())

    @router.post(
        "/retention/runs",
        response_model=RetentionRunOut,
        summary="Apply the retention policy now, as the worker does on its interval (admins only)",
    )
    async def run_retention(
        request: Request, principal: Annotated[Principal, Depends(require_roles("admin"))]
    ) -> RetentionRunOut:
        job: RetentionJob = request.app.state.retention
        run = await job.run_once(
            actor=principal.subject, roles=",".join(sorted(principal.roles)), trigger="api"
        )
        return RetentionRunOut.of(run)

    return router
