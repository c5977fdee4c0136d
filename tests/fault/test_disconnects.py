"""The browser hangs up mid-answer: the gateway cuts its call to chat, the run stops before
the end of its answer, the chat service saves the partial answer, and the thread carries on
normally."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from urllib.parse import urlparse

import httpx
import pytest

from tests.fault.conftest import StackFactory
from tests.fault.gateway_user import GatewayUser, store_items
from tests.fault.watched_proxy import WatchedProxy
from tests.support.stack import Stack
from tests.support.waiting import finished_requests, until, until_finished

pytestmark = pytest.mark.fault

QUESTION = "How does the assistant search the book and cite its sources?"
FOLLOW_UP = "Which models can the assistant use?"
CANCEL_NOTE = "The user cancelled the stream"


@pytest.fixture(scope="module")
def stack(start_stack: StackFactory) -> Iterator[Stack]:
    """The platform with the gateway -> chat link watched; answers stream slowly."""
    with start_stack(token_delay_ms=30, proxied=("chat",), proxy_factory=WatchedProxy) as stack:
        yield stack


@pytest.fixture(scope="module")
async def whole_answer(stack: Stack) -> str:
    """The answer to QUESTION read to its end: how far an answer runs when nobody hangs up."""
    async with GatewayUser(stack.gateway) as user:
        answer = await user.ask(QUESTION)
    assert answer.status == 200 and not answer.errors, answer.received.events
    return answer.assistant_text()


@pytest.mark.parametrize("deltas", [6, 0], ids=["mid-text", "before-text"])
async def test_disconnect_cancels_upstream_and_keeps_the_partial_answer(
    stack: Stack, whole_answer: str, deltas: int
) -> None:
    proxy = stack.proxies["chat"]
    assert isinstance(proxy, WatchedProxy)
    async with GatewayUser(stack.gateway) as user:
        finished = await finished_requests(stack.url("chat"), "POST", "/chatkit")
        thread_id, received, hung_up = await user.ask_and_hang_up(QUESTION, deltas=deltas)
        upstream = proxy.streaming_at(hung_up)
        await until(lambda: upstream.caller_closed_at, what="the gateway closing its call to chat")
        # Chat has finished the request: the run, and what it saves after the cancel, are
        # over, so what the store holds now is all there will be.
        await until_finished(stack.url("chat"), "POST", "/chatkit", finished + 1)

        status, items = await store_items(stack, user.user_id, thread_id)
        assert status == 200
        kinds = [i["type"] for i in items]
        assert kinds[0] == "user_message" and items[0]["content"][0]["text"] == QUESTION
        assert kinds[-1] == "sdk_hidden_context" and CANCEL_NOTE in items[-1]["content"]
        partial = " ".join(
            part["text"] for i in items if i["type"] == "assistant_message" for part in i["content"]
        )
        assert partial.startswith(received)
        if deltas:
            assert received, "no text was received before hanging up"
            assert kinds.count("assistant_message") == 1
        assert len(partial) < len(whole_answer), "the run went on to the end of the answer"

        follow_up = await user.ask(FOLLOW_UP, thread_id)
        assert follow_up.status == 200 and not follow_up.errors, follow_up.received.events
        assert follow_up.assistant_text().strip()
        visible = await user.items(thread_id)
        asked = [i["content"][0]["text"] for i in visible if i["type"] == "user_message"]
        assert asked == [QUESTION, FOLLOW_UP]
        assert visible[-1]["type"] == "assistant_message"
        assert visible[-1]["id"] == follow_up.items("assistant_message")[-1]["id"]


async def test_disconnects_release_the_users_stream_slots(stack: Stack) -> None:
    """More hang-ups than a user may have streams open at once: no slot leaks."""
    async with GatewayUser(stack.gateway) as user:
        for _ in range(4):  # GATEWAY_MAX_STREAMS_PER_USER is 3
            await user.ask_and_hang_up(QUESTION, deltas=2)
        answer = await user.ask(FOLLOW_UP)
        assert answer.status == 200, answer.body
        assert not answer.errors and answer.assistant_text().strip()


async def _server_errors(gateway: str) -> float:
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"{gateway}/metrics")).text
    return sum(
        float(v) for v in re.findall(r'^http_requests_total\{.*status="5\d\d"\} (\S+)$', text, re.M)
    )


async def test_hang_up_while_sending_the_body_is_not_a_server_error(stack: Stack) -> None:
    async with GatewayUser(stack.gateway) as user:
        cookie = f"chatkit_uid={user.http.cookies['chatkit_uid']}"
    before = await _server_errors(stack.gateway)
    finished = await finished_requests(stack.gateway, "POST", "/assistant/chatkit")
    address = urlparse(stack.gateway)
    _, writer = await asyncio.open_connection(address.hostname, address.port)
    writer.write(
        b"POST /assistant/chatkit HTTP/1.1\r\nHost: gateway\r\n"
        b"Content-Type: application/json\r\nContent-Length: 1000\r\n"
        + f"Cookie: {cookie}\r\n\r\n".encode()
        + b'{"query": "half a'
    )
    await writer.drain()
    writer.close()  # gone before the body is complete
    await until_finished(stack.gateway, "POST", "/assistant/chatkit", finished + 1)
    assert await _server_errors(stack.gateway) == before
