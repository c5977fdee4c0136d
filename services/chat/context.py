"""What one request carries (`RequestContext`), and the agent context tools read it from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Protocol

from chatkit.agents import AgentContext
from pydantic import Field, SkipValidation

from services.chat.chat_store import StoreSession
from services.chat.mentions import Mention
from services.chat.submission import Submission
from shared.contracts.chat import ReaderContext
from shared.contracts.common import PageContext
from shared.contracts.retrieval import SearchHit, SearchRequest, SearchResponse


class SearchBackend(Protocol):
    """What the agent needs from the retrieval service (`RetrievalClient` provides it)."""

    async def search(self, request: SearchRequest) -> SearchResponse: ...


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Who is asking and what they are reading: built once per request from its headers
    and the ChatKit request's `metadata`, handed to the store and to `respond()`."""

    user_id: str
    user_assertion: str | None = None
    """The gateway's signed assertion of `user_id`, passed on to the store."""
    request_id: str | None = None
    reader: ReaderContext = field(default_factory=ReaderContext)
    gateway_url: str | None = None
    """Public URL of the gateway that forwarded the request (upload links point there)."""
    submission: Submission | None = None
    """The message this request submits (`threads.create`, `threads.add_user_message`)."""
    session: StoreSession = field(default_factory=StoreSession)
    """This request's state in `ChatStore`."""
    mentions: Mapping[str, Mention] = field(default_factory=dict)
    """What the submitted message @-mentions, resolved before its answer starts."""

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
    mentions: list[Mention] = Field(default_factory=list)
    """Chapters and pages the reader's message @-mentions (searched first)."""

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
