"""Chat unit-test fixtures: the real app in process, a memory store and a fake search."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from chatkit.types import Attachment, Page, ThreadItem, ThreadMetadata, ThreadStreamEvent
from pydantic import TypeAdapter
from starlette.types import ASGIApp, Receive, Scope, Send

from services.chat.app import create_app
from services.chat.memory_store import MemoryStore
from services.chat.models.providers import ModelChoice
from services.chat.settings import ChatSettings
from shared.contracts.retrieval import SearchHit, SearchRequest, SearchResponse, Source
from shared.contracts.store import Owned, OwnershipQuery

EVENTS: TypeAdapter[ThreadStreamEvent] = TypeAdapter(ThreadStreamEvent)
USER = "reader-1"
READER = {
    "page_context": {"current_chapter": 1, "current_lesson": "welcome", "current_page": "ch1/p1"}
}
"""A ChatKit request's `metadata`: the reader is on the first page of chapter 1."""


def hit(n: int, text: str, *, chapter: int = 1, title: str | None = None) -> SearchHit:
    return SearchHit(
        chunk_id=f"chunk-{n}",
        text=text,
        score=1.0 / n,
        source=Source(
            document_id=f"ch{chapter}/page{n}",
            title=title or f"Page {n}",
            chapter=chapter,
            heading_path=[title or f"Page {n}", "Section"],
            url=f"/book/ch{chapter}/page{n}#section",
        ),
    )


BOOK_HITS = [
    hit(
        1,
        "Sign in with the magic link sent to your email address. Links expire quickly.",
        title="Welcome",
    ),
    hit(
        2,
        "Narrow a search to the current chapter with the scope menu.",
        chapter=2,
        title="Searching",
    ),
]


@dataclass
class FakeSearch:
    """Stands in for `RetrievalClient` in unit tests (same interface)."""

    hits: list[SearchHit] = field(default_factory=lambda: list(BOOK_HITS))
    error: Exception | None = None
    requests: list[SearchRequest] = field(default_factory=list)

    async def search(self, request: SearchRequest) -> SearchResponse:
        self.requests.append(request)
        if self.error is not None:
            raise self.error
        return SearchResponse(results=self.hits[: request.top_k], scope=request.scope)


@dataclass
class Reply:
    status: int
    events: list[Any]
    body: Any = None

    def of_type(self, kind: str) -> list[Any]:
        return [e for e in self.events if e.type == kind]

    @property
    def text(self) -> str:
        done = [
            e.item for e in self.of_type("thread.item.done") if e.item.type == "assistant_message"
        ]
        return "\n".join(part.text for item in done for part in item.content)


@dataclass
class Chat:
    """Posts ChatKit requests to the app and decodes every SSE frame with the SDK's type."""

    client: httpx.AsyncClient
    store: MemoryStore
    search: FakeSearch
    user: str = USER

    async def post(self, body: dict[str, Any], headers: dict[str, str] | None = None) -> Reply:
        response = await self.client.post(
            "/chatkit", json=body, headers={"x-user-id": self.user, **(headers or {})}
        )
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            return Reply(response.status_code, decode_sse(response.text))
        return Reply(response.status_code, [], response.json())

    async def create(self, text: str, metadata: dict[str, Any] | None = None, **kw: Any) -> Reply:
        return await self.post(create_body(text, metadata), **kw)

    async def add(self, thread_id: str, text: str, **kw: Any) -> Reply:
        return await self.post(
            {
                "type": "threads.add_user_message",
                "params": {"thread_id": thread_id, "input": user_input(text)},
            },
            **kw,
        )

    async def items(self, thread_id: str) -> list[Any]:
        page = await self.store.load_thread_items(
            thread_id, None, 200, "asc", {"user_id": self.user}
        )
        return page.data


def decode_sse(text: str) -> list[Any]:
    frames = [f for f in text.split("\n\n") if f.strip()]
    events = []
    for frame in frames:
        data = "".join(line[6:] for line in frame.split("\n") if line.startswith("data: "))
        events.append(EVENTS.validate_json(data))
    return events


def user_input(text: str, **extra: Any) -> dict[str, Any]:
    return {
        "content": [{"type": "input_text", "text": text}],
        "attachments": [],
        "inference_options": {},
        **extra,
    }


def create_body(text: str, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "threads.create", "params": {"input": user_input(text)}}
    if metadata is not None:
        body["metadata"] = metadata
    return body


class CountingStore(MemoryStore):
    """A memory store that counts the calls a request makes to it, by method."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()

    async def load_thread(self, thread_id: str, context: Any) -> ThreadMetadata:
        self.calls["load_thread"] += 1
        return await super().load_thread(thread_id, context)

    async def load_thread_items(
        self, thread_id: str, after: str | None, limit: int, order: str, context: Any
    ) -> Page[ThreadItem]:
        self.calls["load_thread_items"] += 1
        return await super().load_thread_items(thread_id, after, limit, order, context)

    async def load_item(self, thread_id: str, item_id: str, context: Any) -> ThreadItem:
        self.calls["load_item"] += 1
        return await super().load_item(thread_id, item_id, context)

    async def load_attachment(self, attachment_id: str, context: Any) -> Attachment:
        self.calls["load_attachment"] += 1
        return await super().load_attachment(attachment_id, context)

    async def owned(self, query: OwnershipQuery, context: Any) -> Owned:
        self.calls["owned"] += 1
        return await super().owned(query, context)


MakeChat = Callable[..., Any]


@pytest.fixture
def make_chat() -> MakeChat:
    """`async with make_chat(model=..., search=..., **settings) as chat:`."""

    @asynccontextmanager
    async def factory(
        model: ModelChoice | None = None,
        search: FakeSearch | None = None,
        store: MemoryStore | None = None,
        **settings: Any,
    ) -> AsyncIterator[Chat]:
        settings.setdefault("offline_token_delay_ms", 0)
        settings.setdefault("redis_url", None)  # not the environment's REDIS_URL
        config = ChatSettings(log_level="warning", log_json=False, **settings)
        store = store or MemoryStore()
        search = search or FakeSearch()
        app = create_app(config, store=store, search=search, model=model)
        async with app.router.lifespan_context(app) as state:
            transport = httpx.ASGITransport(app=with_state(app, state))
            async with httpx.AsyncClient(transport=transport, base_url="http://chat") as client:
                yield Chat(client, store, search)

    return factory


def with_state(app: ASGIApp, state: Mapping[str, Any] | None) -> ASGIApp:
    """`app` given the lifespan's state in every request, as a server does (httpx's
    `ASGITransport` runs no lifespan)."""

    async def call(scope: Scope, receive: Receive, send: Send) -> None:
        await app({**scope, "state": dict(state or {})}, receive, send)

    return call


def scripted(model: Any, *, chains: bool = False) -> ModelChoice:
    """A `ModelChoice` around a test model (e.g. `agents.testing.ScriptedModel`)."""
    return ModelChoice("offline", model, "scripted", chains_responses=chains)


def tool_output(text: str) -> dict[str, Any]:
    return json.loads(text)


async def async_iter(items: list[Any]) -> AsyncIterator[Any]:
    for item in items:
        yield item
