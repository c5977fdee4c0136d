"""`sdk.py`: the private ChatKit SDK methods the service calls are still there and still
behave as pinned, and the SDK's own refusals are told from other errors."""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from chatkit.server import ChatKitServer
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    ChatKitReq,
    HiddenContextItem,
    Page,
    Thread,
    ThreadItemDoneEvent,
    ThreadMetadata,
    ThreadStreamEvent,
    UserMessageItem,
)
from pydantic import TypeAdapter

import services.chat
from services.chat import sdk
from services.chat.errors import NotSupported, Refused
from services.chat.memory_store import MemoryStore
from tests.unit.chat.conftest import decode_sse, user_input

NOW = datetime(2026, 1, 1)
CTX = {"user_id": "u"}
REQUEST: TypeAdapter[ChatKitReq] = TypeAdapter(ChatKitReq)


class Echo(ChatKitServer[dict[str, str]]):
    """The smallest ChatKit server: every reply is one assistant message."""

    async def respond(
        self, thread: ThreadMetadata, input_user_message: UserMessageItem | None, context: Any
    ) -> AsyncIterator[ThreadStreamEvent]:
        yield ThreadItemDoneEvent(
            item=AssistantMessageItem(
                id=self.store.generate_item_id("message", thread, context),
                thread_id=thread.id,
                created_at=NOW,
                content=[AssistantMessageContent(text="echo")],
            )
        )


def request(type_: str, **params: Any) -> Any:
    return REQUEST.validate_python({"type": type_, "params": params})


async def frames_of(server: Echo, body: Any) -> list[Any]:
    return decode_sse(b"".join([f async for f in sdk.stream(server, body, CTX)]).decode())


@pytest.mark.parametrize(
    ("name", "parameters", "kind"),
    [
        ("_process_non_streaming", ["self", "request", "context"], inspect.iscoroutinefunction),
        ("_process_streaming", ["self", "request", "context"], inspect.isasyncgenfunction),
        ("_to_thread_response", ["self", "thread"], inspect.isfunction),
        ("_serialize", ["self", "obj"], inspect.isfunction),
    ],
)
def test_the_private_methods_have_their_pinned_signatures(
    name: str, parameters: list[str], kind: Callable[[object], bool]
) -> None:
    method = getattr(ChatKitServer, name, None)
    assert method is not None, f"chatkit.server.ChatKitServer.{name} is gone"
    assert kind(method), f"ChatKitServer.{name} is no longer what sdk.py calls it as"
    assert list(inspect.signature(method).parameters) == parameters


def test_only_the_adapter_calls_them() -> None:
    names = "|".join(sdk.PRIVATE_METHODS)
    calls = re.compile(rf"\.({names})\(")
    package = Path(services.chat.__file__).parent
    callers = sorted(
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if calls.search(path.read_text())
    )
    assert callers == ["sdk.py"]


async def test_a_stream_and_a_json_answer_as_the_sdk_makes_them() -> None:
    server = Echo(MemoryStore())
    events = await frames_of(server, request("threads.create", input=user_input("hi")))
    assert [e.type for e in events] == [
        "thread.created",
        "thread.item.done",
        "stream_options",
        "thread.item.done",
    ]
    assert events[3].item.content[0].text == "echo"
    listed = json.loads(await sdk.answer(server, request("threads.list"), CTX))
    assert [t["id"] for t in listed["data"]] == [events[0].thread.id]


def test_threads_and_events_as_clients_see_them() -> None:
    server = Echo(MemoryStore())
    hidden = HiddenContextItem(id="hc", thread_id="t", created_at=NOW, content="not for clients")
    thread = Thread(id="t", created_at=NOW, items=Page(data=[hidden]))
    assert sdk.thread_response(server, thread).items.data == []
    frame = sdk.frame(server, ThreadItemDoneEvent(item=hidden))
    assert frame.startswith(b"data: {") and frame.endswith(b"}\n\n")
    assert b"null" not in frame  # None fields left out, as in the SDK's own frames


async def test_the_sdks_refusals_become_domain_errors() -> None:
    server = Echo(MemoryStore())
    events = await frames_of(server, request("threads.create", input=user_input("hi")))
    thread_id, answer_id = events[0].thread.id, events[3].item.id

    no_call = request("threads.add_client_tool_output", thread_id=thread_id, result={})
    with pytest.raises(Refused, match="ClientToolCallItem"):
        await frames_of(server, no_call)
    retry = request("threads.retry_after_item", thread_id=thread_id, item_id=answer_id)
    with pytest.raises(Refused, match="not a user message"):
        await frames_of(server, retry)

    transcribe = request("input.transcribe", audio_base64="", mime_type="audio/ogg")
    with pytest.raises(NotSupported, match="Dictation is not configured"):
        await sdk.answer(server, transcribe, CTX)
    action = {"type": "sources.more", "payload": {}}
    sync = request("threads.sync_custom_action", thread_id=thread_id, action=action)
    with pytest.raises(NotSupported):
        await sdk.answer(server, sync, CTX)


async def test_a_value_error_from_elsewhere_is_not_a_refusal() -> None:
    class Broken(MemoryStore):
        async def load_threads(self, *args: Any, **kwargs: Any) -> Page[ThreadMetadata]:
            raise ValueError("a bug, not the caller's fault")

    with pytest.raises(ValueError, match="a bug") as raised:
        await sdk.answer(Echo(Broken()), request("threads.list"), CTX)
    assert not isinstance(raised.value, Refused)
