"""Pieces of the chat service on their own: answer building, citations, ids, history."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import anyio
import pytest
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    ClientToolCallItem,
    InferenceOptions,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemUpdatedEvent,
    ThreadMetadata,
    UserMessageItem,
    UserMessageTextContent,
    WidgetItem,
)
from chatkit.types import AssistantMessageContentPartTextDelta as TextDelta

from services.chat.cancellation import finish_shielded
from services.chat.citations import annotate, annotations_for
from services.chat.converter import BookThreadItemConverter
from services.chat.history import load_history
from services.chat.memory_store import MemoryStore
from services.chat.models.extractive import Passage, best_sentences, compose_answer, sentences
from services.chat.models.ids import remap_item_ids
from services.chat.settings import ChatSettings
from services.chat.tools import effective_scope, search_queries
from services.chat.widgets import sources_card, with_buttons_disabled
from shared.contracts.common import PageContext
from tests.unit.chat.conftest import BOOK_HITS

NOW = datetime(2026, 1, 1)


def test_sentences_drop_markdown_and_split() -> None:
    text = "# Setup\n\nInstall it first. Then\nrun it!\n- A bullet\n  point.\n1. Numbered.\n"
    assert sentences(text) == ["Install it first.", "Then run it!", "A bullet point.", "Numbered."]


def test_extractive_answer_picks_matching_sentences_with_citations() -> None:
    passages = [
        Passage(1, "The index is rebuilt nightly. Backups run on Sundays."),
        Passage(2, "To rebuild the index by hand, run make index. It takes a minute."),
    ]
    picked = best_sentences("How do I rebuild the index?", passages)
    assert [s.passage for s in picked][:2] == [1, 2]
    answer = compose_answer("How do I rebuild the index?", passages)
    assert "run make index. [2]" in answer and "Backups" not in answer


def test_extractive_answer_says_when_nothing_matches() -> None:
    answer = compose_answer("What about penguins?", [Passage(1, "The index is rebuilt nightly.")])
    assert "couldn't find anything in the book" in answer


def test_annotations_follow_markers_and_ignore_unknown_numbers() -> None:
    passages = {1: BOOK_HITS[0], 2: BOOK_HITS[1]}
    text = "Sign in by link [1]. Scope menu [2, 1]. Made up [9]."
    found = annotations_for(text, passages)
    assert [a.source.url for a in found] == [  # type: ignore[union-attr]
        "/book/ch1/page1#section",
        "/book/ch2/page2#section",
        "/book/ch1/page1#section",
    ]
    assert found[0].index == text.index("[1]") + 3


async def _aiter(events: list[Any]) -> Any:
    for event in events:
        yield event


async def test_annotate_adds_updates_then_the_annotated_item() -> None:
    item = AssistantMessageItem(
        id="m", thread_id="t", created_at=NOW, content=[AssistantMessageContent(text="Yes [1].")]
    )
    out: list[Any] = [
        e async for e in annotate(_aiter([ThreadItemDoneEvent(item=item)]), {1: BOOK_HITS[0]})
    ]
    assert [e.type for e in out] == ["thread.item.updated", "thread.item.done"]
    assert out[1].item.content[0].annotations[0].source.title == "Welcome"


async def test_remap_gives_each_reused_id_a_fresh_consistent_id() -> None:
    counter = iter(range(100))

    def message(text: str) -> AssistantMessageItem:
        content = [AssistantMessageContent(text=text)]
        return AssistantMessageItem(
            id="__fake_id__", thread_id="t", created_at=NOW, content=content
        )

    events = [
        ThreadItemAddedEvent(item=message("")),
        ThreadItemUpdatedEvent(item_id="__fake_id__", update=TextDelta(content_index=0, delta="a")),
        ThreadItemDoneEvent(item=message("a")),
        ThreadItemAddedEvent(item=message("")),
        ThreadItemDoneEvent(item=message("b")),
        ThreadItemDoneEvent(
            item=ClientToolCallItem(
                id="__fake_id__",
                thread_id="t",
                created_at=NOW,
                call_id="c",
                name="n",
                arguments={},
            )
        ),
    ]
    out: list[Any] = [
        e async for e in remap_item_ids(_aiter(events), lambda kind: f"{kind}_{next(counter)}")
    ]
    ids = [e.item.id if hasattr(e, "item") else e.item_id for e in out]
    assert ids == ["message_0", "message_0", "message_0", "message_1", "message_1", "tool_call_2"]


async def test_history_keeps_the_newest_items_within_budget() -> None:
    store, ctx = MemoryStore(), {"user_id": "u"}
    thread = ThreadMetadata(id="thr", created_at=NOW)
    await store.save_thread(thread, ctx)
    for n in range(10):
        await store.add_thread_item(
            "thr",
            UserMessageItem(
                id=f"u{n}",
                thread_id="thr",
                created_at=NOW,
                content=[UserMessageTextContent(text="q" * 400)],
                inference_options=InferenceOptions(),
            ),
            ctx,
        )
        await store.add_thread_item(
            "thr",
            AssistantMessageItem(
                id=f"a{n}",
                thread_id="thr",
                created_at=NOW,
                content=[AssistantMessageContent(text="a" * 400)],
            ),
            ctx,
        )
    by_items, _ = await load_history(store, "thr", ctx, max_items=5, max_tokens=100_000)  # type: ignore[arg-type]
    assert [i.id for i in by_items] == ["u8", "a8", "u9", "a9"]  # starts at a question
    by_tokens, _ = await load_history(store, "thr", ctx, max_items=100, max_tokens=450)  # type: ignore[arg-type]
    assert [i.id for i in by_tokens] == ["u8", "a8", "u9", "a9"]
    everything, complete = await load_history(store, "thr", ctx, max_items=100, max_tokens=100_000)  # type: ignore[arg-type]
    assert len(everything) == 20 and complete


async def test_converter_handles_widgets_hidden_context_and_tool_outputs() -> None:
    widget = WidgetItem(
        id="w",
        thread_id="t",
        created_at=NOW,
        widget=sources_card({1: BOOK_HITS[0]}),
        copy_text="[1] Welcome",
    )
    call = ClientToolCallItem(
        id="tc",
        thread_id="t",
        created_at=NOW,
        call_id="call_9",
        name="highlight_passage",
        arguments={"passage": 1},
        status="completed",
        output={"ok": True},
    )
    full: list[Any] = await BookThreadItemConverter().to_agent_input([widget, call])
    assert full[0]["content"][0]["text"] == "A card was shown to the reader:\n[1] Welcome"
    assert [i["type"] for i in full[1:]] == ["function_call", "function_call_output"]
    only = await BookThreadItemConverter(outputs_only=True).to_agent_input([call])
    assert only == [{"type": "function_call_output", "call_id": "call_9", "output": '{"ok": true}'}]


def test_card_buttons_can_be_disabled() -> None:
    card = sources_card({1: BOOK_HITS[0]}, more=None)
    assert "Button" not in card.model_dump_json()
    from services.chat.widgets import MorePayload

    with_more = sources_card({1: BOOK_HITS[0]}, more=MorePayload(query="q", chapter=1))
    disabled = with_buttons_disabled(with_more).model_dump()
    assert disabled["children"][-1]["disabled"] is True


def test_scope_widening_and_query_hints() -> None:
    assert effective_scope("current_page", PageContext()) == "full_book"
    assert effective_scope("current_page", PageContext(current_chapter=2)) == "current_chapter"
    assert effective_scope("current_page", PageContext(current_page="p")) == "current_page"
    assert search_queries(["a  b", "A B", " "], "sel") == ["a b", "sel"]


def test_provider_defaults_to_offline_without_a_key() -> None:
    assert ChatSettings().provider == "offline"
    assert ChatSettings(openai_api_key="sk-test").provider == "openai"


async def test_shielded_save_survives_the_disconnect_scope() -> None:
    saved: list[str] = []

    async def save(label: str) -> None:
        await asyncio.sleep(0.05)  # real I/O takes time
        saved.append(label)

    async def handler(shielded: bool) -> None:
        with anyio.CancelScope() as scope:
            scope.cancel()  # the client went away
            try:
                await anyio.sleep(1)
            except asyncio.CancelledError:
                label = "shielded" if shielded else "plain"
                if shielded:
                    await finish_shielded(save(label), 2)
                else:
                    await save(label)
                raise

    await handler(shielded=False)
    await handler(shielded=True)
    assert saved == ["shielded"]


async def test_shielded_save_gives_up_after_its_limit() -> None:
    async def never() -> None:
        await asyncio.sleep(10)

    started = asyncio.get_running_loop().time()
    assert await finish_shielded(never(), 0.05) is False
    assert asyncio.get_running_loop().time() - started < 1


@pytest.mark.parametrize("title", ["", "   "])
def test_no_title_from_empty_message(title: str) -> None:
    from services.chat.server import title_from

    message = UserMessageItem(
        id="m",
        thread_id="t",
        created_at=NOW,
        content=[UserMessageTextContent(text=title)],
        inference_options=InferenceOptions(),
    )
    assert title_from(message) is None
