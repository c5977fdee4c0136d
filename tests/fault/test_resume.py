"""Resumable answers (`X-ChatKit-Resumable: 1`): a dropped connection leaves the answer
running; the client resumes with `Last-Event-ID`, through the same or another gateway
replica, and gets every event once, in order; stop is explicit; nobody resuming within the
grace period cancels the answer and keeps its partial reply."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fault.conftest import StackFactory
from tests.fault.gateway_user import BOOK_PAGE, COOKIE, GatewayUser, user_input
from tests.fault.resumable import (
    CANCEL_NOTE,
    QUESTION,
    RESUMABLE,
    Events,
    ask_until,
    check_once_in_order,
    events_of,
    resume,
    stop_through,
    stored_answer,
)
from tests.support.processes import start_service
from tests.support.stack import Stack
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import until

pytestmark = pytest.mark.fault

GRACE_S = 2.0


@pytest.fixture(scope="module")
def stack(start_stack: StackFactory) -> Iterator[Stack]:
    """Answers stream slowly (a few seconds each), with a short grace period."""
    env = {"chat": {"CHAT_RESUME_GRACE_S": str(GRACE_S)}}
    with start_stack(token_delay_ms=100, extra_env=env) as stack:
        yield stack


async def test_a_cut_connection_resumes_with_every_event_once_and_the_whole_answer(
    stack: Stack,
) -> None:
    proxy = TcpProxy(stack.services["gateway"].port)
    proxy.start()
    try:
        async with GatewayUser(stack.gateway) as user:
            seen = Events()
            http = user.http
            # A network drop, mid-answer: the proxy resets both connections.
            thread_id = await ask_until(http, proxy.url, seen, deltas=5, cut=proxy.reset)
            assert thread_id and seen.text()
            cut_at = len(seen.ids)
            assert await resume(http, stack.gateway, thread_id, seen) == 200
            assert len(seen.ids) > cut_at
            check_once_in_order(seen)
            assert seen.events[-1]["type"] != "error", seen.events[-1]
            whole = seen.done_text()
            assert whole and seen.text() == whole  # every delta once: they add up to it
            items = await stored_answer(stack, user, thread_id)
            saved = [i for i in items if i["type"] == "assistant_message"]
            assert "".join(p["text"] for i in saved for p in i["content"]) == whole
            assert not any(CANCEL_NOTE in str(i.get("content")) for i in items)
            # Ended: without an event id there is nothing to resume (the thread has it all).
            again = await user.http.get(f"/chatkit/streams/{thread_id}")
            assert again.status_code == 204
    finally:
        proxy.stop()


async def test_the_answer_resumes_through_another_gateway_replica(stack: Stack) -> None:
    other = start_service("gateway", stack.env["gateway"])
    try:
        async with GatewayUser(stack.gateway) as user:
            seen = Events()
            http = user.http
            # The replica that served the stream dies mid-answer.
            kill = lambda: stack.kill("gateway")  # noqa: E731
            thread_id = await ask_until(http, stack.gateway, seen, deltas=3, cut=kill)
            assert await resume(http, other.url, thread_id, seen) == 200
            check_once_in_order(seen)
            whole = seen.done_text()
            assert whole and seen.text() == whole
    finally:
        other.stop()
        stack.restart("gateway")


async def test_stop_is_explicit_and_keeps_the_partial_answer(stack: Stack) -> None:
    async with GatewayUser(stack.gateway) as user:
        await stop_through(stack, user, stack.gateway)


async def test_a_stop_whose_client_left_at_once_still_stops_the_answer(stack: Stack) -> None:
    """A page reloaded right after its stop: the stop request's connection closes before
    its answer, and the gateway still carries it through."""
    async with GatewayUser(stack.gateway) as user:
        seen = Events()
        body = {"query": QUESTION, "context": {"page_context": BOOK_PAGE}}
        async with user.http.stream(
            "POST", "/assistant/chatkit", json=body, headers=RESUMABLE
        ) as response:
            sent = False
            async for event_id, event in events_of(response):
                seen.ids.append(event_id)
                seen.events.append(event)
                if seen.text() and not sent:
                    thread_id = seen.events[0]["thread"]["id"]
                    port = stack.services["gateway"].port
                    _, writer = await asyncio.open_connection("127.0.0.1", port)
                    writer.write(
                        f"POST /chatkit/streams/{thread_id}/stop HTTP/1.1\r\n"
                        f"Host: 127.0.0.1:{port}\r\n"
                        f"Cookie: {COOKIE}={user.http.cookies[COOKIE]}\r\n"
                        "Content-Length: 0\r\n\r\n".encode()
                    )
                    await writer.drain()
                    writer.close()  # gone before the answer
                    sent = True
        assert not seen.done_text(), "the answer ran to its end"
        items = await stored_answer(stack, user, thread_id)
        assert CANCEL_NOTE in str(items[-1]["content"])


async def test_nobody_resuming_within_the_grace_period_cancels_the_answer(stack: Stack) -> None:
    async with GatewayUser(stack.gateway) as user:
        seen = Events()
        thread_id = await ask_until(user.http, stack.gateway, seen, deltas=2)
        hung_up = time.monotonic()  # leaving `_ask_until` closed the response

        async def cancelled() -> list[dict[str, Any]] | None:
            items = await stored_answer(stack, user, thread_id)
            return items if CANCEL_NOTE in str(items[-1].get("content")) else None

        items = await until(cancelled, what="the answer cancelled after the grace period")
        assert time.monotonic() - hung_up >= GRACE_S
        assert not seen.done_text()
        assert [i["type"] for i in items].count("assistant_message") == 1
        # Past the end, the events stay for a while: a late reader gets the rest, then the end.
        assert await resume(user.http, stack.gateway, thread_id, seen) == 200
        check_once_in_order(seen)


async def test_another_users_answer_cannot_be_resumed_or_stopped(stack: Stack) -> None:
    async with GatewayUser(stack.gateway) as owner, GatewayUser(stack.gateway) as other:
        seen = Events()
        thread_id = await ask_until(owner.http, stack.gateway, seen, deltas=1)
        resumed = await other.http.get(f"/chatkit/streams/{thread_id}")
        assert resumed.status_code == 404 and resumed.json()["error"]["message"]
        stopped = await other.http.post(f"/chatkit/streams/{thread_id}/stop")
        assert stopped.status_code == 404
        # Direct to the chat service, as the other user: nothing to resume (no 200, no leak).
        chat = stack.url("chat")
        headers = {**stack.acting_for(other.user_id), "last-event-id": seen.ids[-1]}
        direct = await other.http.get(f"{chat}/chatkit/streams/{thread_id}", headers=headers)
        assert direct.status_code == 204
        # The owner still gets the rest.
        assert await resume(owner.http, stack.gateway, thread_id, seen) == 200
        check_once_in_order(seen)
        assert seen.done_text()


async def test_without_the_header_a_drop_cancels_at_once_and_nothing_resumes(
    stack: Stack,
) -> None:
    async with GatewayUser(stack.gateway) as user:
        thread_id, _, _ = await user.ask_and_hang_up(QUESTION, deltas=2)
        resumed = await user.http.get(f"/chatkit/streams/{thread_id}")
        assert resumed.status_code == 204


async def test_a_resumable_request_refused_before_it_starts_is_an_http_error(
    stack: Stack,
) -> None:
    """Errors of the request itself stay its HTTP answer (JSON, not a stream)."""
    async with GatewayUser(stack.gateway) as user:
        body = {
            "type": "threads.add_user_message",
            "params": {"thread_id": "thr_nothere", "input": user_input("Hello?")},
        }
        headers = {**stack.acting_for(user.user_id), **RESUMABLE}
        response = await user.http.post(f"{stack.url('chat')}/chatkit", json=body, headers=headers)
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "not_found"
        resumed = await user.http.get(
            f"{stack.url('chat')}/chatkit/streams/thr_nothere", headers=headers
        )
        assert resumed.status_code == 204
