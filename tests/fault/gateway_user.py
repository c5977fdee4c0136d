"""A simulated reader of the gateway: one cookie jar (one dev identity) per user."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.integration.gateway.sse import Received, iter_events, read_all
from tests.support.stack import Stack

COOKIE = "chatkit_uid"
BOOK_PAGE = {"current_chapter": 1, "current_page": "01-getting-started/01-what-it-is"}


@dataclass
class Answer:
    """One `POST` to a chat endpoint: the status, and the events or the JSON body."""

    status: int
    received: Received = field(default_factory=Received)
    body: Any = None

    @property
    def errors(self) -> list[dict[str, Any]]:
        return self.received.of_type("error")

    def items(self, kind: str) -> list[dict[str, Any]]:
        """Items of `kind` the stream reported done."""
        return [
            e["item"]
            for e in self.received.of_type("thread.item.done")
            if e["item"]["type"] == kind
        ]

    def assistant_text(self) -> str:
        return "\n".join(
            part["text"] for item in self.items("assistant_message") for part in item["content"]
        )


def user_input(text: str) -> dict[str, Any]:
    return {
        "content": [{"type": "input_text", "text": text}],
        "attachments": [],
        "inference_options": {},
    }


def assistant_item(thread_id: str, item_id: str, text: str) -> dict[str, Any]:
    """An assistant message as the store takes it (`{"item": ...}` bodies)."""
    return {
        "type": "assistant_message",
        "id": item_id,
        "thread_id": thread_id,
        "created_at": "2026-01-01T00:00:00Z",
        "content": [{"text": text}],
    }


class GatewayUser:
    """A browser-like client of the gateway with its own dev cookie."""

    def __init__(self, gateway: str, *, timeout: float = 60.0) -> None:
        self.http = httpx.AsyncClient(base_url=gateway, timeout=timeout)

    async def __aenter__(self) -> GatewayUser:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()

    async def open(self) -> str:
        """Load a page, as a browser does first: the gateway mints the user's cookie."""
        response = await self.http.get("/api/book")
        assert response.status_code == 200, response.text
        return self.user_id

    @property
    def user_id(self) -> str:
        """The user id the gateway signed into the dev cookie (`user_id.timestamp.signature`)."""
        value = self.http.cookies.get(COOKIE)
        assert value, "no dev cookie yet"
        return value.partition(".")[0]

    async def ask(
        self,
        query: str,
        thread_id: str | None = None,
        *,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """`POST /assistant/chatkit` (simple payload), read to the end."""
        body: dict[str, Any] = {"query": query, "context": {"page_context": BOOK_PAGE}}
        if thread_id is not None:
            body["thread_id"] = thread_id
        return await self._post("/assistant/chatkit", body, headers)

    async def ask_and_hang_up(
        self,
        query: str,
        thread_id: str | None = None,
        *,
        deltas: int,
        headers: dict[str, str] | None = None,
    ) -> tuple[str, str, float]:
        """Ask, then hang up after `deltas` text deltas (0: right after the user message is
        reported): (thread id or "", text received, `time.monotonic()` of the hang-up)."""
        body: dict[str, Any] = {"query": query, "context": {"page_context": BOOK_PAGE}}
        if thread_id is not None:
            body["thread_id"] = thread_id
        text, seen = "", 0
        async with self.http.stream(
            "POST", "/assistant/chatkit", json=body, headers=headers
        ) as response:
            assert response.status_code == 200
            async for kind, event in iter_events(response):
                if kind != "event":
                    continue
                if event["type"] == "thread.created":
                    thread_id = event["thread"]["id"]
                update = event.get("update", {})
                if update.get("type") == "assistant_message.content_part.text_delta":
                    text += update["delta"]
                    seen += 1
                asked = event["type"] == "thread.item.done" and (
                    event["item"]["type"] == "user_message"
                )
                if seen >= deltas and (deltas or asked):
                    break
            else:
                raise AssertionError("the answer ended before the client could hang up")
            hung_up = time.monotonic()  # leaving the block closes the unfinished response
        return thread_id or "", text, hung_up

    async def native(self, body: dict[str, Any], headers: dict[str, str] | None = None) -> Answer:
        """`POST /chatkit` with any ChatKit request."""
        return await self._post("/chatkit", body, headers)

    async def _post(self, path: str, body: Any, headers: dict[str, str] | None) -> Answer:
        async with self.http.stream("POST", path, json=body, headers=headers) as response:
            if response.headers.get("content-type", "").startswith("text/event-stream"):
                return Answer(response.status_code, await read_all(response))
            await response.aread()
            return Answer(response.status_code, body=response.json())

    async def thread(self, thread_id: str) -> Answer:
        """`threads.get_by_id` through the gateway."""
        return await self.native({"type": "threads.get_by_id", "params": {"thread_id": thread_id}})

    async def items(self, thread_id: str) -> list[dict[str, Any]]:
        """Every visible item of the thread, oldest first (`items.list`, paged)."""
        items: list[dict[str, Any]] = []
        after = None
        while True:
            params: dict[str, Any] = {"thread_id": thread_id, "limit": 50, "order": "asc"}
            if after:
                params["after"] = after
            page = await self.native({"type": "items.list", "params": params})
            assert page.status == 200, page.body
            items += page.body["data"]
            if not page.body["has_more"]:
                return items
            after = page.body["after"]


async def store_items(
    stack: Stack, user_id: str, thread_id: str
) -> tuple[int, list[dict[str, Any]]]:
    """(status, items) of the thread straight from the store service, read as `user_id`:
    every kind of item, hidden ones too, oldest first."""
    headers = stack.acting_for(user_id)
    items: list[dict[str, Any]] = []
    after = None
    async with httpx.AsyncClient(base_url=stack.url("store"), headers=headers, timeout=30) as http:
        while True:
            params: dict[str, str | int] = {"limit": 100, "order": "asc"}
            if after:
                params["after"] = after
            response = await http.get(f"/v1/threads/{thread_id}/items", params=params)
            if response.status_code != 200:
                return response.status_code, []
            page = response.json()
            items += page["data"]
            if not page["has_more"]:
                return 200, items
            after = page["after"]
