"""The retrieval service app: `uvicorn services.retrieval.app:create_app --factory`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from starlette.applications import Starlette

from services.retrieval.embeddings import Embedder
from services.retrieval.errors import (
    DependencyError,
    InvalidDocument,
    ScopeError,
    UnsupportedDocument,
)
from services.retrieval.index import VectorIndex
from services.retrieval.ingest import ingest_if_empty
from services.retrieval.resources import Resources, open_resources
from services.retrieval.routes import routes
from services.retrieval.settings import RetrievalSettings
from shared.errors import ErrorTable
from shared.service import build_app
from shared.settings import load_settings

logger = logging.getLogger(__name__)

ERRORS: ErrorTable = {
    UnsupportedDocument: 415,
    InvalidDocument: 422,
    ScopeError: 422,
    DependencyError: 503,
}
"""The retrieval service's one error table: domain error -> HTTP status."""


@asynccontextmanager
async def _in_background(work: Coroutine[Any, Any, None]) -> AsyncIterator[asyncio.Task[None]]:
    """`work` as a task for the duration of the block; cancelled and awaited on exit."""
    task = asyncio.create_task(work)
    try:
        yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


class _Probes:
    """What `/readyz` checks in the running lifespan. (Readiness checks get no request,
    so they cannot read the lifespan state; the lifespan fills this in.)"""

    def __init__(self) -> None:
        self.index: VectorIndex | None = None
        self.ingestion: asyncio.Task[None] | None = None

    async def index_ready(self) -> None:
        if self.index is None:
            raise RuntimeError("the index is not open")
        await self.index.ping()

    async def startup_ingest_done(self) -> None:
        task = self.ingestion
        if task is None:
            return
        if not task.done():
            raise RuntimeError("ingesting the book")
        if not task.cancelled() and task.exception() is not None:
            # Logged once here; the service still answers from what it has.
            logger.error("start-up ingestion failed: %r", task.exception())
        self.ingestion = None


def create_app(
    settings: RetrievalSettings | None = None,
    *,
    embedder: Embedder | None = None,
    index: VectorIndex | None = None,
) -> Starlette:
    """Build the retrieval service. Resources open in the lifespan and are handed to
    handlers as its state; an `embedder` or `index` passed in (tests, benchmarks) is used
    as is and not closed."""
    settings = settings or load_settings(RetrievalSettings)
    probes = _Probes()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[Resources]:
        async with (
            open_resources(settings, embedder=embedder, index=index) as resources,
            AsyncExitStack() as stack,
        ):
            probes.index = resources["index"]
            if settings.ingest_on_start is not None:
                work = ingest_if_empty(
                    resources["ingestor"], settings.ingest_on_start, settings.ingest_corpus
                )
                probes.ingestion = await stack.enter_async_context(_in_background(work))
            yield resources

    return build_app(
        "retrieval",
        settings,
        routes,
        lifespan=lifespan,
        readiness={"index": probes.index_ready, "startup_ingest": probes.startup_ingest_done},
        errors=ERRORS,
    )
