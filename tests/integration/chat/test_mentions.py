"""@-mentions through the chat service, over real HTTP to the real store and retrieval
services: a tag naming a page or chapter is resolved by its id, its passages come first,
the tag is stored with the message; unknown tags and too many are refused before anything
is stored."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from services.chat.mentions import MAX_MENTIONS
from tests.integration.chat.conftest import ChatClient, stored_items


def new_user() -> str:
    return f"mentioner_{uuid.uuid4().hex[:10]}"


def tag(entity_id: str, text: str, **data: Any) -> dict[str, Any]:
    return {"type": "input_tag", "id": entity_id, "text": text, "data": data, "interactive": False}


def message(*parts: dict[str, Any] | str) -> dict[str, Any]:
    content = [{"type": "input_text", "text": p} if isinstance(p, str) else p for p in parts]
    return {
        "type": "threads.create",
        "params": {"input": {"content": content, "attachments": [], "inference_options": {}}},
    }


async def threads_of(chat: ChatClient) -> list[str]:
    listed = await chat.post({"type": "threads.list", "params": {"limit": 5}})
    assert listed.status == 200
    return [t["id"] for t in listed.body["data"]]


async def test_a_mentioned_page_is_searched_first_and_the_tag_is_stored(
    chat_url: str, database_url: str, connect: Any
) -> None:
    user = new_user()
    chat = connect(chat_url, user)
    # Without the mention this question is about the accounts page.
    reply = await chat.post(
        message("How do I sign in to ", tag("page:01-start/02-workspace", "that page"), "?")
    )
    assert reply.status == 200, reply.body
    assert not reply.of_type("error")
    card = reply.items("widget")[0]
    first_source = card.copy_text.splitlines()[0]
    assert "Workspaces" in first_source, card.copy_text
    rows = await stored_items(database_url, user, reply.thread_id)
    stored_tag = [p for p in rows[0]["content"] if p["type"] == "input_tag"]
    assert stored_tag == [tag("page:01-start/02-workspace", "that page") | {"group": None}]


async def test_a_mentioned_chapter_puts_its_passages_first(chat_url: str, connect: Any) -> None:
    chat = connect(chat_url, new_user())
    reply = await chat.post(
        message("What about signing in in ", tag("chapter:02-search", "Chapter two"))
    )
    assert reply.status == 200, reply.body
    card = reply.items("widget")[0]
    assert "Search scopes" in card.copy_text.splitlines()[0], card.copy_text


async def test_a_retried_message_is_answered_with_its_mentions(chat_url: str, connect: Any) -> None:
    """`threads.retry_after_item` answers the stored message again, its tags resolved as
    they were the first time (they used to reach the model as bare text)."""
    chat = connect(chat_url, new_user())
    first = await chat.post(
        message("What about signing in in ", tag("chapter:02-search", "Chapter two"))
    )
    assert first.status == 200, first.body
    user_message = first.items("user_message")[0]
    retry = await chat.post(
        {
            "type": "threads.retry_after_item",
            "params": {"thread_id": first.thread_id, "item_id": user_message.id},
        }
    )
    assert retry.status == 200, retry.body
    assert not retry.of_type("error")
    card = retry.items("widget")[0]
    assert "Search scopes" in card.copy_text.splitlines()[0], card.copy_text


@pytest.mark.parametrize(
    "parts",
    [
        [tag("page:01-start/99-nowhere", "Nowhere")],
        [tag("page:../../etc/passwd", "passwd")],
        [tag("user:someone-else", "Someone")],
        [tag(f"page:p{i}", f"P{i}") for i in range(MAX_MENTIONS + 1)],
    ],
    ids=["unknown-page", "path", "foreign-kind", "too-many"],
)
async def test_unknown_or_too_many_mentions_are_refused_before_anything_is_stored(
    chat_url: str, connect: Any, parts: list[dict[str, Any]]
) -> None:
    chat = connect(chat_url, new_user())
    reply = await chat.post(message("Tell me about ", *parts))
    assert reply.status == 422, reply.body
    assert reply.body["error"]["code"] == "unknown_mention"
    assert await threads_of(chat) == []
