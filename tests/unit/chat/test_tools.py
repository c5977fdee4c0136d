"""`tools.py`: `search_book` and `highlight_passage`, on their own and in the agent's tool loop."""

from __future__ import annotations

import json

from agents.testing import ScriptedModel, assistant_message, function_call
from chatkit.types import AssistantMessageItem, ClientToolCallItem

from services.chat.tools import effective_scope, search_queries
from shared.contracts.common import PageContext
from shared.http import UpstreamUnavailable
from tests.unit.chat.conftest import READER, FakeSearch, MakeChat, scripted


def test_scope_widening_and_query_hints() -> None:
    assert effective_scope("current_page", PageContext()) == "full_book"
    assert effective_scope("current_page", PageContext(current_chapter=2)) == "current_chapter"
    assert effective_scope("current_page", PageContext(current_page="p")) == "current_page"
    assert search_queries(["a  b", "A B", " "], "sel") == ["a b", "sel"]


async def test_selected_text_is_quoted_and_hints_the_search(make_chat: MakeChat) -> None:
    selected = "Links expire quickly."
    async with make_chat() as chat:
        reply = await chat.create("What does this mean?", {**READER, "selected_text": selected})
        message = reply.events[1].item
        assert message.quoted_text == selected
        assert chat.search.requests[0].queries[-1] == selected


async def test_scripted_model_drives_the_tool_loop(make_chat: MakeChat) -> None:
    model = ScriptedModel(
        [
            [function_call("transfer_to_book_assistant", {}, call_id="handoff")],
            [
                function_call(
                    "search_book",
                    {"queries": ["sign in"], "search_scope": "current_page"},
                    call_id="call_1",
                )
            ],
            [assistant_message("Use the emailed magic link [1].")],
        ]
    )
    async with make_chat(model=scripted(model)) as chat:
        reply = await chat.create("How do I sign in?", READER)
        assert "[1]" in reply.text
        guide, first, second = model.calls
        assert "route" in (guide.system_instructions or "")
        assert "chapter 1" in (first.system_instructions or "")
        assert "page `ch1/p1`" in (first.system_instructions or "")
        outputs = [i for i in second.input if i.get("type") == "function_call_output"]
        passages = json.loads(outputs[-1]["output"])["passages"]  # [0]: the handoff's
        assert [p["n"] for p in passages] == [1, 2]
        assert passages[0]["url"] == "/book/ch1/page1#section"
        assert chat.search.requests[0].scope == "current_page"
        model.assert_complete()


async def test_narrow_scope_without_position_widens(make_chat: MakeChat) -> None:
    model = ScriptedModel(
        [
            [function_call("transfer_to_book_assistant", {}, call_id="handoff")],
            [
                function_call(
                    "search_book", {"queries": ["x"], "search_scope": "current_page"}, call_id="c"
                )
            ],
            [assistant_message("ok")],
        ]
    )
    async with make_chat(model=scripted(model)) as chat:
        await chat.create("x?")
        assert chat.search.requests[0].scope == "full_book"


async def test_nothing_relevant_is_said_plainly(make_chat: MakeChat) -> None:
    async with make_chat(search=FakeSearch(hits=[])) as chat:
        reply = await chat.create("What is the airspeed of a swallow?")
        assert "couldn't find anything in the book" in reply.text
        assert not reply.of_type("error")


async def test_search_failure_becomes_an_explained_answer(make_chat: MakeChat) -> None:
    search = FakeSearch(error=UpstreamUnavailable("retrieval", "connection refused"))
    async with make_chat(search=search) as chat:
        reply = await chat.create("How do I sign in?")
        assert "couldn't search the book" in reply.text
        assert not reply.of_type("error")


async def test_client_tool_stops_the_run_and_its_output_continues_it(make_chat: MakeChat) -> None:
    async with make_chat() as chat:
        reply = await chat.create("Highlight where the book explains signing in with email")
        thread_id = reply.events[0].thread.id
        calls = [
            e.item for e in reply.of_type("thread.item.done") if e.item.type == "client_tool_call"
        ]
        assert len(calls) == 1
        tool_call = calls[0]
        assert reply.text.startswith("From the book:")  # answered first, then the call
        assert isinstance(tool_call, ClientToolCallItem)
        assert tool_call.name == "highlight_passage" and tool_call.status == "pending"
        assert tool_call.arguments["chunk_id"] == "chunk-1"
        assert tool_call.arguments["url"] == "/book/ch1/page1#section"

        follow = await chat.post(
            {
                "type": "threads.add_client_tool_output",
                "params": {"thread_id": thread_id, "result": {"ok": True}},
            }
        )
        assert follow.status == 200
        assert "highlighted the passage" in follow.text
        items = await chat.items(thread_id)
        stored = next(i for i in items if isinstance(i, ClientToolCallItem))
        assert stored.status == "completed" and stored.output == {"ok": True}
        assert isinstance(items[-1], AssistantMessageItem)
