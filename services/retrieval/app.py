"""The retrieval service app: `uvicorn services.retrieval.app:create_app --factory`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from services.retrieval.cache import CachedEmbedder, RedisVectors
from services.retrieval.embeddings import Embedder, EmbeddingError, build_embedder
from services.retrieval.index import VectorIndex, build_index
from services.retrieval.ingest import Ingestor, ingest_directory
from services.retrieval.lexical import Bm25Encoder
from services.retrieval.routes import routes
from services.retrieval.search import Searcher
from services.retrieval.settings import RetrievalSettings
from shared.errors import error_response
from shared.service import build_app
from shared.settings import load_settings

logger = logging.getLogger(__name__)


@dataclass
class Resources:
    """Everything a running retrieval service holds open."""

    embedder: CachedEmbedder
    index: VectorIndex
    searcher: Searcher
    ingestor: Ingestor


@asynccontextmanager
async def open_resources(
    settings: RetrievalSettings,
    *,
    embedder: Embedder | None = None,
    index: VectorIndex | None = None,
) -> AsyncIterator[Resources]:
    """Open the embedder, cache and index the settings describe (or the ones given, which
    the caller keeps owning), and close what was opened here on exit."""
    async with AsyncExitStack() as stack:
        if embedder is None:
            embedder = await asyncio.to_thread(build_embedder, settings)
            stack.push_async_callback(embedder.close)
        redis = None
        if settings.redis_url:
            redis = RedisVectors(
                settings.redis_url,
                ttl_s=settings.cache_ttl_s,
                timeout_s=settings.cache_timeout_s,
                retry_after_s=settings.cache_retry_after_s,
            )
            stack.push_async_callback(redis.close)
        cached = CachedEmbedder(
            embedder, redis=redis, prefix=settings.cache_prefix, lru_size=settings.lru_size
        )
        if index is None:
            index = build_index(settings, embedder.dimension)
            await index.open()
            stack.push_async_callback(index.close)
        encoder = Bm25Encoder()
        yield Resources(
            embedder=cached,
            index=index,
            searcher=Searcher(cached, index, encoder, settings),
            ingestor=Ingestor(cached, index, encoder, settings),
        )


async def ingest_if_empty(resources: Resources, root: Path, corpus: str) -> None:
    """Fill `corpus` from the pages under `root` unless it already has chunks."""
    if not await asyncio.to_thread(root.exists):
        logger.warning("ingest_on_start: %s does not exist; nothing ingested", root)
        return
    if await resources.index.count(corpus):
        logger.info("corpus %r already has chunks; start-up ingestion skipped", corpus)
        return
    results = await ingest_directory(resources.ingestor, root, corpus)
    logger.info(
        "ingested %d pages (%d chunks) from %s into corpus %r",
        len(results),
        sum(r.chunks for r in results),
        root,
        corpus,
    )


def create_app(
    settings: RetrievalSettings | None = None,
    *,
    embedder: Embedder | None = None,
    index: VectorIndex | None = None,
) -> Starlette:
    """Build the retrieval service. Resources open in the lifespan; an `embedder` or
    `index` passed in (tests, benchmarks) is used as is and not closed."""
    settings = settings or load_settings(RetrievalSettings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with open_resources(settings, embedder=embedder, index=index) as resources:
            app.state.resources = resources
            app.state.startup_ingest = None
            if settings.ingest_on_start is not None:
                app.state.startup_ingest = asyncio.create_task(
                    ingest_if_empty(resources, settings.ingest_on_start, settings.ingest_corpus)
                )
            try:
                yield
            finally:
                task = app.state.startup_ingest
                if task is not None and not task.done():
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)

    async def index_ready() -> None:
        await app.state.resources.index.ping()

    async def startup_ingest_done() -> None:
        task = app.state.startup_ingest
        if task is None:
            return
        if not task.done():
            raise RuntimeError("ingesting the book")
        if not task.cancelled() and task.exception() is not None:
            # Logged once here; the service still answers from what it has.
            logger.error("start-up ingestion failed: %r", task.exception())
            app.state.startup_ingest = None

    app = build_app(
        "retrieval",
        settings,
        routes,
        lifespan=lifespan,
        readiness={"index": index_ready, "startup_ingest": startup_ingest_done},
    )
    app.add_exception_handler(EmbeddingError, _unavailable)
    try:
        from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

        app.add_exception_handler(ResponseHandlingException, _unavailable)
        app.add_exception_handler(UnexpectedResponse, _unavailable)
    except ImportError:  # pragma: no cover - qdrant-client is a dependency
        pass
    return app


async def _unavailable(request: Request, exc: Exception) -> Response:
    logger.warning("dependency failed: %s: %s", type(exc).__name__, exc)
    return error_response(
        503,
        "A dependency of the retrieval service failed; retry shortly.",
        headers={"Retry-After": "1"},
    )
