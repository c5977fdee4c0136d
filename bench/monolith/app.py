"""`create_monolith_app`: chat + retrieval + an in-memory store in one process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette

from services.chat.app import create_app
from services.chat.memory_store import MemoryStore
from services.chat.models.providers import choose_model
from services.chat.settings import ChatSettings
from services.retrieval.ingest import ingest_if_empty
from services.retrieval.resources import open_resources
from services.retrieval.search import Searcher
from services.retrieval.settings import RetrievalSettings
from shared.contracts.retrieval import SearchRequest, SearchResponse


class InProcessSearch:
    """The retrieval service's `Searcher`, called directly."""

    def __init__(self) -> None:
        self.searcher: Searcher | None = None

    async def search(self, request: SearchRequest) -> SearchResponse:
        assert self.searcher is not None, "the monolith's lifespan has not opened the index"
        return await self.searcher.search(request)


def create_monolith_app(
    chat: ChatSettings, retrieval: RetrievalSettings, book: Path, corpus: str
) -> Starlette:
    """The chat app over `MemoryStore` and in-process search of `book` (ingested at start):
    its lifespan opens the retrieval resources around the chat app's own, whose state it
    passes on to the handlers."""
    search = InProcessSearch()
    app = create_app(chat, store=MemoryStore(), search=search, model=choose_model(chat))
    chat_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[Mapping[str, Any]]:
        async with open_resources(retrieval) as resources:
            await ingest_if_empty(resources["ingestor"], book, corpus)
            search.searcher = resources["searcher"]
            async with chat_lifespan(app) as state:
                yield state or {}  # what the chat handlers read (`request.state`)

    app.router.lifespan_context = lifespan
    return app
