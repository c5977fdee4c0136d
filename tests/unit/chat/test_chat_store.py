"""`ChatStore`: a keyed submission's ids, the written-behind sources card, and the
newest-items cache."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import pytest
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    Page,
    ThreadItem,
    ThreadMetadata,
    WidgetItem,
)

from services.chat.chat_store import ChatStore
from services.chat.context import RequestContext
from services.chat.memory_store import MemoryStore
from services.chat.submission import Submission, keyed_ids
from services.chat.widgets import sources_card
from tests.unit.chat.conftest import BOOK_HITS

NOW = datetime(2026, 1, 1)


class GatedStore(MemoryStore):
    """A memory store whose card writes wait at a gate the test opens (and can fail),
    counting reads."""

    def __init__(self) -> None:
        super().__init__()
        self.fail_widgets = False
        self.reads = 0
        self.cards_open = asyncio.Event()
        self.cards_open.set()
        self.card_writing = asyncio.Event()
        self.stored_before: dict[str, list[str]] = {}  # item id -> ids stored when it came

    async def add_thread_item(self, thread_id: str, item: ThreadItem, context: Any) -> None:
        self.stored_before[item.id] = list(self._items(thread_id, context))
        if isinstance(item, WidgetItem):
            self.card_writing.set()
            await self.cards_open.wait()
            if self.fail_widgets:
                raise RuntimeError("store down")
        await super().add_thread_item(thread_id, item, context)

    async def load_thread_items(self, *args: Any, **kwargs: Any) -> Page[ThreadItem]:
        self.reads += 1
        return await super().load_thread_items(*args, **kwargs)


def widget(n: int) -> WidgetItem:
    card = sources_card({1: BOOK_HITS[0]})
    return WidgetItem(id=f"w{n}", thread_id="thr", created_at=NOW, widget=card)


def answer(n: int) -> AssistantMessageItem:
    content = [AssistantMessageContent(text=f"answer {n}")]
    return AssistantMessageItem(id=f"a{n}", thread_id="thr", created_at=NOW, content=content)


@pytest.fixture
async def setup() -> tuple[GatedStore, ChatStore, RequestContext]:
    inner = GatedStore()
    ctx = RequestContext(user_id="u")
    await inner.save_thread(ThreadMetadata(id="thr", created_at=NOW), ctx)
    return inner, ChatStore(inner), ctx


async def test_card_write_does_not_block_and_keeps_thread_order(setup: Any) -> None:
    inner, store, ctx = setup
    inner.cards_open.clear()
    adding_card = asyncio.ensure_future(store.add_thread_item("thr", widget(1), ctx))
    await inner.card_writing.wait()
    assert adding_card.done()  # returned while its write is still held in the store
    adding_answer = asyncio.ensure_future(store.add_thread_item("thr", answer(1), ctx))
    # Released after the answer's first step is due: an answer not held back would reach
    # the store before the card.
    inner.cards_open.set()
    await adding_answer
    assert inner.stored_before["a1"] == ["w1"]
    page = await inner.load_thread_items("thr", None, 10, "asc", ctx)
    assert [i.id for i in page.data] == ["w1", "a1"]


async def test_failed_card_write_fails_the_next_store_call(setup: Any) -> None:
    inner, store, ctx = setup
    inner.fail_widgets = True
    await store.add_thread_item("thr", widget(1), ctx)
    with pytest.raises(RuntimeError, match="store down"):
        await store.add_thread_item("thr", answer(1), ctx)


async def test_newest_items_are_reused_until_a_write(setup: Any) -> None:
    inner, store, ctx = setup
    ctx.session.remember("thr", [answer(2), answer(1)], complete=True)
    page = await store.load_thread_items("thr", None, 2, "desc", ctx)
    assert [i.id for i in page.data] == ["a2", "a1"] and page.has_more is False
    assert inner.reads == 0
    await store.add_thread_item("thr", answer(3), ctx)
    await store.load_thread_items("thr", None, 2, "desc", ctx)
    assert inner.reads == 1


async def test_a_keyed_submission_gets_its_ids_once(setup: Any) -> None:
    _, store, _ = setup
    keyed = keyed_ids("u", "key-1", None)
    ctx = RequestContext(user_id="u", submission=Submission(None, [], keyed))
    thread = ThreadMetadata(id=keyed.thread_id, created_at=NOW)
    assert store.generate_thread_id(ctx) == keyed.thread_id
    assert store.generate_item_id("message", thread, ctx) == keyed.message_id
    # the assistant's messages, and anything after, get fresh ids
    assert store.generate_thread_id(ctx) != keyed.thread_id
    assert store.generate_item_id("message", thread, ctx) != keyed.message_id
