"""Where households live: communities, grids (each with its grid worker), compounds, buildings."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from linli_shared.rules import RuleViolation

DEFAULT_TIME_ZONE = "Asia/Shanghai"


@dataclass(frozen=True)
class Community:
    id: str
    name: str
    time_zone: str = DEFAULT_TIME_ZONE


@dataclass(frozen=True)
class Grid:
    id: str
    community_id: str
    name: str
    worker_id: str | None = None
    worker_name: str | None = None


@dataclass(frozen=True)
class Compound:
    id: str
    community_id: str
    grid_id: str
    name: str
    address: str
    property_manager_id: uuid.UUID | None = None


@dataclass(frozen=True)
class Building:
    id: str
    compound_id: str
    name: str


def community(id: str, name: str, time_zone: str) -> Community:
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise RuleViolation("time_zone", f"unknown time zone {time_zone!r}") from error
    if not name.strip():
        raise RuleViolation("name", "a community has a name")
    return Community(id, name.strip(), time_zone)
