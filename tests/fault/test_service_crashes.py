"""Services crashing under a live conversation: the client always gets an answer or a
retryable error in bounded time, and nothing stored is lost or doubled.

The stack runs on a private embedded PostgreSQL so that it, too, can be restarted.
Every test brings back what it kills.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fault.conftest import StackFactory
from tests.fault.gateway_user import BOOK_PAGE, Answer, GatewayUser, store_items
from tests.integration.gateway.sse import Received, iter_events
from tests.support.postgres import EmbeddedPostgres, embedded_postgres
from tests.support.stack import Stack

pytestmark = pytest.mark.fault

QUESTION = "How does the assistant search the book and cite its sources?"
SECOND = "Which models can the assistant use?"
ERROR_WITHIN_S = 15.0  # CHAT_STORE_TIMEOUT_S is 5 s; a refused connection fails at once


@pytest.fixture(scope="module")
def pg() -> Iterator[EmbeddedPostgres]:
    with embedded_postgres() as server:
        yield server


@pytest.fixture(scope="module")
def stack(start_stack: StackFactory, pg: EmbeddedPostgres) -> Iterator[Stack]:
    with start_stack(database_url=pg.url, token_delay_ms=20) as stack:
        yield stack


async def _kill_mid_answer(
    stack: Stack, user: GatewayUser, name: str, thread_id: str
) -> tuple[Received, float]:
    """Ask `SECOND` in the thread, kill service `name` after 3 text deltas, read the
    stream to its end: (what arrived, seconds from the kill to the end of the stream)."""
    body = {"query": SECOND, "thread_id": thread_id, "context": {"page_context": BOOK_PAGE}}
    received, killed_at, deltas = Received(), 0.0, 0
    async with (
        asyncio.timeout(60),
        user.http.stream("POST", "/assistant/chatkit", json=body) as response,
    ):
        assert response.status_code == 200
        async for kind, event in iter_events(response):
            if kind != "event":
                continue
            received.events.append(event)
            if event.get("update", {}).get("type") == "assistant_message.content_part.text_delta":
                deltas += 1
            if deltas == 3 and not killed_at:
                await asyncio.to_thread(stack.kill, name)
                killed_at = time.monotonic()
    assert killed_at, "the answer ended before the service could be killed"
    return received, time.monotonic() - killed_at


def _retryable_error(received: Received) -> None:
    errors = received.of_type("error")
    assert errors, f"no error event: {[e['type'] for e in received.events]}"
    assert all(e["allow_retry"] for e in errors), errors
    assert received.events[-1]["type"] == "error", received.events[-1]


async def _retry(user: GatewayUser, thread_id: str, message_id: str) -> Answer:
    """What the ChatKit client does on a retryable error: `threads.retry_after_item`."""
    body = {
        "type": "threads.retry_after_item",
        "params": {"thread_id": thread_id, "item_id": message_id},
    }
    return await user.native(body)


def _turns(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(type, id) of the visible user and assistant messages."""
    return [
        (i["type"], i["id"]) for i in items if i["type"] in ("user_message", "assistant_message")
    ]


@pytest.mark.parametrize("name", ["store", "chat"])
async def test_service_killed_mid_answer_then_restarted(stack: Stack, name: str) -> None:
    async with GatewayUser(stack.gateway) as user:
        first = await user.ask(QUESTION)
        assert first.status == 200 and not first.errors
        thread_id = first.received.thread_id()
        before = await user.items(thread_id)

        try:
            received, took = await _kill_mid_answer(stack, user, name, thread_id)
            _retryable_error(received)
            assert took < ERROR_WITHIN_S, f"the stream took {took:.1f}s to end after the crash"
            if name == "store":
                # while it is down: quick, retryable refusals, never a hang or a 500
                refused = await asyncio.wait_for(user.ask("Anything?", thread_id), 10)
                assert refused.status == 503, refused.body
                assert refused.body["error"]["code"] == "unavailable"
                fresh = await asyncio.wait_for(user.ask("Anything?"), 10)
                assert fresh.status == 200
                _retryable_error(fresh.received)
        finally:
            await asyncio.to_thread(stack.restart, name)

        message_ids = [
            e["item"]["id"]
            for e in received.of_type("thread.item.done")
            if e["item"]["type"] == "user_message"
        ]
        assert message_ids, "the new message was not reported before the crash"
        intact = await user.items(thread_id)
        assert intact[: len(before)] == before, "the earlier turn changed"
        assert [i["id"] for i in intact if i["type"] == "user_message"][-1] == message_ids[0]

        retried = await _retry(user, thread_id, message_ids[0])
        assert retried.status == 200 and not retried.errors, retried.received.events
        assert retried.assistant_text().strip()
        after = await user.items(thread_id)
        assert _turns(after) == [
            *_turns(before),
            ("user_message", message_ids[0]),
            ("assistant_message", retried.items("assistant_message")[-1]["id"]),
        ]


async def test_retrieval_down_the_answer_says_the_book_could_not_be_searched(
    stack: Stack,
) -> None:
    async with GatewayUser(stack.gateway) as user:
        await asyncio.to_thread(stack.kill, "retrieval")
        try:
            answer = await asyncio.wait_for(user.ask(QUESTION), 30)
            assert answer.status == 200 and not answer.errors, answer.received.events
            assert "couldn't search the book" in answer.assistant_text()
            assert not answer.items("widget"), "a sources card without sources"
            thread_id = answer.received.thread_id()
            again = await asyncio.wait_for(user.ask(SECOND, thread_id), 30)
            assert again.status == 200 and not again.errors
        finally:
            await asyncio.to_thread(stack.restart, "retrieval")
        back = await user.ask(SECOND, thread_id)
        assert back.status == 200 and not back.errors
        assert back.items("widget") and "couldn't search" not in back.assistant_text()
        assert [i["type"] for i in await user.items(thread_id)].count("user_message") == 3


async def test_postgres_restart_under_load_loses_and_doubles_nothing(
    stack: Stack, pg: EmbeddedPostgres
) -> None:
    """Conversations run while PostgreSQL restarts: a turn either succeeds or fails
    retryably, and every item any client was shown is stored exactly once, in order."""
    users, run_for = 8, 6.0
    failures: list[str] = []
    in_flight = 0

    async def converse(user: GatewayUser, stop_at: float) -> tuple[str, list[str]]:
        thread_id, shown = "", []
        n = 0
        while time.monotonic() < stop_at or not thread_id:
            n += 1
            nonlocal in_flight
            in_flight += 1
            try:
                answer = await user.ask(f"{QUESTION} ({n})", thread_id or None)
            finally:
                in_flight -= 1
            if answer.status != 200:
                assert answer.status in (502, 503, 504), answer.body
                failures.append(f"HTTP {answer.status}")
                continue
            if answer.errors:
                assert all(e["allow_retry"] for e in answer.errors), answer.errors
                failures.append("error event")
            if not thread_id and answer.received.of_type("thread.created"):
                thread_id = answer.received.thread_id()
            if answer.received.of_type("thread.created") and thread_id != (
                answer.received.thread_id()
            ):
                continue  # a new thread whose first turn failed: not this conversation
            shown += [e["item"]["id"] for e in answer.received.of_type("thread.item.done")]
        return thread_id, shown

    async with asyncio.timeout(120):
        clients = [GatewayUser(stack.gateway) for _ in range(users)]
        for client in clients:
            await client.open()
        try:
            stop_at = time.monotonic() + run_for
            runs = [asyncio.create_task(converse(c, stop_at)) for c in clients]
            await asyncio.sleep(run_for / 3)
            busy = in_flight
            await asyncio.to_thread(pg.restart)
            results = await asyncio.gather(*runs)
            turns = 0
            for client, (thread_id, shown) in zip(clients, results, strict=True):
                status, stored = await store_items(stack, client.user_id, thread_id)
                assert status == 200
                ids = [i["id"] for i in stored]
                doubled = [i for i, count in Counter(ids).items() if count > 1]
                assert not doubled, doubled
                assert [i for i in ids if i in set(shown)] == shown, "an item shown was lost"
                turns += sum(1 for i in stored if i["type"] == "user_message")
        finally:
            for client in clients:
                await client.http.aclose()
    assert busy == users, "PostgreSQL restarted with no conversation in flight"
    assert turns >= users * 2, "the load never ran"
    assert len(failures) <= busy, failures  # at most the turns in flight at the restart
