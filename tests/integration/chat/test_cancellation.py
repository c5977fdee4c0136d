"""A client that disconnects mid-answer: the run stops, the partial answer is stored."""

from __future__ import annotations

import json
import uuid

import asyncpg
import httpx
import pytest
from chatkit.server import ChatKitServer
from chatkit.types import AssistantMessageContentPartTextDelta as TextDelta

from services.chat.server import BookChatServer
from tests.integration.chat.conftest import EVENTS, chat_service, stored_items, user_input
from tests.support.waiting import finished_requests, until_finished

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


async def _whole_answer(url: str, user: str) -> str:
    """The answer to QUESTION read to its end: how long an answer runs when not cancelled."""
    body = {"type": "threads.create", "params": {"input": user_input(QUESTION)}}
    async with httpx.AsyncClient(base_url=url, timeout=120) as http:
        response = await http.post("/chatkit", json=body, headers={"x-user-id": user})
    assert response.status_code == 200
    events = [
        EVENTS.validate_json(line[len("data: ") :])
        for line in response.text.splitlines()
        if line.startswith("data: ")
    ]
    return "".join(
        part.text
        for e in events
        if e.type == "thread.item.done" and e.item.type == "assistant_message"
        for part in e.item.content
    )


async def _cancelled_run(url: str, user: str) -> tuple[str, str]:
    """`_disconnect_after_deltas`, then wait until the service has finished that request:
    the run, and whatever it saves after the disconnect, are over."""
    finished = await finished_requests(url, "POST", "/chatkit")
    thread_id, received = await _disconnect_after_deltas(url, user, deltas=4)
    await until_finished(url, "POST", "/chatkit", finished + 1)
    return thread_id, received


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
        whole = await _whole_answer(url, f"reader_{uuid.uuid4().hex[:10]}")
        for _ in range(3):  # every time, not by luck of timing
            user = f"reader_{uuid.uuid4().hex[:10]}"
            thread_id, received = await _cancelled_run(url, user)
            rows = await stored_items(database_url, user, thread_id)
            kinds = [r["type"] for r in rows]
            assert kinds == ["user_message", "widget", "assistant_message", "sdk_hidden_context"]
            partial = rows[2]["content"][0]["text"]
            assert partial.startswith(received)
            assert len(partial) < len(whole), "the run was not cancelled"
            title = await _title(database_url, user, thread_id)  # saved despite the cancel
            assert title == "How long does a magic link stay valid, and what about…"


async def test_sdk_default_cancel_handler_loses_the_partial_message(
    store_url: str, retrieval_url: str, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The measurement behind the shielded handler: with the SDK's own
    `handle_stream_cancelled`, the store calls made after a disconnect are cancelled too
    (a request already on the wire may still land; the next one never leaves)."""
    sdk_default = ChatKitServer.handle_stream_cancelled
    monkeypatch.setattr(BookChatServer, "handle_stream_cancelled", sdk_default)
    with chat_service(store_url, retrieval_url, offline_token_delay_ms=40) as (url, _):
        for _ in range(3):
            user = f"reader_{uuid.uuid4().hex[:10]}"
            thread_id, _ = await _cancelled_run(url, user)
            kinds = [r["type"] for r in await stored_items(database_url, user, thread_id)]
            assert "sdk_hidden_context" not in kinds, kinds
            print("SDK default handler kept:", kinds)
