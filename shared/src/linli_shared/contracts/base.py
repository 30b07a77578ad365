"""The base of every event contract: one pydantic model per event type and version."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict

# Tolerant readers: a field this reader does not know (added by a newer release) is ignored, so
# an additive change rolls out service by service with no event dead-lettered in between. The
# JSON Schemas generated from the contracts allow additional properties for the same reason.
TOLERANT = ConfigDict(extra="ignore", frozen=True)


def dropping_unknown(*known: str) -> BeforeValidator:
    """For a list of options (such as notice channels): values this reader does not know are
    dropped and the reader acts on the ones it knows (docs/events.md, "Tolerant readers")."""
    allowed = frozenset(known)

    def keep_known(value: Any) -> Any:
        if isinstance(value, list):
            return [item for item in value if not isinstance(item, str) or item in allowed]
        return value

    return BeforeValidator(keep_known)


class EventData(BaseModel):
    """The `data` of one CloudEvents type.

    Subclasses name their CloudEvents `type`, the topic they travel on and the field that is the
    partition key (the household or organisation the event is about), so per-subject order holds.
    A breaking change is a new class with a new version suffix, never an edit.
    """

    model_config = TOLERANT

    event_type: ClassVar[str]
    topic: ClassVar[str]
    key_field: ClassVar[str]
    partner_readable: ClassVar[bool] = False

    def partition_key(self) -> str:
        return str(getattr(self, self.key_field))


class EventCatalogue:
    """Every event type the platform knows, by CloudEvents type."""

    def __init__(self, models: list[type[EventData]]) -> None:
        self._by_type: dict[str, type[EventData]] = {}
        for model in models:
            if model.event_type in self._by_type:
                raise ValueError(f"duplicate event type {model.event_type}")
            self._by_type[model.event_type] = model

    def model_for(self, event_type: str) -> type[EventData] | None:
        return self._by_type.get(event_type)

    def __iter__(self) -> Iterator[type[EventData]]:
        return iter(self._by_type.values())

    def topics(self) -> set[str]:
        return {model.topic for model in self._by_type.values()}
