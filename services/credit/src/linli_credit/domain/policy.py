"""The scoring policy: how many points a cause is worth, score bounds and grade thresholds."""

from __future__ import annotations

from dataclasses import dataclass, field

from linli_shared.contracts.common import Severity

GRADES = ("AAA", "AA", "A", "B", "C")


@dataclass(frozen=True)
class Policy:
    version: str
    base_score: int
    min_score: int
    max_score: int
    # Lowest score that still earns each grade, best grade first; below the last: "C".
    grade_floors: tuple[tuple[str, int], ...]
    failed_inspection_points: dict[Severity, int] = field(default_factory=dict)

    def clamp(self, score: int) -> int:
        return max(self.min_score, min(self.max_score, score))

    def grade(self, score: int) -> str:
        for grade, floor in self.grade_floors:
            if score >= floor:
                return grade
        return GRADES[-1]

    def points_for_failed_inspection(self, severity: Severity) -> int:
        return self.failed_inspection_points[severity]


DEFAULT_POLICY = Policy(
    version="2026.1",
    base_score=1000,
    min_score=0,
    max_score=1200,
    grade_floors=(("AAA", 1100), ("AA", 1000), ("A", 900), ("B", 700)),
    failed_inspection_points={
        Severity.LIGHT: -5,
        Severity.GENERAL: -20,
        Severity.SERIOUS: -50,
    },
)
