"""Finishing store writes after the client has gone away."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable

import anyio

logger = logging.getLogger(__name__)


async def finish_shielded(work: Awaitable[None], limit_s: float) -> bool:
    """Run `work` to completion (or `limit_s` seconds) even though the caller is being cancelled.

    A disconnect cancels the response task through an anyio cancel scope, which keeps
    cancelling every later await in that task; an unshielded store call made while
    handling the cancellation is itself cancelled before it sends anything. `work`
    runs as its own task; the wait for it is shielded from the scope and survives
    stray native cancellations. Returns whether `work` finished.
    """
    task = asyncio.ensure_future(work)
    deadline = time.monotonic() + limit_s
    with anyio.CancelScope(shield=True):
        while not task.done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                await asyncio.wait({task}, timeout=remaining)
            except asyncio.CancelledError:
                continue  # a native cancel of this task: the caller re-raises afterwards
    if not task.done():
        task.cancel()
        logger.warning("saving after a cancelled stream took over %.1fs; gave up", limit_s)
        return False
    if task.cancelled():
        return False
    if task.exception() is not None:
        logger.warning("saving after a cancelled stream failed: %r", task.exception())
        return False
    return True
