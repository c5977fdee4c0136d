"""The store service app: `uvicorn services.store.app:create_app --factory`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from services.store.database import Database, DatabaseUnavailable
from services.store.repository import ChatKitRepository
from services.store.routes import routes
from services.store.settings import StoreSettings
from shared.errors import error_response
from shared.service import build_app
from shared.settings import load_settings


def create_app(settings: StoreSettings | None = None) -> Starlette:
    """Build the store service; the database pool opens in the lifespan."""
    settings = settings or load_settings(StoreSettings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        db = await Database.open(
            settings.database_url,
            data_dir=settings.data_dir,
            min_size=settings.pool_min_size,
            max_size=settings.pool_max_size,
            statement_timeout_ms=settings.statement_timeout_ms,
            reconnect_window_s=settings.reconnect_window_s,
        )
        app.state.db = db
        app.state.repository = ChatKitRepository(db)
        try:
            yield
        finally:
            await db.close()

    async def database_ready() -> None:
        await app.state.db.ping()

    app = build_app(
        "store",
        settings,
        routes,
        lifespan=lifespan,
        readiness={"postgres": database_ready},
        body_limits={r"/v1/attachments/[^/]+/content$": settings.max_attachment_bytes},
    )
    app.add_exception_handler(DatabaseUnavailable, _database_unavailable)
    return app


async def _database_unavailable(request: Request, exc: Exception) -> Response:
    return error_response(
        503, "The database is unavailable; retry shortly.", headers={"Retry-After": "1"}
    )
