"""A subject's key for crypto-shredding, as the registry holds it (docs/privacy.md). No I/O."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

# Whose personal data a key seals: a household (its address and contact), a resident (their
# name), an organisation (its contact).
SubjectKind = Literal["household", "resident", "organisation"]


@dataclass(frozen=True)
class SubjectKey:
    """A subject's key, or, once destroyed, only that and when it was."""

    subject_id: uuid.UUID
    kind: SubjectKind
    key: str | None  # None once destroyed
    created_at: datetime
    destroyed_at: datetime | None = None

    @property
    def destroyed(self) -> bool:
        return self.destroyed_at is not None
