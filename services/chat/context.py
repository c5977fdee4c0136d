"""The typed request context, and the agent context tools read it from."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Annotated, Protocol

from chatkit.agents import AgentContext
from chatkit.types import Page, ThreadItem
from pydantic import Field, SkipValidation

from shared.contracts.chat import ReaderContext
from shared.contracts.common import PageContext
from shared.contracts.retrieval import SearchHit, SearchRequest, SearchResponse


class SearchBackend(Protocol):
    """What the agent needs from the retrieval service (`RetrievalClient` provides it)."""

    async def search(self, request: SearchRequest) -> SearchResponse: ...


@dataclass
class RequestContext:
    """Who is asking and what they are reading: built once per request from headers and
    the ChatKit request's `metadata`, passed to the store and to `respond()`."""

    user_id: str
    request_id: str | None = None
    reader: ReaderContext = field(default_factory=ReaderContext)
    idempotency_key: str | None = None
    gateway_url: str | None = None
    """Public URL of the gateway that forwarded the request (upload links point there)."""
    keyed_thread_id: str | None = None
    """Thread of a keyed submission (see `idempotency.py`)."""
    keyed_message_id: str | None = None
    """User message id of a keyed submission."""
    # Ids the store hands out next, once each (see `ChatStore`).
    thread_id_override: str | None = None
    message_id_override: str | None = None
    new_thread: bool = False
    """The request creates its thread: there is no earlier history to load."""
    history_prefetch: asyncio.Task[Page[ThreadItem]] | None = None
    """The thread's newest items, read while the SDK saves the new message."""
    title: str | None = None
    """The title the reply will give a new thread (kept for a cancelled reply)."""
    pending_writes: asyncio.Future[None] | None = None
    newest_items: tuple[str, list[ThreadItem], bool] | None = None

    @property
    def page_context(self) -> PageContext:
        return self.reader.page_context

    @property
    def selected_text(self) -> str | None:
        text = (self.reader.selected_text or "").strip()
        return text or None


class BookAgentContext(AgentContext[RequestContext]):
    """ChatKit's agent context plus what the book tools need: the reader's position, the
    search backend, and the passages cited so far in this reply (numbered for citations)."""

    search: Annotated[SearchBackend, SkipValidation]
    corpus: str = "default"
    top_k: int = 5
    passages: dict[int, SearchHit] = Field(default_factory=dict)
    """Passages returned by `search_book` in this reply, by citation number."""
    shown_chunks: list[str] = Field(default_factory=list)
    """Chunk ids of passages already shown in a sources card in this reply."""

    @property
    def reader(self) -> RequestContext:
        return self.request_context

    def number_for(self, hit: SearchHit) -> int:
        """The citation number of `hit`, assigning the next free one when it is new."""
        for number, known in self.passages.items():
            if known.chunk_id == hit.chunk_id:
                return number
        number = len(self.passages) + 1
        self.passages[number] = hit
        return number
