"""The chat app end to end in process: ChatKit requests in, decoded SSE events out."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from agents.testing import ScriptedModel, assistant_message, function_call
from chatkit.types import AssistantMessageItem, ClientToolCallItem, URLSource, WidgetItem

from services.chat.server import PREVIOUS_RESPONSE_ID
from shared.http import UpstreamUnavailable
from tests.unit.chat.conftest import (
    FakeSearch,
    MakeChat,
    create_body,
    hit,
    scripted,
    user_input,
)

READER = {
    "page_context": {"current_chapter": 1, "current_lesson": "welcome", "current_page": "ch1/p1"}
}


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
        first, second = model.calls
        assert "chapter 1" in (first.system_instructions or "")
        assert "page `ch1/p1`" in (first.system_instructions or "")
        outputs = [i for i in second.input if i.get("type") == "function_call_output"]
        passages = json.loads(outputs[0]["output"])["passages"]
        assert [p["n"] for p in passages] == [1, 2]
        assert passages[0]["url"] == "/book/ch1/page1#section"
        assert chat.search.requests[0].scope == "current_page"
        model.assert_complete()


async def test_narrow_scope_without_position_widens(make_chat: MakeChat) -> None:
    model = ScriptedModel(
        [
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


async def test_model_failure_ends_the_stream_with_a_retryable_error(make_chat: MakeChat) -> None:
    model = ScriptedModel([RuntimeError("model exploded")])
    async with make_chat(model=scripted(model)) as chat:
        reply = await chat.create("hi")
        errors = reply.of_type("error")
        assert errors and errors[0].allow_retry is True


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


async def test_client_tool_output_without_pending_call_is_a_400(make_chat: MakeChat) -> None:
    async with make_chat() as chat:
        reply = await chat.create("How do I sign in?")
        thread_id = reply.events[0].thread.id
        bad = await chat.post(
            {
                "type": "threads.add_client_tool_output",
                "params": {"thread_id": thread_id, "result": {}},
            }
        )
        assert bad.status == 400
        assert "ClientToolCallItem" in bad.body["error"]["message"]


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


# -- bad input ---------------------------------------------------------------------


async def test_malformed_requests_get_400_naming_the_problem(make_chat: MakeChat) -> None:
    async with make_chat() as chat:
        bad_json = await chat.client.post(
            "/chatkit",
            content=b"{nope",
            headers={"x-user-id": "u", "content-type": "application/json"},
        )
        assert bad_json.status_code == 400
        assert bad_json.json()["error"]["message"] == "Request body is not valid JSON."

        unknown = await chat.post({"type": "threads.explode", "params": {}})
        assert unknown.status == 400
        assert "type" in unknown.body["error"]["message"]

        missing = await chat.post({"type": "threads.create", "params": {}})
        assert missing.status == 400
        assert "params.input" in missing.body["error"]["message"]

        metadata = await chat.create("hi", {"page_context": {"current_chapter": "one"}})
        assert metadata.status == 400
        assert "metadata.page_context.current_chapter" in metadata.body["error"]["message"]

        no_user = await chat.client.post("/chatkit", json=create_body("hi"))
        assert no_user.status_code == 400 and no_user.json()["error"]["code"] == "missing_user"
        page = await chat.store.load_threads(10, None, "asc", {"user_id": chat.user})
        assert page.data == []


async def test_unknown_thread_is_404_and_nothing_is_saved(make_chat: MakeChat) -> None:
    async with make_chat() as chat:
        add = await chat.add("thr_missing", "hello")
        assert add.status == 404 and add.body["error"]["code"] == "not_found"
        get = await chat.post({"type": "threads.get_by_id", "params": {"thread_id": "thr_missing"}})
        assert get.status == 404
        body = create_body("hi")
        body["params"]["input"] = user_input("hi", attachments=["atc_missing"])
        attach = await chat.post(body)
        assert attach.status == 404 and "atc_missing" in attach.body["error"]["message"]
        page = await chat.store.load_threads(10, None, "asc", {"user_id": chat.user})
        assert page.data == []


async def test_other_users_threads_are_not_found(make_chat: MakeChat) -> None:
    async with make_chat() as chat:
        reply = await chat.create("hi")
        chat.user = "someone-else"
        stolen = await chat.add(reply.events[0].thread.id, "let me in")
        assert stolen.status == 404


# -- idempotency -------------------------------------------------------------------


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


async def test_concurrent_requests_for_different_users(make_chat: MakeChat) -> None:
    async with make_chat() as chat:

        async def one(n: int) -> Any:
            response = await chat.client.post(
                "/chatkit",
                json=create_body(f"How do I sign in? #{n}"),
                headers={"x-user-id": f"user-{n}"},
            )
            return response.status_code

        assert await asyncio.gather(*(one(n) for n in range(8))) == [200] * 8
