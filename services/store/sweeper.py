"""Deleting attachments nobody sent: uploaded, never carried by a message, older than a TTL.

Each store replica runs one sweep every `attachment_sweep_interval_s`; the repository
deletes in bounded batches and skips rows another replica is deleting.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from services.store.database import DatabaseUnavailable
from services.store.repository import ChatKitRepository

logger = logging.getLogger(__name__)

BATCH = 500
"""Attachments deleted per statement; a sweep goes on while batches come back full."""


async def sweep_once(repository: ChatKitRepository, older_than_s: float) -> int:
    """Delete every unsent attachment older than `older_than_s`; returns how many."""
    total = 0
    while True:
        deleted = await repository.delete_unsent_attachments(older_than_s, BATCH)
        total += deleted
        if deleted < BATCH:
            return total


async def sweep_forever(
    repository: ChatKitRepository, older_than_s: float, interval_s: float
) -> None:
    """`sweep_once` every `interval_s` until cancelled; a failed sweep is logged and retried
    at the next interval (PostgreSQL may be restarting)."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            deleted = await sweep_once(repository, older_than_s)
        except (DatabaseUnavailable, asyncpg.PostgresError, OSError) as exc:
            logger.warning("unsent attachment sweep failed: %r", exc)
            continue
        if deleted:
            logger.info("deleted %d attachments never sent in a message", deleted)
