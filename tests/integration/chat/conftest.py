"""Real services for chat integration tests: store (PostgreSQL), retrieval (local model,
embedded index, a small book) and the chat service, all over real HTTP."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from chatkit.types import ThreadStreamEvent
from pydantic import TypeAdapter
from starlette.applications import Starlette

from services.chat.app import create_app
from services.chat.settings import ChatSettings
from tests.support.servers import serve

EVENTS: TypeAdapter[ThreadStreamEvent] = TypeAdapter(ThreadStreamEvent)
CORPUS = "chat-it"
BOOK = {
    "01-start/01-accounts.md": """---
title: Accounts
chapter: 1
lesson: accounts
---

# Accounts

## Signing in

Sign in with the magic link sent to your email address. A magic link expires after ten
minutes, so request a new one if it stops working.

## Passwords

The platform has no passwords at all; every sign-in goes through email.
""",
    "01-start/02-workspace.md": """---
title: Workspaces
chapter: 1
lesson: workspace
---

# Workspaces

## Creating a workspace

Create a workspace from the dashboard with the New workspace button. Each workspace has its
own members and its own billing.
""",
    "02-search/01-scopes.md": """---
title: Search scopes
chapter: 2
lesson: scopes
---

# Search scopes

## Narrowing a search

Narrow a search to the current chapter with the scope menu next to the search box. The
full-book scope still ranks passages from your chapter first.
""",
}


@pytest.fixture(scope="session")
def retrieval_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real retrieval service holding the small book above."""
    from services.retrieval.app import create_app as create_retrieval
    from services.retrieval.embeddings import LocalEmbedder
    from services.retrieval.settings import RetrievalSettings

    root: Path = tmp_path_factory.mktemp("chat-retrieval")
    settings = RetrievalSettings(
        data_dir=root / "index", log_level="warning", log_json=False, redis_url=None
    )
    with serve(create_retrieval(settings, embedder=LocalEmbedder())) as url:
        body = {"corpus": CORPUS, "documents": [{"path": p, "content": c} for p, c in BOOK.items()]}
        response = httpx.post(f"{url}/v1/documents", json=body, timeout=300)
        assert response.status_code == 200, response.text
        yield url


def chat_settings(store_url: str, retrieval_url: str, **overrides: Any) -> ChatSettings:
    values: dict[str, Any] = {
        "store_url": store_url,
        "retrieval_url": retrieval_url,
        "corpus": CORPUS,
        "offline_token_delay_ms": 0,
        "log_level": "warning",
        "log_json": False,
        "redis_url": None,  # not the environment's REDIS_URL (test_shared_runs.py has it)
        **overrides,
    }
    return ChatSettings(**values)


@contextmanager
def chat_service(
    store_url: str, retrieval_url: str, **overrides: Any
) -> Iterator[tuple[str, Starlette]]:
    """A chat service (uvicorn, real port) on the given store and retrieval services."""
    app = create_app(chat_settings(store_url, retrieval_url, **overrides))
    with serve(app) as url:
        yield url, app


@pytest.fixture(scope="session")
def chat_url(store_url: str, retrieval_url: str) -> Iterator[str]:
    """The chat service on the real store and retrieval services, offline model, no delay."""
    with chat_service(store_url, retrieval_url) as (url, _):
        yield url


@dataclass
class Reply:
    status: int
    events: list[Any] = field(default_factory=list)
    body: Any = None

    def of_type(self, kind: str) -> list[Any]:
        return [e for e in self.events if e.type == kind]

    def items(self, kind: str) -> list[Any]:
        return [e.item for e in self.of_type("thread.item.done") if e.item.type == kind]

    @property
    def thread_id(self) -> str:
        return str(self.of_type("thread.created")[0].thread.id)

    @property
    def text(self) -> str:
        return "\n".join(p.text for i in self.items("assistant_message") for p in i.content)


def decode_frames(raw: str) -> list[Any]:
    """Every SSE frame of a ChatKit stream, decoded with the SDK's `ThreadStreamEvent`."""
    events = []
    for frame in raw.split("\n\n"):
        if not frame.strip():
            continue
        assert frame.startswith("data: "), frame
        events.append(EVENTS.validate_json(frame[len("data: ") :]))
    return events


def user_input(text: str) -> dict[str, Any]:
    return {
        "content": [{"type": "input_text", "text": text}],
        "attachments": [],
        "inference_options": {},
    }


@dataclass
class ChatClient:
    """A ChatKit client of the chat service over real HTTP."""

    http: httpx.AsyncClient
    user: str

    async def post(self, body: dict[str, Any], headers: dict[str, str] | None = None) -> Reply:
        response = await self.http.post(
            "/chatkit", json=body, headers={"x-user-id": self.user, **(headers or {})}
        )
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            return Reply(response.status_code, decode_frames(response.text))
        return Reply(response.status_code, body=response.json())

    async def create(self, text: str, metadata: dict[str, Any] | None = None, **kw: Any) -> Reply:
        body = {"type": "threads.create", "params": {"input": user_input(text)}}
        if metadata:
            body["metadata"] = metadata
        return await self.post(body, **kw)

    async def add(
        self, thread_id: str, text: str, metadata: dict[str, Any] | None = None, **kw: Any
    ) -> Reply:
        body: dict[str, Any] = {
            "type": "threads.add_user_message",
            "params": {"thread_id": thread_id, "input": user_input(text)},
        }
        if metadata:
            body["metadata"] = metadata
        return await self.post(body, **kw)


ClientFactory = Callable[[str], Any]


@pytest.fixture
async def connect() -> AsyncIterator[Callable[[str, str], ChatClient]]:
    """`connect(base_url, user)`: a `ChatClient`, closed after the test."""
    opened: list[httpx.AsyncClient] = []

    def factory(base_url: str, user: str) -> ChatClient:
        http = httpx.AsyncClient(base_url=base_url, timeout=60)
        opened.append(http)
        return ChatClient(http, user)

    yield factory
    for http in opened:
        await http.aclose()


async def stored_items(database_url: str, user: str, thread_id: str) -> list[dict[str, Any]]:
    """The thread's items as PostgreSQL has them, in thread order."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT data FROM thread_items WHERE user_id = $1 AND thread_id = $2 ORDER BY seq",
            user,
            thread_id,
        )
    finally:
        await conn.close()
    return [json.loads(r["data"]) if isinstance(r["data"], str) else r["data"] for r in rows]


async def stored_thread(database_url: str, user: str, thread_id: str) -> dict[str, Any]:
    """The thread's record (`ThreadMetadata` as JSON) as PostgreSQL has it."""
    conn = await asyncpg.connect(database_url)
    try:
        data = await conn.fetchval(
            "SELECT data FROM threads WHERE user_id = $1 AND id = $2", user, thread_id
        )
    finally:
        await conn.close()
    return json.loads(data) if isinstance(data, str) else dict(data)
