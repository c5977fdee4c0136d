"""A client that disconnects mid-answer: the run stops, the partial answer is stored."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import asyncpg
import httpx
from chatkit.server import ChatKitServer
from chatkit.types import AssistantMessageContentPartTextDelta as TextDelta

from tests.integration.chat.conftest import EVENTS, chat_service, stored_items, user_input

QUESTION = "How long does a magic link stay valid, and what about passwords?"


async def _disconnect_after_deltas(url: str, user: str, deltas: int) -> tuple[str, str]:
    """Stream a new thread's answer, hang up after `deltas` text deltas; (thread id, text)."""
    body = {"type": "threads.create", "params": {"input": user_input(QUESTION)}}
    thread_id, text, seen = "", "", 0
    async with (
        httpx.AsyncClient(base_url=url, timeout=30) as http,
        http.stream("POST", "/chatkit", json=body, headers={"x-user-id": user}) as response,
    ):
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if not line.startswith("data: "):
                continue
            event = EVENTS.validate_json(line[len("data: ") :])
            if event.type == "thread.created":
                thread_id = event.thread.id
            elif event.type == "thread.item.updated" and isinstance(event.update, TextDelta):
                text += event.update.delta
                seen += 1
                if seen >= deltas:
                    break  # leaving the blocks closes the connection mid-stream
    return thread_id, text


async def _wait_for(database_url: str, user: str, thread_id: str, kind: str) -> list[Any]:
    deadline = time.monotonic() + 5
    while True:
        rows = await stored_items(database_url, user, thread_id)
        if any(r["type"] == kind for r in rows) or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(0.05)


async def _title(database_url: str, user: str, thread_id: str) -> str | None:
    conn = await asyncpg.connect(database_url)
    try:
        data = await conn.fetchval(
            "SELECT data FROM threads WHERE user_id = $1 AND id = $2", user, thread_id
        )
    finally:
        await conn.close()
    value = (json.loads(data) if isinstance(data, str) else data).get("title")
    return str(value) if value is not None else None


async def test_disconnect_mid_answer_stores_the_partial_message(
    store_url: str, retrieval_url: str, database_url: str
) -> None:
    with chat_service(store_url, retrieval_url, offline_token_delay_ms=40) as (url, _):
        for _ in range(3):  # every time, not by luck of timing
            user = f"reader_{uuid.uuid4().hex[:10]}"
            thread_id, received = await _disconnect_after_deltas(url, user, deltas=4)
            rows = await _wait_for(database_url, user, thread_id, "sdk_hidden_context")
            kinds = [r["type"] for r in rows]
            assert kinds == ["user_message", "widget", "assistant_message", "sdk_hidden_context"]
            partial = rows[2]["content"][0]["text"]
            assert partial.startswith(received)
            # cancelled: far from the whole answer (tokens stop within a few deltas)
            assert len(partial.split()) < len(received.split()) + 10
            assert "ten minutes" not in partial
            thread_rows = await stored_items(database_url, user, thread_id)
            assert thread_rows == rows  # and nothing more arrives after the cancel
            title = await _title(database_url, user, thread_id)  # saved despite the cancel
            assert title == "How long does a magic link stay valid, and what about…"


async def test_sdk_default_cancel_handler_loses_the_partial_message(
    store_url: str, retrieval_url: str, database_url: str
) -> None:
    """The measurement behind the shielded handler: with the SDK's own
    `handle_stream_cancelled`, the store calls made after a disconnect are cancelled too
    (a request already on the wire may still land; the next one never leaves)."""
    with chat_service(store_url, retrieval_url, offline_token_delay_ms=40) as (url, app):
        server = app.state.server
        server.handle_stream_cancelled = ChatKitServer.handle_stream_cancelled.__get__(server)
        for _ in range(3):
            user = f"reader_{uuid.uuid4().hex[:10]}"
            thread_id, _ = await _disconnect_after_deltas(url, user, deltas=4)
            await asyncio.sleep(0.5)
            kinds = [r["type"] for r in await stored_items(database_url, user, thread_id)]
            assert "sdk_hidden_context" not in kinds, kinds
            print("SDK default handler kept:", kinds)
