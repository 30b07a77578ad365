"""Limit/offset pagination with a cap, the same shape on every list endpoint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_OFFSET = 1_000_000  # deeper than any real list; beyond it a 64-bit OFFSET could overflow


@dataclass(frozen=True)
class PageRequest:
    limit: int = DEFAULT_LIMIT
    offset: int = 0


async def page_request(
    limit: int = Query(
        default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="How many items at most"
    ),
    offset: int = Query(default=0, ge=0, le=MAX_OFFSET, description="How many items to skip"),
) -> PageRequest:
    """A FastAPI dependency reading `limit` and `offset` from the query string."""
    return PageRequest(limit=limit, offset=offset)


@dataclass(frozen=True)
class Slice(Generic[T]):
    """One page of a result as a use case returns it: the items and how many match in all."""

    items: list[T]
    total: int
    request: PageRequest


class Page(BaseModel, Generic[T]):
    """The response body of a list endpoint."""

    items: list[T]
    total: int
    limit: int
    offset: int
