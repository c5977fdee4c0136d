"""200 readers holding 5-turn conversations at once through the gateway: every message of
every thread is stored, in order, and belongs to its reader only."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from tests.fault.conftest import StackFactory
from tests.fault.gateway_user import GatewayUser, store_items
from tests.support.stack import Stack

pytestmark = pytest.mark.fault

USERS, TURNS = 200, 5
SLACK = 3
"""The concurrent run may take this many times as long as its conversations would one after
another at the pace of one held alone in the same run: far beyond what a healthy run needs on
any machine, so only a stall fails it. Speed itself is `make bench`'s to judge."""
SLOW_CALL_S = "300"  # internal calls may be slow on a busy machine: not what this test checks
QUESTIONS = [
    "How does the assistant search the book?",
    "Which models can the assistant use?",
    "How do I bring my own book?",
    "How is the platform deployed?",
    "What does the gateway do?",
]


@pytest.fixture(scope="module")
def stack(start_stack: StackFactory) -> Iterator[Stack]:
    """Offline model at full speed; per-IP limits raised (every reader is 127.0.0.1), and the
    timeouts of internal calls too."""
    extra = {
        "gateway": {
            "GATEWAY_IP_RATE_PER_S": "10000",
            "GATEWAY_IP_BURST": "10000",
            "GATEWAY_MAX_STREAMS_PER_ADDRESS": "10000",
            "GATEWAY_ANON_MINT_BURST": "10000",
            "GATEWAY_UPSTREAM_CONNECT_TIMEOUT_S": SLOW_CALL_S,
        },
        "chat": {"CHAT_STORE_TIMEOUT_S": SLOW_CALL_S},
    }
    with start_stack(token_delay_ms=0, extra_env=extra) as stack:
        yield stack


@dataclass
class Conversation:
    """What one reader asked and was shown: (user message id, text, assistant message id)."""

    user: GatewayUser
    thread_id: str = ""
    turns: list[tuple[str, str, str]] = field(default_factory=list)
    unsearched: int = 0  # answers that say the book could not be searched (retrieval slow)


async def _converse(conversation: Conversation, n: int) -> None:
    user = conversation.user
    await user.open()
    for turn in range(TURNS):
        text = f"{QUESTIONS[(n + turn) % len(QUESTIONS)]} (reader {n}, turn {turn + 1})"
        answer = await user.ask(text, conversation.thread_id or None)
        assert answer.status == 200, answer.body
        assert not answer.errors, answer.errors
        if not conversation.thread_id:
            conversation.thread_id = answer.received.thread_id()
        (asked,) = answer.items("user_message")
        assert asked["content"][0]["text"] == text
        replies = answer.items("assistant_message")
        assert replies and answer.assistant_text().strip()
        conversation.turns.append((asked["id"], text, replies[-1]["id"]))
        conversation.unsearched += "couldn't search the book" in answer.assistant_text()


async def _check_through_gateway(conversation: Conversation) -> None:
    items = await conversation.user.items(conversation.thread_id)
    shown = [(i["type"], i["id"]) for i in items if i["type"] != "widget"]
    expected = []
    for message_id, _, reply_id in conversation.turns:
        expected += [("user_message", message_id), ("assistant_message", reply_id)]
    assert shown == expected, f"thread {conversation.thread_id} differs from what was shown"
    asked = [i["content"][0]["text"] for i in items if i["type"] == "user_message"]
    assert asked == [text for _, text, _ in conversation.turns]
    listed = await conversation.user.native({"type": "threads.list", "params": {"limit": 10}})
    assert [t["id"] for t in listed.body["data"]] == [conversation.thread_id]


async def _check_in_store(stack: Stack, conversation: Conversation, stranger: str) -> None:
    user_id = conversation.user.user_id
    status, items = await store_items(stack, user_id, conversation.thread_id)
    assert status == 200
    assert all(i["thread_id"] == conversation.thread_id for i in items)
    ids = [i["id"] for i in items if i["type"] in ("user_message", "assistant_message")]
    assert ids == [i for turn in conversation.turns for i in (turn[0], turn[2])]
    status, _ = await store_items(stack, stranger, conversation.thread_id)
    assert status == 404, "another user can read this thread in the store"


async def _one_alone(stack: Stack) -> float:
    """Seconds one conversation takes with nothing else running (checked like the others)."""
    alone = Conversation(GatewayUser(stack.gateway, timeout=float(SLOW_CALL_S)))
    started = time.monotonic()
    try:
        await _converse(alone, USERS)
    finally:
        await alone.user.http.aclose()
    return time.monotonic() - started


@pytest.mark.timeout(1800)  # a backstop only: the bound below adapts to the machine
async def test_200_concurrent_conversations_are_stored_whole_in_order_per_user(
    stack: Stack,
) -> None:
    one = await _one_alone(stack)
    bound = SLACK * USERS * one
    conversations = [Conversation(GatewayUser(stack.gateway, timeout=bound)) for _ in range(USERS)]
    started = time.monotonic()
    try:
        try:
            async with asyncio.timeout(bound):
                await asyncio.gather(*(_converse(c, n) for n, c in enumerate(conversations)))
        except TimeoutError:
            raise AssertionError(
                f"{USERS * TURNS} answers not done in {bound:.0f}s ({SLACK}x {USERS} "
                f"conversations one after another, at {one:.2f}s each alone)"
            ) from None
        took = time.monotonic() - started
        unsearched = sum(c.unsearched for c in conversations)
        print(
            f"\n{USERS * TURNS} answers in {took:.1f}s ({USERS * TURNS / took:.1f}/s; one "
            f"conversation alone {one:.2f}s), {unsearched} without a book search "
            "(retrieval over CHAT_RETRIEVAL_TIMEOUT_S)"
        )

        user_ids = {c.user.user_id for c in conversations}
        assert len(user_ids) == USERS, "two readers got the same dev identity"
        threads = {c.thread_id for c in conversations}
        assert len(threads) == USERS

        semaphore = asyncio.Semaphore(20)

        async def check(n: int, conversation: Conversation) -> None:
            neighbour = conversations[(n + 1) % USERS]
            async with semaphore:
                await _check_through_gateway(conversation)
                await _check_in_store(stack, conversation, neighbour.user.user_id)
                # through the gateway, another reader's thread does not exist
                foreign = await neighbour.user.thread(conversation.thread_id)
                assert foreign.status == 404, foreign.body
                foreign_items = await neighbour.user.native(
                    {"type": "items.list", "params": {"thread_id": conversation.thread_id}}
                )
                assert foreign_items.status == 404, foreign_items.body

        await asyncio.gather(*(check(n, c) for n, c in enumerate(conversations)))
    finally:
        await asyncio.gather(*(c.user.http.aclose() for c in conversations))
