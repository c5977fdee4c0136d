"""Chat service -> real store service (PostgreSQL) + real retrieval service, over HTTP."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from chatkit.types import URLSource

from tests.integration.chat.conftest import stored_items

READER = {"page_context": {"current_chapter": 1, "current_lesson": "accounts"}}


def new_user() -> str:
    return f"reader_{uuid.uuid4().hex[:10]}"


async def test_a_conversation_is_answered_from_the_book_and_stored(
    chat_url: str, database_url: str, connect: Any
) -> None:
    user = new_user()
    chat = connect(chat_url, user)
    first = await chat.create("How long does a magic link stay valid?", READER)
    assert first.status == 200
    assert not first.of_type("error")
    assert first.of_type("progress_update")[0].text == "Searching the book…"

    answer = first.items("assistant_message")[0]
    assert "ten minutes" in answer.content[0].text
    sources = [a.source for a in answer.content[0].annotations]
    assert sources and all(isinstance(s, URLSource) for s in sources)
    assert sources[0].url.startswith("/book/01-start/01-accounts#")
    card = first.items("widget")[0]
    assert "Accounts" in card.copy_text
    assert first.of_type("thread.updated")[-1].thread.title.startswith("How long does a magic")

    follow = await chat.add(first.thread_id, "How do I create a workspace?", READER)
    assert "New workspace button" in follow.text

    rows = await stored_items(database_url, user, first.thread_id)
    assert [r["type"] for r in rows] == [
        "user_message",
        "widget",
        "assistant_message",
        "user_message",
        "widget",
        "assistant_message",
    ]
    assert rows[2]["id"] == answer.id
    assert rows[2]["content"][0]["annotations"][0]["source"]["url"] == sources[0].url

    listed = await chat.post({"type": "threads.list", "params": {"limit": 5}})
    assert listed.status == 200
    assert [t["id"] for t in listed.body["data"]] == [first.thread_id]
    items = await chat.post(
        {"type": "items.list", "params": {"thread_id": first.thread_id, "order": "asc"}}
    )
    assert [i["type"] for i in items.body["data"]] == [r["type"] for r in rows]


async def test_chapter_questions_search_the_readers_chapter(chat_url: str, connect: Any) -> None:
    chat = connect(chat_url, new_user())
    reply = await chat.create(
        "In this chapter, how do I narrow a search?", {"page_context": {"current_chapter": 2}}
    )
    assert "scope menu" in reply.text
    annotations = reply.items("assistant_message")[0].content[0].annotations
    assert {a.source.url.split("#")[0] for a in annotations} == {"/book/02-search/01-scopes"}


async def test_highlight_round_trip_through_the_client_tool(
    chat_url: str, database_url: str, connect: Any
) -> None:
    user = new_user()
    chat = connect(chat_url, user)
    reply = await chat.create("Highlight where the book explains passwords", READER)
    call = reply.items("client_tool_call")[0]
    assert call.name == "highlight_passage" and call.status == "pending"
    assert call.arguments["url"].startswith("/book/")
    done = await chat.post(
        {
            "type": "threads.add_client_tool_output",
            "params": {"thread_id": reply.thread_id, "result": {"highlighted": True}},
        }
    )
    assert "highlighted the passage" in done.text
    rows = await stored_items(database_url, user, reply.thread_id)
    tool_row = next(r for r in rows if r["type"] == "client_tool_call")
    assert tool_row["status"] == "completed" and tool_row["output"] == {"highlighted": True}


async def test_feedback_and_unknown_ids(chat_url: str, connect: Any) -> None:
    chat = connect(chat_url, new_user())
    reply = await chat.create("How do I sign in?")
    answer = reply.items("assistant_message")[0]
    ok = await chat.post(
        {
            "type": "items.feedback",
            "params": {"thread_id": reply.thread_id, "item_ids": [answer.id], "kind": "negative"},
        }
    )
    assert ok.status == 200 and ok.body == {}
    missing = await chat.add("thr_nope", "hello")
    assert missing.status == 404
    assert missing.body["error"]["code"] == "not_found"


async def test_concurrent_duplicate_submissions_create_one_message(
    chat_url: str, database_url: str, connect: Any
) -> None:
    user = new_user()
    chat = connect(chat_url, user)
    first = await chat.create("How do I sign in?")
    key = {"idempotency-key": f"k-{uuid.uuid4().hex}"}
    replies = await asyncio.gather(
        *(chat.add(first.thread_id, "And passwords?", headers=key) for _ in range(3))
    )
    assert all(r.status == 200 for r in replies)
    assert all(not r.of_type("error") for r in replies)
    rows = await stored_items(database_url, user, first.thread_id)
    asked = [r for r in rows if r["type"] == "user_message"]
    assert [r["content"][0]["text"] for r in asked] == ["How do I sign in?", "And passwords?"]
    # every duplicate reports the one message that was created
    message_ids = {r.items("user_message")[0].id for r in replies}
    assert message_ids == {asked[1]["id"]}


async def test_service_token_is_required_when_configured(
    store_url: str, retrieval_url: str, connect: Any
) -> None:
    from tests.integration.chat.conftest import chat_service

    with chat_service(store_url, retrieval_url, internal_token="secret") as (url, _):
        chat = connect(url, new_user())
        refused = await chat.create("hi")
        assert refused.status == 401
