"""Per-task context that follows a story across requests and events (correlation and causation)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


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
