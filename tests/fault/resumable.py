"""Reading resumable answers in the fault tests: events with their ids, asked through a
gateway and cut on cue, resumed with `Last-Event-ID`, checked once and in order."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from shared.contracts.chat import RESUMABLE_HEADER
from tests.fault.gateway_user import BOOK_PAGE, GatewayUser, store_items
from tests.support.stack import Stack

QUESTION = "How does the assistant search the book and cite its sources?"
CANCEL_NOTE = "The user cancelled the stream"
RESUMABLE = {RESUMABLE_HEADER: "1"}


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


async def events_of(response: httpx.Response) -> AsyncIterator[tuple[str, dict[str, Any]]]:
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


async def ask_until(
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
        async for event_id, event in events_of(r):
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


async def resume(http: httpx.AsyncClient, base: str, thread_id: str, seen: Events) -> int:
    headers = {"last-event-id": seen.ids[-1]} if seen.ids else {}
    async with http.stream("GET", f"{base}/chatkit/streams/{thread_id}", headers=headers) as r:
        if r.status_code != 200:
            return r.status_code
        async for event_id, event in events_of(r):
            seen.ids.append(event_id)
            seen.events.append(event)
    return 200


def check_once_in_order(seen: Events) -> None:
    runs = {event_id.partition(".")[0] for event_id in seen.ids}
    assert len(runs) == 1, seen.ids
    numbers = [int(event_id.partition(".")[2]) for event_id in seen.ids]
    assert numbers == list(range(1, len(numbers) + 1)), numbers


async def stored_answer(stack: Stack, user: GatewayUser, thread_id: str) -> list[dict[str, Any]]:
    status, items = await store_items(stack, user.user_id, thread_id)
    assert status == 200
    return items


async def stop_through(stack: Stack, user: GatewayUser, gateway: str) -> None:
    """Ask QUESTION as a resumable answer through the stack's gateway; once text arrived,
    stop it through `gateway`: the stop answers once the partial reply is saved, the stream
    ends short of the whole answer, and a second stop finds nothing running."""
    seen = Events()
    body = {"query": QUESTION, "context": {"page_context": BOOK_PAGE}}
    thread_id, stopped = "", None
    async with user.http.stream("POST", "/assistant/chatkit", json=body, headers=RESUMABLE) as r:
        async for event_id, event in events_of(r):
            seen.ids.append(event_id)
            seen.events.append(event)
            if stopped is None and seen.text():
                thread_id = seen.events[0]["thread"]["id"]
                stopped = await user.http.post(f"{gateway}/chatkit/streams/{thread_id}/stop")
    assert stopped is not None and stopped.status_code == 200
    assert stopped.json() == {"stopped": True}
    assert not seen.done_text(), "the answer ran to its end"
    items = await stored_answer(stack, user, thread_id)
    assert CANCEL_NOTE in str(items[-1]["content"])  # saved before the stop answered
    again = await user.http.post(f"{gateway}/chatkit/streams/{thread_id}/stop")
    assert again.json() == {"stopped": False}
