"""A client retrying a submission with the same `Idempotency-Key`, through the gateway:
one user message (and one thread), never two."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest

from tests.fault.conftest import StackFactory
from tests.fault.gateway_user import Answer, GatewayUser, user_input
from tests.support.stack import Stack

pytestmark = pytest.mark.fault

QUESTION = "How do I bring my own book?"
FOLLOW_UP = "And how do I check the result after ingesting?"


@pytest.fixture(scope="module")
def stack(start_stack: StackFactory) -> Iterator[Stack]:
    with start_stack(token_delay_ms=10) as stack:
        yield stack


def _key() -> dict[str, str]:
    return {"Idempotency-Key": f"key-{uuid.uuid4().hex}"}


async def _create(user: GatewayUser, endpoint: str, headers: dict[str, str]) -> Answer:
    if endpoint == "simple":
        return await user.ask(QUESTION, headers=headers)
    body = {"type": "threads.create", "params": {"input": user_input(QUESTION)}}
    return await user.native(body, headers=headers)


def _asked(items: list[dict[str, object]]) -> list[object]:
    return [i["content"][0]["text"] for i in items if i["type"] == "user_message"]  # type: ignore[index]


async def _thread_ids(user: GatewayUser) -> list[str]:
    page = await user.native({"type": "threads.list", "params": {"limit": 50}})
    assert page.status == 200, page.body
    return [t["id"] for t in page.body["data"]]


@pytest.mark.parametrize("endpoint", ["simple", "native"])
async def test_resubmitted_new_thread_is_created_once(stack: Stack, endpoint: str) -> None:
    key = _key()
    async with GatewayUser(stack.gateway) as user, GatewayUser(stack.gateway) as other:
        first = await _create(user, endpoint, key)
        again = await _create(user, endpoint, key)
        for answer in (first, again):
            assert answer.status == 200 and not answer.errors, answer.received.events
        thread_id = first.received.thread_id()
        assert again.received.thread_id() == thread_id
        message_id = first.items("user_message")[0]["id"]
        assert [m["id"] for m in again.items("user_message")] == [message_id]
        # the duplicate is answered from the record, not by a second run
        assert not again.received.text()
        assert [a["id"] for a in again.items("assistant_message")] == [
            a["id"] for a in first.items("assistant_message")
        ]
        items = await user.items(thread_id)
        assert _asked(items) == [QUESTION]
        assert [i["type"] for i in items].count("assistant_message") == 1
        assert await _thread_ids(user) == [thread_id]

        # a key is the user's own: another user with the same key gets a thread of theirs
        theirs = await _create(other, endpoint, key)
        assert theirs.status == 200 and theirs.received.thread_id() != thread_id
        assert _asked(await user.items(thread_id)) == [QUESTION]


async def test_retry_after_a_dropped_connection_adds_one_message(stack: Stack) -> None:
    key = _key()
    async with GatewayUser(stack.gateway) as user:
        first = await user.ask(QUESTION)
        thread_id = first.received.thread_id()
        _, received, _ = await user.ask_and_hang_up(FOLLOW_UP, thread_id, deltas=3, headers=key)
        assert received
        retry = await user.ask(FOLLOW_UP, thread_id, headers=key)
        assert retry.status == 200 and not retry.errors, retry.received.events
        assert [m["content"][0]["text"] for m in retry.items("user_message")] == [FOLLOW_UP]
        items = await user.items(thread_id)
        assert _asked(items) == [QUESTION, FOLLOW_UP]
        asked_ids = [i["id"] for i in items if i["type"] == "user_message"]
        assert retry.items("user_message")[0]["id"] == asked_ids[1]


async def test_concurrent_duplicates_through_the_gateway_add_one_message(stack: Stack) -> None:
    key = _key()
    async with GatewayUser(stack.gateway) as user:
        first = await user.ask(QUESTION)
        thread_id = first.received.thread_id()
        replies = await asyncio.gather(
            *(user.ask(FOLLOW_UP, thread_id, headers=key) for _ in range(3))
        )
        for reply in replies:
            assert reply.status == 200 and not reply.errors, reply.received.events
        assert len({r.items("user_message")[0]["id"] for r in replies}) == 1
        assert _asked(await user.items(thread_id)) == [QUESTION, FOLLOW_UP]


async def test_different_keys_are_different_messages(stack: Stack) -> None:
    """The control: without a shared key, a resubmission is a new message."""
    async with GatewayUser(stack.gateway) as user:
        first = await user.ask(QUESTION)
        thread_id = first.received.thread_id()
        for _ in range(2):
            reply = await user.ask(FOLLOW_UP, thread_id, headers=_key())
            assert reply.status == 200 and not reply.errors
        assert _asked(await user.items(thread_id)) == [QUESTION, FOLLOW_UP, FOLLOW_UP]
