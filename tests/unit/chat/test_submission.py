"""`submission.py`: keyed submissions answered once, duplicates replayed from the record,
and the history read ahead."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from agents.testing import ScriptedModel, assistant_message
from chatkit.store import NotFoundError
from chatkit.types import FileAttachment, Page, ThreadItem, ThreadMetadata, UserMessageItem

from services.chat.memory_store import MemoryStore
from services.chat.submission import keyed_ids
from shared.http import UpstreamRefused
from tests.unit.chat.conftest import (
    USER,
    CountingStore,
    MakeChat,
    create_body,
    scripted,
    user_input,
)


async def test_duplicate_submission_with_same_key_creates_one_message(make_chat: MakeChat) -> None:
    async with make_chat() as chat:
        first = await chat.create("How do I sign in?")
        thread_id = first.events[0].thread.id
        key = {"idempotency-key": "k-123"}
        one = await chat.add(thread_id, "And links?", headers=key)
        two = await chat.add(thread_id, "And links?", headers=key)
        assert one.status == two.status == 200
        users = [i for i in await chat.items(thread_id) if i.type == "user_message"]
        assert [u.content[0].text for u in users] == ["How do I sign in?", "And links?"]
        replayed = two.of_type("thread.item.done")
        assert replayed[0].item.id == users[1].id
        # the replay shows the first submission's answer instead of running a second one
        assert two.text == one.text
        assert len(chat.search.requests) == 2


async def test_duplicate_thread_creation_with_same_key(make_chat: MakeChat) -> None:
    async with make_chat() as chat:
        key = {"idempotency-key": "create-1"}
        one = await chat.create("Hello there", headers=key)
        two = await chat.create("Hello there", headers=key)
        assert one.events[0].thread.id == two.events[0].thread.id
        page = await chat.store.load_threads(10, None, "asc", {"user_id": chat.user})
        assert len(page.data) == 1
        users = [i for i in await chat.items(page.data[0].id) if i.type == "user_message"]
        assert len(users) == 1


class RacedStore(MemoryStore):
    """A memory store where a concurrent duplicate wins the race: another request with
    the same key saves its message right after this one looked for it. Re-adding an item
    with other content is a 409, as in the store service."""

    def __init__(self) -> None:
        super().__init__()
        self.winner: UserMessageItem | None = None

    async def load_item(self, thread_id: str, item_id: str, context: Any) -> ThreadItem:
        if item_id.startswith("msg_k") and self.winner is None:
            if (USER, thread_id) not in self.threads:  # a new thread, which the winner made
                await self.save_thread(ThreadMetadata(id=thread_id, created_at=NOW), context)
            self.winner = UserMessageItem.model_validate(
                {**WINNER, "id": item_id, "thread_id": thread_id}
            )
            await super().add_thread_item(thread_id, self.winner, context)
            raise NotFoundError(f"Item {item_id} not found.")
        return await super().load_item(thread_id, item_id, context)

    async def add_thread_item(self, thread_id: str, item: ThreadItem, context: Any) -> None:
        known = self.items.get((USER, thread_id), {}).get(item.id)
        if known is not None and known != item:
            raise UpstreamRefused("store", 409, f"Item {item.id} already exists.")
        await super().add_thread_item(thread_id, item, context)


NOW = "2026-01-01T00:00:00"
WINNER = {
    "type": "user_message",
    "created_at": NOW,
    "content": [{"type": "input_text", "text": "And links?"}],
    "attachments": [],
    "inference_options": {},
}


@pytest.mark.parametrize("to", ["new thread", "existing thread"])
async def test_a_concurrent_duplicate_replays_the_winner(make_chat: MakeChat, to: str) -> None:
    store = RacedStore()
    key = {"idempotency-key": "k-race"}
    async with make_chat(store=store) as chat:
        if to == "new thread":
            reply = await chat.create("And links?", headers=key)
            thread_id = keyed_ids(USER, "k-race", None).thread_id
            assert [e.type for e in reply.events] == ["thread.created", "thread.item.done"]
            assert reply.events[0].thread.id == thread_id
        else:
            thread_id = (await chat.create("How do I sign in?")).events[0].thread.id
            reply = await chat.add(thread_id, "And links?", headers=key)
            assert [e.type for e in reply.events] == ["thread.item.done"]
        assert store.winner is not None
        assert reply.status == 200 and reply.events[-1].item == store.winner
        users = [i for i in await chat.items(thread_id) if i.type == "user_message"]
        assert users[-1] == store.winner and users.count(store.winner) == 1


class HeldThreadStore(MemoryStore):
    """A memory store whose `load_thread` waits at a gate once `hold` is set, noting
    whether the newest items are read meanwhile."""

    def __init__(self) -> None:
        super().__init__()
        self.hold = False
        self.gate = asyncio.Event()
        self.read_while_held = asyncio.Event()

    async def load_thread(self, thread_id: str, context: Any) -> ThreadMetadata:
        if self.hold:
            await self.gate.wait()
        return await super().load_thread(thread_id, context)

    async def load_thread_items(
        self, thread_id: str, after: str | None, limit: int, order: str, context: Any
    ) -> Page[ThreadItem]:
        if self.hold and not self.gate.is_set() and after is None and order == "desc":
            self.read_while_held.set()
        return await super().load_thread_items(thread_id, after, limit, order, context)


async def test_the_history_is_read_while_the_sdk_loads_the_thread(make_chat: MakeChat) -> None:
    store = HeldThreadStore()
    model = ScriptedModel([[assistant_message("First answer.")], [assistant_message("Second.")]])
    async with make_chat(store=store, model=scripted(model)) as chat:
        thread_id = (await chat.create("First question")).events[0].thread.id
        store.hold = True
        adding = asyncio.ensure_future(chat.add(thread_id, "Second question"))
        await asyncio.wait_for(store.read_while_held.wait(), 10)
        assert not adding.done()
        store.gate.set()
        reply = await adding
        assert reply.status == 200 and reply.text == "Second."
        sent = json.dumps(model.calls[1].input)  # the history read ahead reached the model
        assert "First question" in sent and "First answer." in sent and "Second question" in sent


async def test_attachments_are_checked_in_one_store_call(make_chat: MakeChat) -> None:
    store = CountingStore()
    ctx = {"user_id": USER}
    for n in (1, 2):
        await store.save_attachment(
            FileAttachment(id=f"atc_{n}", name=f"{n}.txt", mime_type="text/plain"), ctx
        )
    async with make_chat(store=store) as chat:
        body = create_body("What is in these?")
        body["params"]["input"] = user_input(
            "What is in these?", attachments=["atc_1", "atc_2"] * 20
        )
        reply = await chat.post(body)
        assert reply.status == 200
        assert store.calls["owned"] == 1
        assert store.calls["load_attachment"] == 2  # the SDK's, each distinct id once
        message = reply.of_type("thread.item.done")[0].item
        assert [a.id for a in message.attachments] == ["atc_1", "atc_2"]

        store.calls.clear()
        body["params"]["input"] = user_input("And this?", attachments=["atc_1", "atc_nope"])
        unknown = await chat.post(body)
        assert unknown.status == 404 and "atc_nope" in unknown.body["error"]["message"]
        assert store.calls == {"owned": 1}
        page = await store.load_threads(10, None, "asc", ctx)
        assert len(page.data) == 1  # nothing saved for the refused one
