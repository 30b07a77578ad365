"""Pest monitoring: density readings per point and pest, against the standard's thresholds.

A reading over its threshold is a failed finding of the pest-control checklist on that point;
more than twice the threshold is serious.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from linli_inspections.domain.inspection import Finding
from linli_shared.contracts.common import Severity, SubjectKind
from linli_shared.rules import RuleViolation


class Pest(StrEnum):
    RAT = "rat"
    COCKROACH = "cockroach"
    MOSQUITO = "mosquito"
    FLY = "fly"


# Densities as the monitoring methods report them: rats and cockroaches as the percentage of
# positive traps or plates, mosquitoes per light trap per night, flies per cage per day.
THRESHOLDS: dict[Pest, float] = {
    Pest.RAT: 1.0,
    Pest.COCKROACH: 3.0,
    Pest.MOSQUITO: 5.0,
    Pest.FLY: 3.0,
}

# The pest_control checklist item each pest's density answers to.
ITEMS: dict[Pest, str] = {
    Pest.RAT: "rat-density-within-standard",
    Pest.COCKROACH: "cockroach-density-within-standard",
    Pest.MOSQUITO: "mosquito-density-within-standard",
    Pest.FLY: "fly-density-within-standard",
}


@dataclass(frozen=True)
class Reading:
    pest: Pest
    density: float
    threshold: float

    @property
    def over(self) -> bool:
        return self.density > self.threshold


def read(pest: Pest, density: float, threshold: float | None = None) -> Reading:
    if density < 0:
        raise RuleViolation("density", "a density is not negative")
    limit = THRESHOLDS[pest] if threshold is None else threshold
    if limit <= 0:
        raise RuleViolation("threshold", "a threshold is positive")
    return Reading(pest, density, limit)


def finding(reading: Reading) -> Finding | None:
    """The failed finding a reading over its threshold raises; None within the standard."""
    if not reading.over:
        return None
    severity = Severity.SERIOUS if reading.density > 2 * reading.threshold else Severity.GENERAL
    return Finding(
        item=ITEMS[reading.pest],
        passed=False,
        severity=severity,
        note=f"{reading.pest.value} density {reading.density:g} > threshold {reading.threshold:g}",
    )


@dataclass(frozen=True)
class PestPoint:
    """A monitoring point. It answers to its responsible party, else to the property manager of
    the compound it is in."""

    id: str
    community_id: str
    grid_id: str | None
    name: str
    location: str | None
    compound_id: str | None
    responsible_id: uuid.UUID | None
    responsible_kind: SubjectKind | None
    created_at: datetime


@dataclass(frozen=True)
class Measurement:
    """A reading taken at a point, as kept: with the inspection it raised, if over threshold."""

    id: uuid.UUID
    point_id: str
    pest: Pest
    density: float
    threshold: float
    measured_at: datetime
    recorded_by: str
    inspection_id: uuid.UUID | None = None

    @property
    def over(self) -> bool:
        return self.density > self.threshold
