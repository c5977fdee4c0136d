"""`server.py`: `BookChatServer`'s replies through the app: cited answers, history and
response chaining, titles, feedback, the sources card's action."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from agents.testing import ScriptedModel, assistant_message
from chatkit.types import (
    InferenceOptions,
    URLSource,
    UserMessageItem,
    UserMessageTextContent,
    WidgetItem,
)

from services.chat.server import PREVIOUS_RESPONSE_ID, title_from
from tests.unit.chat.conftest import READER, CountingStore, MakeChat, hit, scripted

NOW = datetime(2026, 1, 1)


async def test_first_message_streams_a_cited_answer_with_sources(make_chat: MakeChat) -> None:
    async with make_chat() as chat:
        reply = await chat.create("How do I sign in with my email?", READER)
        assert reply.status == 200
        types = [e.type for e in reply.events]
        assert types[:3] == ["thread.created", "thread.item.done", "stream_options"]
        assert "progress_update" in types
        assert types[-1] == "thread.updated"
        deltas = [
            e for e in reply.of_type("thread.item.updated") if e.update.type.endswith("text_delta")
        ]
        assert len(deltas) > 5  # streamed token by token

        answer = next(
            e.item for e in reply.of_type("thread.item.done") if e.item.type == "assistant_message"
        )
        content = answer.content[0]
        assert "magic link" in content.text and "[1]" in content.text
        source = content.annotations[0].source
        assert isinstance(source, URLSource)
        assert source.url == "/book/ch1/page1#section" and source.title == "Welcome"
        assert content.annotations[0].index == content.text.index("[1]") + 3

        thread_id = reply.events[0].thread.id
        assert reply.events[-1].thread.title == "How do I sign in with my email?"
        items = await chat.items(thread_id)
        assert [i.type for i in items] == ["user_message", "widget", "assistant_message"]
        assert items[2] == answer
        assert isinstance(items[1], WidgetItem) and "[1] Welcome" in (items[1].copy_text or "")

        request = chat.search.requests[0]
        assert request.page_context.current_chapter == 1
        assert request.scope == "full_book"
        assert request.queries[0] == "How do I sign in with my email?"


async def test_model_failure_ends_the_stream_with_a_retryable_error(make_chat: MakeChat) -> None:
    model = ScriptedModel([RuntimeError("model exploded")])
    async with make_chat(model=scripted(model)) as chat:
        reply = await chat.create("hi")
        errors = reply.of_type("error")
        assert errors and errors[0].allow_retry is True


async def test_follow_up_sends_history(make_chat: MakeChat) -> None:
    model = ScriptedModel([[assistant_message("First answer.")], [assistant_message("Second.")]])
    async with make_chat(model=scripted(model)) as chat:
        reply = await chat.create("First question")
        await chat.add(reply.events[0].thread.id, "Second question")
        texts = json.dumps(model.calls[1].input)
        assert "First question" in texts and "First answer." in texts
        assert "Second question" in texts
        assert model.calls[1].previous_response_id is None


async def test_responses_chain_sends_only_new_input(make_chat: MakeChat) -> None:
    model = ScriptedModel(
        [
            {"output": [assistant_message("First answer.")], "response_id": "resp_1"},
            {"output": [assistant_message("Second.")], "response_id": "resp_2"},
        ]
    )
    async with make_chat(model=scripted(model, chains=True)) as chat:
        reply = await chat.create("First question")
        thread_id = reply.events[0].thread.id
        thread = await chat.store.load_thread(thread_id, {"user_id": chat.user})
        assert thread.metadata[PREVIOUS_RESPONSE_ID] == "resp_1"
        await chat.add(thread_id, "Second question")
        second = model.calls[1]
        assert second.previous_response_id == "resp_1"
        assert "First question" not in json.dumps(second.input)
        assert "Second question" in json.dumps(second.input)
        thread = await chat.store.load_thread(thread_id, {"user_id": chat.user})
        assert thread.metadata[PREVIOUS_RESPONSE_ID] == "resp_2"


async def test_reused_model_item_ids_get_fresh_store_ids(make_chat: MakeChat) -> None:
    model = ScriptedModel(
        [
            [assistant_message("One.", item_id="__fake_id__")],
            [assistant_message("Two.", item_id="__fake_id__")],
        ]
    )
    async with make_chat(model=scripted(model)) as chat:
        reply = await chat.create("a")
        thread_id = reply.events[0].thread.id
        await chat.add(thread_id, "b")
        answers = [i for i in await chat.items(thread_id) if i.type == "assistant_message"]
        assert [a.content[0].text for a in answers] == ["One.", "Two."]
        assert len({a.id for a in answers}) == 2
        assert all(a.id.startswith("msg_") for a in answers)


async def test_title_is_kept_on_later_messages(make_chat: MakeChat) -> None:
    async with make_chat() as chat:
        long = "How do I sign in with the magic link when the email never arrives in my inbox?"
        reply = await chat.create(long)
        title = reply.events[-1].thread.title
        assert title.endswith("…") and len(title) <= 61 and long.startswith(title[:-1])
        later = await chat.add(reply.events[0].thread.id, "And the scope menu?")
        assert (
            not later.of_type("thread.updated")
            or later.of_type("thread.updated")[-1].thread.title == title
        )


@pytest.mark.parametrize("title", ["", "   "])
def test_no_title_from_empty_message(title: str) -> None:
    message = UserMessageItem(
        id="m",
        thread_id="t",
        created_at=NOW,
        content=[UserMessageTextContent(text=title)],
        inference_options=InferenceOptions(),
    )
    assert title_from(message) is None


async def test_feedback_is_persisted(make_chat: MakeChat) -> None:
    async with make_chat() as chat:
        reply = await chat.create("How do I sign in?")
        thread_id = reply.events[0].thread.id
        answer = next(
            e.item for e in reply.of_type("thread.item.done") if e.item.type == "assistant_message"
        )
        ok = await chat.post(
            {
                "type": "items.feedback",
                "params": {"thread_id": thread_id, "item_ids": [answer.id], "kind": "positive"},
            }
        )
        assert ok.status == 200 and ok.body == {}
        thread = await chat.store.load_thread(thread_id, {"user_id": chat.user})
        assert thread.metadata["feedback"] == {answer.id: "positive"}
        missing = await chat.post(
            {
                "type": "items.feedback",
                "params": {"thread_id": thread_id, "item_ids": ["msg_nope"], "kind": "negative"},
            }
        )
        assert missing.status == 404


async def test_show_more_button_action(make_chat: MakeChat) -> None:
    async with make_chat() as chat:
        reply = await chat.create("How do I sign in?", READER)
        thread_id = reply.events[0].thread.id
        card = next(e.item for e in reply.of_type("thread.item.done") if e.item.type == "widget")
        button = card.widget.model_dump()["children"][-1]
        assert button["type"] == "Button" and button["onClickAction"]["type"] == "sources.more"

        chat.search.hits.append(hit(3, "More text.", title="More"))
        more = await chat.post(
            {
                "type": "threads.custom_action",
                "params": {
                    "thread_id": thread_id,
                    "item_id": card.id,
                    "action": button["onClickAction"],
                },
                "metadata": READER,
            }
        )
        assert more.status == 200
        replaced = more.of_type("thread.item.replaced")[0].item
        assert replaced.id == card.id
        assert replaced.widget.model_dump()["children"][-1]["disabled"] is True
        new_card = more.of_type("thread.item.done")[0].item
        assert new_card.type == "widget" and "More" in (new_card.copy_text or "")
        assert "chunk-1" not in (new_card.copy_text or "")
        request = chat.search.requests[-1]
        assert request.scope == "current_chapter" and request.page_context.current_chapter == 1
        stored = await chat.store.load_item(thread_id, card.id, {"user_id": chat.user})
        assert stored.widget.model_dump()["children"][-1]["disabled"] is True


async def test_feedback_checks_its_items_in_one_store_call(make_chat: MakeChat) -> None:
    store = CountingStore()
    async with make_chat(store=store) as chat:
        reply = await chat.create("How do I sign in?")
        thread_id = reply.events[0].thread.id
        ids = [e.item.id for e in reply.of_type("thread.item.done")][:2]
        store.calls.clear()
        ok = await chat.post(
            {
                "type": "items.feedback",
                "params": {"thread_id": thread_id, "item_ids": ids * 40, "kind": "positive"},
            }
        )
        assert ok.status == 200
        assert store.calls["owned"] == 1 and store.calls["load_item"] == 0
        thread = await store.load_thread(thread_id, {"user_id": chat.user})
        assert thread.metadata["feedback"] == dict.fromkeys(ids, "positive")

        store.calls.clear()
        unknown = await chat.post(
            {
                "type": "items.feedback",
                "params": {
                    "thread_id": thread_id,
                    "item_ids": [ids[0], "msg_nope", "x" * 300],
                    "kind": "negative",
                },
            }
        )
        assert unknown.status == 404 and "msg_nope" in unknown.body["error"]["message"]
        assert store.calls["owned"] == 1
        again = await store.load_thread(thread_id, {"user_id": chat.user})
        assert again.metadata["feedback"] == dict.fromkeys(ids, "positive")  # unchanged


async def test_retry_after_an_unknown_item_is_a_404_after_one_lookup(make_chat: MakeChat) -> None:
    store = CountingStore()
    async with make_chat(store=store) as chat:
        first = await chat.create("How do I sign in?")
        thread_id = first.events[0].thread.id
        for n in range(3):
            await chat.add(thread_id, f"question {n}")
        before = await chat.items(thread_id)
        store.calls.clear()

        def retry(item_id: str) -> dict[str, Any]:
            params = {"thread_id": thread_id, "item_id": item_id}
            return {"type": "threads.retry_after_item", "params": params}

        unknown = await chat.post(retry("msg_nope"))
        assert unknown.status == 404 and unknown.body["error"]["code"] == "not_found"
        assert store.calls == {"load_item": 1}  # no paging through the thread
        answer = next(i for i in before if i.type == "assistant_message")
        not_a_question = await chat.post(retry(answer.id))
        assert not_a_question.status == 400
        assert "not a user message" in not_a_question.body["error"]["message"]
        assert await chat.items(thread_id) == before

        last_question = [i for i in before if i.type == "user_message"][-1]
        retried = await chat.post(retry(last_question.id))
        assert retried.status == 200 and retried.text
