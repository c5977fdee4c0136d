"""`routes.py`: what `POST /chatkit` answers, JSON or a stream, and the errors it raises
(the app's error table turns them into statuses)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncGenerator
from typing import Any

from chatkit.types import Page, ThreadItem, ThreadMetadata, UserMessageItem
from starlette.types import Message

from services.chat.app import create_app
from services.chat.memory_store import MemoryStore
from services.chat.routes import EventStream
from services.chat.settings import ChatSettings
from shared.http import UpstreamRefused, UpstreamUnavailable
from tests.support.servers import serve
from tests.unit.chat.conftest import FakeSearch, MakeChat, create_body, user_input


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


async def test_items_of_an_unknown_thread_are_an_empty_page(make_chat: MakeChat) -> None:
    """The SDK's store contract; the API answers 404 before it gets here (the gateway
    checks that the user owns the thread)."""
    async with make_chat() as chat:
        listed = await chat.post({"type": "items.list", "params": {"thread_id": "thr_nope"}})
        assert listed.status == 200 and listed.body["data"] == []


async def test_unsupported_requests_are_a_400_saying_so(make_chat: MakeChat) -> None:
    async with make_chat() as chat:

        def transcribe(audio: str) -> dict[str, Any]:
            params = {"audio_base64": audio, "mime_type": "audio/ogg"}
            return {"type": "input.transcribe", "params": params}

        undecodable = await chat.post(transcribe("A"))
        assert undecodable.status == 400, undecodable.body
        assert undecodable.body["error"]["message"] == "params.audio_base64 is not valid base64."
        dictation = await chat.post(transcribe("AAAA"))
        assert dictation.status == 400, dictation.body
        assert dictation.body["error"]["code"] == "not_supported"
        assert dictation.body["error"]["message"] == (
            "Dictation is not configured on this service: no speech model is set "
            "(CHAT_TRANSCRIPTION_MODEL)."
        )
        thread_id = (await chat.create("hi")).events[0].thread.id
        action = {"type": "sources.more", "payload": {}}
        params = {"thread_id": thread_id, "action": action}
        sync = await chat.post({"type": "threads.sync_custom_action", "params": params})
        assert sync.status == 400 and sync.body["error"]["code"] == "not_supported"


class FailingStore(MemoryStore):
    """A memory store whose operations named in `failing` raise `error`."""

    def __init__(self) -> None:
        super().__init__()
        self.error: Exception = UpstreamUnavailable("store", "connection refused")
        self.failing: set[str] = set()

    def _check(self, operation: str) -> None:
        if operation in self.failing:
            raise self.error

    async def load_threads(self, *args: Any, **kwargs: Any) -> Page[ThreadMetadata]:
        self._check("load_threads")
        return await super().load_threads(*args, **kwargs)

    async def save_thread(self, thread: ThreadMetadata, context: Any) -> None:
        self._check("save_thread")
        await super().save_thread(thread, context)

    async def add_thread_item(self, thread_id: str, item: ThreadItem, context: Any) -> None:
        if isinstance(item, UserMessageItem):
            self._check("add_message")
        await super().add_thread_item(thread_id, item, context)


async def test_store_failures_are_a_status_or_an_error_event(make_chat: MakeChat) -> None:
    store = FailingStore()
    async with make_chat(store=store) as chat:
        store.failing = {"load_threads", "save_thread"}
        listed = await chat.post({"type": "threads.list", "params": {}})
        assert listed.status == 503
        assert listed.body["error"]["code"] == "unavailable"
        assert listed.body["error"]["message"] == "The store service is unavailable; retry shortly."
        # a stream answers 200 whatever happens next: failures are `error` events
        before = await chat.create("How do I sign in?")
        assert before.status == 200
        assert [(e.type, e.allow_retry) for e in before.events] == [("error", True)]

        store.failing = {"add_message"}
        store.error = UpstreamRefused("store", 422, "item.id is too long")
        refused = await chat.create("How do I sign in?")
        assert refused.status == 200
        assert [e.type for e in refused.events] == ["thread.created", "error"]
        assert refused.events[-1].allow_retry is False  # the same call would be refused again


async def test_a_stream_is_closed_when_its_client_left_before_it_began() -> None:
    closed = asyncio.Event()

    async def frames() -> AsyncGenerator[bytes, None]:
        try:
            yield b"data: {}\n\n"
            await asyncio.Event().wait()  # an answer still running
            yield b"data: {}\n\n"
        finally:
            closed.set()

    rest = frames()
    response = EventStream(await anext(rest), rest)

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        await asyncio.Event().wait()  # the client reads nothing, not even the headers

    await response({"type": "http", "asgi": {"spec_version": "2.3"}}, receive, send)
    assert closed.is_set()


class HeldStore(MemoryStore):
    """A memory store whose `load_thread` never returns; it notes being entered and being
    cancelled (thread-safe: the app runs in the server's thread)."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.cancelled = threading.Event()

    async def load_thread(self, thread_id: str, context: Any) -> ThreadMetadata:
        self.entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        raise AssertionError("unreachable")


async def test_a_json_answer_stops_when_its_client_goes_away() -> None:
    """uvicorn does not cancel a handler whose client left; the work of a JSON answer
    (here a title update held in the store) is cancelled once the connection closes."""
    store = HeldStore()
    settings = ChatSettings(log_level="warning", log_json=False, redis_url=None)
    body = json.dumps(
        {"type": "threads.update", "params": {"thread_id": "thr_1", "title": "New title"}}
    ).encode()
    with serve(create_app(settings, store=store, search=FakeSearch())) as url:
        port = int(url.rsplit(":", 1)[1])
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /chatkit HTTP/1.1\r\nhost: chat\r\nx-user-id: u\r\n"
            b"content-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
        )
        await writer.drain()
        assert await asyncio.to_thread(store.entered.wait, 10)
        writer.close()
        await writer.wait_closed()
        assert await asyncio.to_thread(store.cancelled.wait, 10)
