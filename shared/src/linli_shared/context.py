"""Per-task context that follows a story across requests and events (correlation and causation)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

# What an id that came from outside (a request header, an event attribute) may look like before
# it is stored (audit trail, notices) or carried on events: short, printable, no separators of
# log or query syntax. Anything else is replaced by a fresh id (docs/security.md).
MAX_ID_LENGTH = 64
_SAFE_ID = re.compile(rf"[A-Za-z0-9][A-Za-z0-9_.:-]{{0,{MAX_ID_LENGTH - 1}}}")


def is_safe_id(value: object) -> bool:
    return isinstance(value, str) and _SAFE_ID.fullmatch(value) is not None


def correlation_id_from(value: object) -> str:
    """An incoming correlation id if it is safe to keep, else a fresh one."""
    return value if isinstance(value, str) and is_safe_id(value) else str(uuid.uuid4())


@dataclass(frozen=True)
class EventContext:
    correlation_id: str
    causation_id: str | None = None


_current: ContextVar[EventContext | None] = ContextVar("linli_event_context", default=None)


def current_context() -> EventContext:
    """The context of the running request or handler; a fresh correlation id if there is none."""
    context = _current.get()
    return context if context is not None else EventContext(correlation_id=str(uuid.uuid4()))


@contextmanager
def event_context(correlation_id: str, causation_id: str | None = None) -> Iterator[EventContext]:
    context = EventContext(correlation_id=correlation_id, causation_id=causation_id)
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)
