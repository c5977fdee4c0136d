"""The OpenAI model paths over real HTTP, against the fake OpenAI server of tests/support.

Responses API (`openai`): streamed events, tool calls, `previous_response_id` chaining
and client tool outputs. Chat Completions (`openai-compatible`, and `litellm` through its
`openai/` route): streamed chunks, tool calls, and the placeholder item ids remapped to
unique store ids.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from chatkit.types import AssistantMessageContentPartTextDelta as TextDelta

from tests.integration.chat.conftest import chat_service, stored_items
from tests.support.fake_openai import FakeOpenAI, Text, ToolCall
from tests.support.servers import serve

READER = {"page_context": {"current_chapter": 1}}
TWO_TURNS_WITH_SEARCH = [
    "user_message",
    "widget",  # the sources card of the first turn's search_book
    "assistant_message",
    "user_message",
    "assistant_message",
]
"""Stored item types after a searched first turn and a plain follow-up."""
SEARCH = ToolCall("search_book", {"queries": ["magic link expiry"], "search_scope": "full_book"})


@pytest.fixture
def fake() -> Iterator[tuple[FakeOpenAI, str]]:
    model = FakeOpenAI()
    with serve(model.app) as url:
        yield model, f"{url}/v1"


def new_user() -> str:
    return f"reader_{uuid.uuid4().hex[:10]}"


async def test_responses_api_tool_loop_citations_and_chaining(
    fake: tuple[FakeOpenAI, str],
    store_url: str,
    retrieval_url: str,
    database_url: str,
    connect: Any,
) -> None:
    model, base_url = fake
    model.add(SEARCH)
    model.add(Text("A magic link expires after ten minutes [1]."))
    model.add(Text("There are no passwords [2]."))
    settings = {
        "model_provider": "openai",
        "openai_api_key": "sk-fake",
        "openai_base_url": base_url,
        "model": "gpt-test",
    }
    with chat_service(store_url, retrieval_url, **settings) as (url, _):
        user = new_user()
        chat = connect(url, user)
        first = await chat.create("How long is a magic link valid?", READER)
        assert not first.of_type("error"), first.events
        answer = first.items("assistant_message")[0]
        assert answer.content[0].text == "A magic link expires after ten minutes [1]."
        assert answer.content[0].annotations[0].source.url.startswith("/book/01-start/")
        assert first.items("widget")

        tool_request = model.requests[1]
        assert model.paths == ["/v1/responses", "/v1/responses"]
        assert tool_request["model"] == "gpt-test" and tool_request["stream"] is True
        outputs = [i for i in tool_request["input"] if i.get("type") == "function_call_output"]
        passages = json.loads(outputs[0]["output"])["passages"]
        assert passages[0]["n"] == 1 and "magic link" in passages[0]["text"]

        follow = await chat.add(first.thread_id, "And passwords?")
        assert follow.text == "There are no passwords [2]."
        chained = model.requests[2]
        # the first reply's last response
        assert chained["previous_response_id"] == model.response_ids[1]
        texts = [
            part.get("text")
            for item in chained["input"]
            for part in item.get("content", [])
            if isinstance(part, dict)
        ]
        assert "And passwords?" in texts
        assert "How long is a magic link valid?" not in texts

        rows = await stored_items(database_url, user, first.thread_id)
        assert [r["type"] for r in rows] == TWO_TURNS_WITH_SEARCH


async def test_responses_api_client_tool_output_continues_the_response(
    fake: tuple[FakeOpenAI, str], store_url: str, retrieval_url: str, connect: Any
) -> None:
    model, base_url = fake
    model.add(SEARCH)
    model.add(Text("Passwords are not used [1]."), ToolCall("highlight_passage", {"passage": 1}))
    model.add(Text("Done: highlighted."))
    settings = {
        "model_provider": "openai",
        "openai_api_key": "sk-fake",
        "openai_base_url": base_url,
    }
    with chat_service(store_url, retrieval_url, **settings) as (url, _):
        chat = connect(url, new_user())
        reply = await chat.create("Highlight where passwords are explained")
        call = reply.items("client_tool_call")[0]
        assert call.status == "pending" and call.arguments["passage"] == 1
        assert len(model.requests) == 2  # the run stopped at the client tool
        done = await chat.post(
            {
                "type": "threads.add_client_tool_output",
                "params": {"thread_id": reply.thread_id, "result": {"ok": True}},
            }
        )
        assert done.text == "Done: highlighted."
        continued = model.requests[2]
        assert continued["previous_response_id"] == model.response_ids[1]
        assert continued["input"] == [
            {"type": "function_call_output", "call_id": call.call_id, "output": '{"ok": true}'}
        ]


async def test_reused_response_message_ids_do_not_overwrite(
    fake: tuple[FakeOpenAI, str],
    store_url: str,
    retrieval_url: str,
    database_url: str,
    connect: Any,
) -> None:
    model, base_url = fake
    model.add(Text("First.", message_id="msg_same"))
    model.add(Text("Second.", message_id="msg_same"))
    settings = {
        "model_provider": "openai",
        "openai_api_key": "sk-fake",
        "openai_base_url": base_url,
    }
    with chat_service(store_url, retrieval_url, **settings) as (url, _):
        user = new_user()
        chat = connect(url, user)
        first = await chat.create("One?")
        await chat.add(first.thread_id, "Two?")
        rows = await stored_items(database_url, user, first.thread_id)
        answers = [r for r in rows if r["type"] == "assistant_message"]
        assert [a["content"][0]["text"] for a in answers] == ["First.", "Second."]
        assert len({a["id"] for a in answers}) == 2 and "msg_same" not in {a["id"] for a in answers}


CHAT_COMPLETIONS_PROVIDERS = {
    "openai-compatible": {"model_provider": "openai-compatible", "model": "llama-local"},
    # LiteLLM's `openai/` route: its own Chat Completions client, same wire protocol.
    "litellm": {
        "model_provider": "litellm",
        "model": "openai/llama-local",
        "litellm_api_key": "sk-fake",
    },
}


def chat_completions_settings(provider: str, base_url: str) -> dict[str, Any]:
    """Chat service settings pointing `provider` at the fake server."""
    url_setting = "litellm_api_base" if provider == "litellm" else "openai_base_url"
    return {**CHAT_COMPLETIONS_PROVIDERS[provider], url_setting: base_url}


@pytest.mark.parametrize("provider", sorted(CHAT_COMPLETIONS_PROVIDERS))
async def test_chat_completions_tool_loop_and_id_remapping(
    provider: str,
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
    settings = chat_completions_settings(provider, base_url)
    with chat_service(store_url, retrieval_url, **settings) as (url, _):
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
        assert {r["model"] for r in model.requests} == {"llama-local"}
        assert "search_book" in [t["function"]["name"] for t in model.requests[0]["tools"]]
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
        assert [r["type"] for r in rows] == TWO_TURNS_WITH_SEARCH
        answers = [r for r in rows if r["type"] == "assistant_message"]
        assert len({a["id"] for a in answers}) == 2
        assert all(a["id"].startswith("msg_") for a in answers)


async def test_litellm_streams_the_answer_into_the_chatkit_stream(
    fake: tuple[FakeOpenAI, str], store_url: str, retrieval_url: str, connect: Any
) -> None:
    model, base_url = fake
    answer_text = "Create a workspace from the dashboard with the New workspace button."
    model.add(Text(answer_text))
    with chat_service(
        store_url, retrieval_url, **chat_completions_settings("litellm", base_url)
    ) as (url, _):
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
        assert request["model"] == "llama-local"  # LiteLLM strips its `openai/` route
        assert request["stream"] is True
        question = request["messages"][-1]
        assert question["role"] == "user"
        assert question["content"] == [{"type": "text", "text": "How do I create a workspace?"}]

    from litellm.litellm_core_utils.get_model_cost_map import get_model_cost_map_source_info

    # the bundled cost map, not GitHub's (providers.py sets LITELLM_LOCAL_MODEL_COST_MAP)
    assert get_model_cost_map_source_info()["source"] == "local"


def test_litellm_calls_get_the_model_timeout() -> None:
    import litellm

    from services.chat.models.providers import choose_model
    from services.chat.settings import ChatSettings

    settings = ChatSettings(
        _env_file=None, model_provider="litellm", model="openai/x", model_timeout_s=7.5
    )
    assert choose_model(settings).provider == "litellm"
    assert litellm.request_timeout == 7.5
