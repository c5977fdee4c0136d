"""What a running retrieval service holds open: embedder, cache, index, the pages, and the
searcher and ingestor over them. The app's lifespan hands them to handlers; the CLI uses
them too."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TypedDict

from services.retrieval.cache import CachedEmbedder, RedisVectors
from services.retrieval.embeddings import Embedder, build_embedder
from services.retrieval.index import VectorIndex, build_index
from services.retrieval.ingest import Ingestor
from services.retrieval.lexical import Bm25Encoder
from services.retrieval.pages import PageStore
from services.retrieval.search import Searcher
from services.retrieval.settings import RetrievalSettings


class Resources(TypedDict):
    """The open resources; also the lifespan state handlers read (`request.state["searcher"]`)."""

    embedder: CachedEmbedder
    index: VectorIndex
    searcher: Searcher
    ingestor: Ingestor
    pages: PageStore


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
            stack.push_async_callback(index.close)  # also when opening fails half-way
            await index.open()
        encoder = Bm25Encoder()
        pages = PageStore(settings.data_dir / "pages")
        yield Resources(
            embedder=cached,
            index=index,
            searcher=Searcher(cached, index, encoder, settings),
            ingestor=Ingestor(cached, index, encoder, settings, pages),
            pages=pages,
        )
