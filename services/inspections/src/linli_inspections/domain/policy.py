"""The knobs of inspections' scheduled job and of time, as data.

Loaded through this pydantic model from the service's settings (`InspectionsSettings.policy()`,
called by the composition root); tests pin their own. Pure: no file or environment reading here.
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from linli_inspections.domain.inspection import DEFAULT_CLOCK_SKEW
from linli_inspections.domain.rectification import ComplyClock

DEFAULT_DEPARTMENTS = {
    "sanitation": "urban-management",
    "street_order": "urban-management",
    "frontage_duty": "urban-management",
    "pest_control": "health-cdc",
}


class InspectionPolicy(BaseModel):
    """Where weeks and deadlines are counted, when a comply-by period starts, when cases reach a
    department, and which one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    time_zone: str = Field(
        default="Asia/Shanghai",
        description="The time zone while a community's own (from the registry) is unknown",
    )
    department_after: timedelta = Field(
        default=timedelta(days=3), description="How long a case stays overdue before the department"
    )
    departments: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_DEPARTMENTS),
        description="The partner department per checklist",
    )
    default_department: str = "urban-management"
    comply_clock: ComplyClock = Field(
        default=ComplyClock.NOTIFIED,
        description=(
            "When a case's comply-by period starts: `notified`, the delivery of its notice to the "
            "responsible party (until then it is provisional from the upload and never overdue), "
            "or `uploaded`, when the inspection reached the platform"
        ),
    )
    clock_skew: timedelta = Field(
        default=DEFAULT_CLOCK_SKEW,
        description="How far ahead of the server's clock a device's times may be",
    )

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def department_for(self, checklist: str) -> str:
        return self.departments.get(checklist, self.default_department)
