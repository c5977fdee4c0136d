"""Resumable answers (`X-ChatKit-Resumable: 1`): a dropped connection leaves the answer
running; the client resumes with `Last-Event-ID`, through the same or another gateway
replica, and gets every event once, in order; stop is explicit; nobody resuming within the
grace period cancels the answer and keeps its partial reply."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from shared.contracts.chat import RESUMABLE_HEADER
from tests.fault.conftest import StackFactory
from tests.fault.gateway_user import BOOK_PAGE, GatewayUser, store_items, user_input
from tests.support.processes import start_service
from tests.support.stack import Stack
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import until

pytestmark = pytest.mark.fault

QUESTION = "How does the assistant search the book and cite its sources?"
GRACE_S = 2.0
CANCEL_NOTE = "The user cancelled the stream"
RESUMABLE = {RESUMABLE_HEADER: "1"}


@pytest.fixture(scope="module")
def stack(start_stack: StackFactory) -> Iterator[Stack]:
    """Answers stream slowly (a few seconds each), with a short grace period."""
    env = {"chat": {"CHAT_RESUME_GRACE_S": str(GRACE_S)}}
    with start_stack(token_delay_ms=100, extra_env=env) as stack:
        yield stack


@dataclass
class Events:
    """SSE events with their ids, in arrival order."""

    ids: list[str] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    def text(self) -> str:
        return "".join(
            e["update"]["delta"]
            for e in self.events
            if e["type"] == "thread.item.updated"
            and e["update"]["type"] == "assistant_message.content_part.text_delta"
        )

    def done_text(self) -> str:
        done = [
            e["item"]
            for e in self.events
            if e["type"] == "thread.item.done" and e["item"]["type"] == "assistant_message"
        ]
        return "".join(part["text"] for item in done for part in item["content"])


async def _events(response: httpx.Response) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    buffer = b""
    async for chunk in response.aiter_raw():
        buffer += chunk
        while b"\n\n" in buffer:
            block, buffer = buffer.split(b"\n\n", 1)
            event_id, data = "", None
            for line in block.decode().splitlines():
                if line.startswith("id: "):
                    event_id = line[4:]
                elif line.startswith("data: "):
                    data = json.loads(line[6:])
            if data is not None:
                yield event_id, data


async def _ask_until(
    http: httpx.AsyncClient,
    base: str,
    seen: Events,
    *,
    deltas: int,
    cut: Callable[[], None] | None = None,
) -> str:
    """Ask QUESTION as a resumable answer through `base`; once `deltas` text deltas
    arrived, `cut` the connection (else close the response) and return the thread id."""
    body = {"query": QUESTION, "context": {"page_context": BOOK_PAGE}}
    thread_id, count = "", 0
    async with http.stream("POST", f"{base}/assistant/chatkit", json=body, headers=RESUMABLE) as r:
        assert r.status_code == 200
        async for event_id, event in _events(r):
            seen.ids.append(event_id)
            seen.events.append(event)
            if event["type"] == "thread.created":
                thread_id = event["thread"]["id"]
            if event.get("update", {}).get("type", "").endswith("text_delta"):
                count += 1
                if count >= deltas:
                    if cut is not None:
                        cut()
                    return thread_id
    raise AssertionError("the answer ended before the connection was cut")


async def _resume(http: httpx.AsyncClient, base: str, thread_id: str, seen: Events) -> int:
    headers = {"last-event-id": seen.ids[-1]} if seen.ids else {}
    async with http.stream("GET", f"{base}/chatkit/streams/{thread_id}", headers=headers) as r:
        if r.status_code != 200:
            return r.status_code
        async for event_id, event in _events(r):
            seen.ids.append(event_id)
            seen.events.append(event)
    return 200


def _check_once_in_order(seen: Events) -> None:
    runs = {event_id.partition(".")[0] for event_id in seen.ids}
    assert len(runs) == 1, seen.ids
    numbers = [int(event_id.partition(".")[2]) for event_id in seen.ids]
    assert numbers == list(range(1, len(numbers) + 1)), numbers


async def _stored_answer(stack: Stack, user: GatewayUser, thread_id: str) -> list[dict[str, Any]]:
    status, items = await store_items(stack, user.user_id, thread_id)
    assert status == 200
    return items


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
            thread_id = await _ask_until(http, proxy.url, seen, deltas=5, cut=proxy.reset)
            assert thread_id and seen.text()
            cut_at = len(seen.ids)
            assert await _resume(http, stack.gateway, thread_id, seen) == 200
            assert len(seen.ids) > cut_at
            _check_once_in_order(seen)
            assert seen.events[-1]["type"] != "error", seen.events[-1]
            whole = seen.done_text()
            assert whole and seen.text() == whole  # every delta once: they add up to it
            items = await _stored_answer(stack, user, thread_id)
            saved = [i for i in items if i["type"] == "assistant_message"]
            assert "".join(p["text"] for i in saved for p in i["content"]) == whole
            assert not any(CANCEL_NOTE in str(i.get("content")) for i in items)
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
            thread_id = await _ask_until(http, stack.gateway, seen, deltas=3, cut=kill)
            assert await _resume(http, other.url, thread_id, seen) == 200
            _check_once_in_order(seen)
            whole = seen.done_text()
            assert whole and seen.text() == whole
    finally:
        other.stop()
        stack.restart("gateway")


async def test_stop_is_explicit_and_keeps_the_partial_answer(stack: Stack) -> None:
    async with GatewayUser(stack.gateway) as user:
        seen = Events()
        body = {"query": QUESTION, "context": {"page_context": BOOK_PAGE}}
        async with user.http.stream(
            "POST", "/assistant/chatkit", json=body, headers=RESUMABLE
        ) as response:
            stopped = None
            async for event_id, event in _events(response):
                seen.ids.append(event_id)
                seen.events.append(event)
                if stopped is None and seen.text():
                    thread_id = seen.events[0]["thread"]["id"]
                    stopped = await user.http.post(f"/chatkit/streams/{thread_id}/stop")
        assert stopped is not None and stopped.status_code == 200
        assert stopped.json() == {"stopped": True}
        assert not seen.done_text(), "the answer ran to its end"
        items = await _stored_answer(stack, user, thread_id)
        assert CANCEL_NOTE in str(items[-1]["content"])
        again = await user.http.post(f"/chatkit/streams/{thread_id}/stop")
        assert again.json() == {"stopped": False}


async def test_nobody_resuming_within_the_grace_period_cancels_the_answer(stack: Stack) -> None:
    async with GatewayUser(stack.gateway) as user:
        seen = Events()
        thread_id = await _ask_until(user.http, stack.gateway, seen, deltas=2)
        hung_up = time.monotonic()  # leaving `_ask_until` closed the response

        async def cancelled() -> list[dict[str, Any]] | None:
            items = await _stored_answer(stack, user, thread_id)
            return items if CANCEL_NOTE in str(items[-1].get("content")) else None

        items = await until(cancelled, what="the answer cancelled after the grace period")
        assert time.monotonic() - hung_up >= GRACE_S
        assert not seen.done_text()
        assert [i["type"] for i in items].count("assistant_message") == 1
        # Past the end, the events stay for a while: a late reader gets the rest, then the end.
        assert await _resume(user.http, stack.gateway, thread_id, seen) == 200
        _check_once_in_order(seen)


async def test_another_users_answer_cannot_be_resumed_or_stopped(stack: Stack) -> None:
    async with GatewayUser(stack.gateway) as owner, GatewayUser(stack.gateway) as other:
        seen = Events()
        thread_id = await _ask_until(owner.http, stack.gateway, seen, deltas=1)
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
        assert await _resume(owner.http, stack.gateway, thread_id, seen) == 200
        _check_once_in_order(seen)
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
