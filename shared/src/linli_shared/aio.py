"""Small asyncio helpers for the background loops."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence


async def sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    """Sleep, but wake at once when `stop` is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def wait_for_either(first: asyncio.Event, second: asyncio.Event, seconds: float) -> None:
    """Return when either event is set, or after `seconds`."""
    await wait_for_any([first, second], seconds)


async def wait_for_any(events: Sequence[asyncio.Event], seconds: float) -> None:
    """Return when any of the events is set, or after `seconds`."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
