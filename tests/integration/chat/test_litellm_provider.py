"""The `litellm` provider over real HTTP: the real `LitellmModel` (LiteLLM's `openai/` route)
against the fake OpenAI server of tests/support, through the chat service like the
`openai-compatible` tests: streamed chunks, a `search_book` round trip, and the
placeholder item ids remapped to unique store ids."""

from __future__ import annotations

import json
from typing import Any

from chatkit.types import AssistantMessageContentPartTextDelta as TextDelta

from tests.integration.chat.conftest import chat_service, stored_items
from tests.integration.chat.test_openai_providers import READER, SEARCH, fake, new_user
from tests.support.fake_openai import FakeOpenAI, Text

__all__ = ["fake"]  # the fixture, shared with the OpenAI provider tests


def litellm_settings(base_url: str) -> dict[str, Any]:
    return {
        "model_provider": "litellm",
        "model": "openai/fake-model",
        "litellm_api_base": base_url,
        "litellm_api_key": "sk-fake",
    }


async def test_litellm_streams_the_answer_into_the_chatkit_stream(
    fake: tuple[FakeOpenAI, str], store_url: str, retrieval_url: str, connect: Any
) -> None:
    model, base_url = fake
    answer_text = "Create a workspace from the dashboard with the New workspace button."
    model.add(Text(answer_text))
    with chat_service(store_url, retrieval_url, **litellm_settings(base_url)) as (url, _):
        reply = await connect(url, new_user()).create("How do I create a workspace?")
        assert not reply.of_type("error"), reply.events

        deltas = [
            e.update.delta
            for e in reply.of_type("thread.item.updated")
            if isinstance(e.update, TextDelta)
        ]
        assert len(deltas) == len(answer_text.split(" "))  # one per streamed chunk
        assert "".join(deltas) == answer_text
        assert reply.text == answer_text

        assert model.paths == ["/v1/chat/completions"]
        request = model.requests[0]
        assert request["model"] == "fake-model"  # LiteLLM strips its `openai/` route
        assert request["stream"] is True
        question = request["messages"][-1]
        assert question["role"] == "user"
        assert question["content"] == [{"type": "text", "text": "How do I create a workspace?"}]

    from litellm.litellm_core_utils.get_model_cost_map import get_model_cost_map_source_info

    # the bundled cost map, not GitHub's (providers.py sets LITELLM_LOCAL_MODEL_COST_MAP)
    assert get_model_cost_map_source_info()["source"] == "local"


async def test_litellm_tool_loop_and_id_remapping(
    fake: tuple[FakeOpenAI, str],
    store_url: str,
    retrieval_url: str,
    database_url: str,
    connect: Any,
) -> None:
    model, base_url = fake
    model.add(SEARCH)
    model.add(Text("A magic link expires after ten minutes [1]."))
    model.add(Text("Workspaces are made from the dashboard."))
    with chat_service(store_url, retrieval_url, **litellm_settings(base_url)) as (url, _):
        user = new_user()
        chat = connect(url, user)
        first = await chat.create("How long is a magic link valid?", READER)
        assert not first.of_type("error"), first.events
        answer = first.items("assistant_message")[0]
        assert answer.content[0].text == "A magic link expires after ten minutes [1]."
        assert answer.content[0].annotations[0].source.url.startswith("/book/01-start/")
        assert answer.id != "__fake_id__"
        assert first.items("widget")  # the search_book result shown to the reader
        follow = await chat.add(first.thread_id, "How do I create a workspace?")
        assert follow.text == "Workspaces are made from the dashboard."

        assert model.paths == ["/v1/chat/completions"] * 3
        tools = [t["function"]["name"] for t in model.requests[0]["tools"]]
        assert "search_book" in tools
        tool_turn = model.requests[1]["messages"]
        assert tool_turn[0]["role"] == "system" and "book" in tool_turn[0]["content"]
        call = next(m for m in tool_turn if m["role"] == "assistant" and m.get("tool_calls"))
        assert call["tool_calls"][0]["function"]["name"] == "search_book"
        tool_messages = [m for m in tool_turn if m["role"] == "tool"]
        assert tool_messages[0]["tool_call_id"] == call["tool_calls"][0]["id"]
        passages = json.loads(tool_messages[0]["content"])["passages"]
        assert passages[0]["n"] == 1 and "magic link" in passages[0]["text"]
        history = json.dumps(model.requests[2]["messages"])
        assert "ten minutes [1]" in history  # full history, no response chaining here

        rows = await stored_items(database_url, user, first.thread_id)
        assert [r["type"] for r in rows] == [
            "user_message",
            "widget",
            "assistant_message",
            "user_message",
            "assistant_message",
        ]
        answers = [r for r in rows if r["type"] == "assistant_message"]
        assert len({a["id"] for a in answers}) == 2
        assert all(a["id"].startswith("msg_") for a in answers)
