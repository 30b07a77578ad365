"""Value types that several contracts use."""

from enum import StrEnum


class Severity(StrEnum):
    """Severity tier of a failed finding; the credit policy and repair periods key on it."""

    LIGHT = "light"
    GENERAL = "general"
    SERIOUS = "serious"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Severity.LIGHT: 1, Severity.GENERAL: 2, Severity.SERIOUS: 3}


class SubjectKind(StrEnum):
    """Who an event is about, and so who is responsible and scored."""

    HOUSEHOLD = "household"
    ORGANISATION = "organisation"
