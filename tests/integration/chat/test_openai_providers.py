"""The OpenAI model paths over real HTTP, against the fake OpenAI server of tests/support.

Responses API (`openai`): streamed events, tool calls, `previous_response_id` chaining
and client tool outputs. Chat Completions (`openai-compatible`, and `litellm` through its
`openai/` route): streamed chunks, tool calls, and the placeholder item ids remapped to
unique store ids.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from chatkit.types import AssistantMessageContentPartTextDelta as TextDelta
from chatkit.types import ThreadItemDoneEvent, ThreadItemUpdatedEvent

from shared.contracts.chat import RESUMABLE_HEADER
from tests.integration.chat.conftest import EVENTS, chat_service, stored_items, user_input
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
HANDOFF = ToolCall("transfer_to_book_assistant", {})
"""A new thread's first message goes through the guide, which hands off (`team.py`)."""


@pytest.fixture
def fake() -> Iterator[tuple[FakeOpenAI, str]]:
    model = FakeOpenAI()
    with serve(model.app) as url:
        try:
            yield model, f"{url}/v1"
        finally:
            if model.hold is not None:
                model.hold.set()  # a held answer must not outlive its test


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
    model.add(HANDOFF)
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

        tool_request = model.requests[2]
        assert model.paths == ["/v1/responses"] * 3
        assert [t["name"] for t in model.requests[0]["tools"]] == [
            "transfer_to_book_assistant",
            "transfer_to_tutor",
        ]
        assert tool_request["model"] == "gpt-test" and tool_request["stream"] is True
        outputs = [i for i in tool_request["input"] if i.get("type") == "function_call_output"]
        passages = json.loads(outputs[-1]["output"])["passages"]  # [0]: the handoff's
        assert passages[0]["n"] == 1 and "magic link" in passages[0]["text"]

        follow = await chat.add(first.thread_id, "And passwords?")
        assert follow.text == "There are no passwords [2]."
        chained = model.requests[3]
        # the first reply's last response, and the agent that gave it
        assert chained["previous_response_id"] == model.response_ids[2]
        assert "search_book" in [t["name"] for t in chained["tools"]]
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


async def test_responses_api_hands_off_to_the_tutor_and_back(
    fake: tuple[FakeOpenAI, str], store_url: str, retrieval_url: str, connect: Any
) -> None:
    """The model chooses the handoffs: the guide to the tutor, whose quiz tool shows the
    card; the next turn starts with the tutor, which hands a content question back."""
    model, base_url = fake
    model.add(ToolCall("transfer_to_tutor", {}))
    model.add(ToolCall("quiz_lesson", {"topic": None, "questions": 2}))
    model.add(Text("Your quiz is ready."))
    model.add(ToolCall("transfer_to_book_assistant", {}))
    model.add(SEARCH)
    model.add(Text("Ten minutes [1]."))
    settings = {"model_provider": "openai", "openai_api_key": "sk-f", "openai_base_url": base_url}
    reader = {"page_context": {"current_chapter": 1, "current_page": "01-start/01-accounts"}}
    with chat_service(store_url, retrieval_url, **settings) as (url, _):
        chat = connect(url, new_user())
        first = await chat.create("Give me a little test", reader)
        assert not first.of_type("error"), first.events
        assert [i.task.title for i in first.items("task")] == ["Tutor is answering"]
        (card,) = first.items("widget")
        assert "Quiz: Accounts" in card.widget.model_dump_json()
        assert first.text == "Your quiz is ready."
        tutor_tools = [t["name"] for t in model.requests[1]["tools"]]
        assert tutor_tools == ["quiz_lesson", "transfer_to_book_assistant"]
        quiz_output = [
            i for i in model.requests[2]["input"] if i.get("type") == "function_call_output"
        ]
        assert json.loads(quiz_output[-1]["output"])["shown"] == 2

        second = await chat.add(first.thread_id, "How long is a magic link valid?", reader)
        assert not second.of_type("error"), second.events
        assert [i.task.title for i in second.items("task")] == ["Book assistant is answering"]
        assert second.text == "Ten minutes [1]."
        assert "quiz_lesson" in [t["name"] for t in model.requests[3]["tools"]]
        assert "search_book" in [t["name"] for t in model.requests[4]["tools"]]


async def test_responses_api_client_tool_output_continues_the_response(
    fake: tuple[FakeOpenAI, str], store_url: str, retrieval_url: str, connect: Any
) -> None:
    model, base_url = fake
    model.add(HANDOFF)
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
        assert len(model.requests) == 3  # the run stopped at the client tool
        done = await chat.post(
            {
                "type": "threads.add_client_tool_output",
                "params": {"thread_id": reply.thread_id, "result": {"ok": True}},
            }
        )
        assert done.text == "Done: highlighted."
        continued = model.requests[3]
        assert continued["previous_response_id"] == model.response_ids[2]
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
    model.add(HANDOFF)
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
    model.add(HANDOFF)
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

        assert model.paths == ["/v1/chat/completions"] * 4
        assert {r["model"] for r in model.requests} == {"llama-local"}
        assert "transfer_to_tutor" in [t["function"]["name"] for t in model.requests[0]["tools"]]
        assert "search_book" in [t["function"]["name"] for t in model.requests[1]["tools"]]
        tool_turn = model.requests[2]["messages"]
        assert tool_turn[0]["role"] == "system" and "book" in tool_turn[0]["content"]
        calls = [m for m in tool_turn if m["role"] == "assistant" and m.get("tool_calls")]
        names = [c["tool_calls"][0]["function"]["name"] for c in calls]
        assert names == ["transfer_to_book_assistant", "search_book"]
        tool_messages = [m for m in tool_turn if m["role"] == "tool"]
        assert tool_messages[-1]["tool_call_id"] == calls[-1]["tool_calls"][0]["id"]
        passages = json.loads(tool_messages[-1]["content"])["passages"]
        assert passages[0]["n"] == 1 and "magic link" in passages[0]["text"]
        history = json.dumps(model.requests[3]["messages"])
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


def _numbered(raw: str) -> list[tuple[str, Any]]:
    """(id, event) of every frame of a resumable stream, decoded with the SDK's types."""
    frames = []
    for block in raw.split("\n\n"):
        if block.strip():
            head, _, data = block.partition("\ndata: ")
            assert head.startswith("id: "), block
            frames.append((head[4:], EVENTS.validate_json(data)))
    return frames


async def test_a_resumable_responses_api_answer_survives_a_dropped_connection(
    fake: tuple[FakeOpenAI, str], store_url: str, retrieval_url: str, database_url: str
) -> None:
    model, base_url = fake
    model.hold = threading.Event()  # the answer pauses after its first delta
    answer = "A magic link expires after ten minutes; ask for a new one when it has."
    model.add(HANDOFF)
    model.add(Text(answer))
    settings = {"model_provider": "openai", "openai_api_key": "sk-fake"}
    with chat_service(store_url, retrieval_url, openai_base_url=base_url, **settings) as (url, _):
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            user = new_user()
            body = {
                "type": "threads.create",
                "params": {"input": user_input("How long is a magic link valid?")},
                "metadata": READER,
            }
            headers = {"x-user-id": user, RESUMABLE_HEADER: "1"}
            raw = ""
            async with http.stream("POST", "/chatkit", json=body, headers=headers) as response:
                async for chunk in response.aiter_text():
                    raw += chunk
                    if "text_delta" in raw and raw.endswith("\n\n"):
                        break  # the connection drops mid-answer
            before = _numbered(raw)
            model.hold.set()
            thread_id = before[0][1].thread.id
            resumed = await http.get(
                f"/chatkit/streams/{thread_id}",
                headers={"x-user-id": user, "last-event-id": before[-1][0]},
            )
            assert resumed.status_code == 200
            frames = before + _numbered(resumed.text)
    run = frames[0][0].partition(".")[0]
    assert [i for i, _ in frames] == [f"{run}.{n}" for n in range(1, len(frames) + 1)]
    deltas = [
        e.update.delta
        for _, e in frames
        if isinstance(e, ThreadItemUpdatedEvent) and isinstance(e.update, TextDelta)
    ]
    done = [
        e.item
        for _, e in frames
        if isinstance(e, ThreadItemDoneEvent) and e.item.type == "assistant_message"
    ]
    assert "".join(deltas) == answer and done[0].content[0].text == answer
    items = await stored_items(database_url, user, thread_id)
    assert [i["content"][0]["text"] for i in items if i["type"] == "assistant_message"] == [answer]


def test_litellm_calls_get_the_model_timeout() -> None:
    import litellm

    from services.chat.models.providers import choose_model
    from services.chat.settings import ChatSettings

    settings = ChatSettings(
        _env_file=None, model_provider="litellm", model="openai/x", model_timeout_s=7.5
    )
    assert choose_model(settings).provider == "litellm"
    assert litellm.request_timeout == 7.5
