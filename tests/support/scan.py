"""Where personal data could still be: every row of a service's database, as text.

Each value is read as the service stored it; bytes are decoded, and JSON (in columns or in
event payloads) is written out again without ASCII escapes, so a name stored as `\\u738b` is
found as 王 too.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import MetaData, select
from sqlalchemy.ext.asyncio import create_async_engine

from linli_shared.db import async_url


async def database_text(url: str) -> dict[str, str]:
    """Every table of the database, its rows as text (one line a row)."""
    engine = create_async_engine(async_url(url))
    try:
        async with engine.connect() as connection:
            metadata = MetaData()
            await connection.run_sync(metadata.reflect)
            found: dict[str, str] = {}
            for table in metadata.sorted_tables:
                rows = await connection.execute(select(table))
                found[table.name] = "\n".join(
                    " | ".join(as_text(value) for value in row) for row in rows
                )
            return found
    finally:
        await engine.dispose()


def where_found(texts: dict[str, str], needles: list[str]) -> list[str]:
    """`needle in table` for every needle some table still holds."""
    return [
        f"{needle!r} in {table}"
        for needle in needles
        for table, text in texts.items()
        if needle in text
    ]


def as_text(value: Any) -> str:
    """A stored value as text to search: bytes decoded, JSON (within JSON too, a payload carried
    as a string) written out again without ASCII escapes."""
    if isinstance(value, bytes | bytearray | memoryview):
        value = bytes(value).decode("utf-8", errors="replace")
    unnested = _unnested(value)
    if isinstance(unnested, dict | list):
        return json.dumps(unnested, ensure_ascii=False, default=str)
    return str(unnested)


def _unnested(value: object) -> object:
    if isinstance(value, str):
        if value[:1] not in "{[":
            return value
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        return _unnested(parsed) if isinstance(parsed, dict | list) else value
    if isinstance(value, dict):
        return {k: _unnested(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unnested(v) for v in value]
    return value
