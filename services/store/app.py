"""The store service app: `uvicorn services.store.app:create_app --factory`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from starlette.applications import Starlette

from services.store.database import Database, DatabaseUnavailable
from services.store.repository import (
    ChatKitRepository,
    Conflict,
    NotFound,
    QuotaExceeded,
    TooLarge,
)
from services.store.routes import routes
from services.store.settings import StoreSettings
from services.store.state import StoreState
from services.store.sweeper import sweep_forever
from shared.errors import ErrorTable
from shared.service import build_app
from shared.settings import load_settings

ERRORS: ErrorTable = {
    NotFound: 404,
    Conflict: 409,
    TooLarge: 413,
    QuotaExceeded: 403,
    DatabaseUnavailable: 503,
}
"""The store's domain errors and their HTTP statuses."""


def create_app(settings: StoreSettings | None = None) -> Starlette:
    """Build the store service; the database pool opens in the lifespan."""
    settings = settings or load_settings(StoreSettings)

    # Readiness checks get no request, so they reach the pool through this (the lifespan
    # fills it in); handlers get it as lifespan state.
    opened: dict[str, Database] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[StoreState]:
        db = await Database.open(
            settings.database_url,
            data_dir=settings.data_dir,
            min_size=settings.pool_min_size,
            max_size=settings.pool_max_size,
            statement_timeout_ms=settings.statement_timeout_ms,
            reconnect_window_s=settings.reconnect_window_s,
            limits=settings.database_limits(),
        )
        opened["db"] = db
        repository = ChatKitRepository(db, settings)
        sweeper = (
            asyncio.create_task(
                sweep_forever(
                    repository,
                    settings.unsent_attachment_ttl_s,
                    settings.attachment_sweep_interval_s,
                ),
                name="unsent-attachment-sweep",
            )
            if settings.attachment_sweep_interval_s
            else None
        )
        try:
            yield StoreState(db=db, repository=repository)
        finally:
            opened.clear()
            if sweeper is not None:
                sweeper.cancel()
                with suppress(asyncio.CancelledError):
                    await sweeper
            await db.close()

    async def database_ready() -> None:
        await opened["db"].ping()

    return build_app(
        "store",
        settings,
        routes,
        lifespan=lifespan,
        readiness={"postgres": database_ready},
        body_limits={r"/v1/attachments/[^/]+/content$": settings.max_attachment_bytes},
        errors=ERRORS,
    )
