"""Waits that something else can end early: a bare timer and future, no task and no timeout per wait.

Injected latency (``middleware``) and a reply's pace (``realtime.responses``) wait this way, many at once,
and the server's shutdown or a ``response.cancel`` ends them with :func:`wake`.
"""

from __future__ import annotations

import asyncio

__all__ = ["sleep_on", "wake"]


def wake(waiter: asyncio.Future[None]) -> None:
    """End a wait on ``waiter`` now (nothing happens if it has ended already)."""
    if not waiter.done():
        waiter.set_result(None)


async def sleep_on(waiter: asyncio.Future[None], seconds: float) -> None:
    """Wait ``seconds``, or less if ``waiter`` is woken first."""
    timer = asyncio.get_running_loop().call_later(seconds, wake, waiter)
    try:
        await waiter
    finally:
        timer.cancel()
