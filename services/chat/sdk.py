"""The ChatKit SDK's private methods this service calls, in one place.

`ChatKitServer.process()` takes the raw body and answers bytes. The service parses the
request itself (so its 400s name the field), answers a duplicate submission from the
record, and tells the SDK's refusals from failures, so it calls four private methods
of the pinned SDK (`openai-chatkit` 1.6.5): `_process_non_streaming`,
`_process_streaming`, `_to_thread_response` and `_serialize`.
`tests/unit/chat/test_sdk.py` fails when a new SDK changes them.

The SDK refuses a request that does not fit the thread with a plain `ValueError`, and
one its subclass does not implement with `NotImplementedError`, both raised in
`chatkit.server` itself: here they become `Refused` and `NotSupported`, so no other
`ValueError` (a bug, a malformed store answer) passes for the caller's fault.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterator
from contextlib import aclosing, contextmanager
from typing import TypeVar

import chatkit.server
from chatkit.server import ChatKitServer
from chatkit.types import (
    ChatKitReq,
    InputTranscribeReq,
    NonStreamingReq,
    StreamingReq,
    Thread,
    ThreadMetadata,
    ThreadStreamEvent,
)

from services.chat.errors import NotSupported, Refused

PRIVATE_METHODS = (
    "_process_non_streaming",
    "_process_streaming",
    "_to_thread_response",
    "_serialize",
)
"""The SDK methods this module calls that are not the SDK's public API."""

C = TypeVar("C")


async def answer(server: ChatKitServer[C], request: NonStreamingReq, context: C) -> bytes:
    """The JSON answer to a non-streaming request."""
    with _refusals(request):
        return await server._process_non_streaming(request, context)


async def stream(
    server: ChatKitServer[C], request: StreamingReq, context: C
) -> AsyncGenerator[bytes, None]:
    """The SSE frames of a streaming request (`data: {event}\\n\\n` each), as the SDK makes
    them; failures inside the reply are already `error` events among them."""
    async with aclosing(server._process_streaming(request, context)) as frames:
        with _refusals(request):
            async for frame in frames:
                yield frame


def thread_response(server: ChatKitServer[C], thread: ThreadMetadata) -> Thread:
    """`thread` as the SDK shows it to clients (hidden items left out)."""
    return server._to_thread_response(thread)


def frame(server: ChatKitServer[C], event: ThreadStreamEvent) -> bytes:
    """The SSE frame of `event`, serialized as the SDK serializes its own."""
    return b"data: " + server._serialize(event) + b"\n\n"


@contextmanager
def _refusals(request: ChatKitReq) -> Iterator[None]:
    try:
        yield
    except (ValueError, NotImplementedError) as exc:
        if not _raised_in_sdk(exc):
            raise
        if type(exc) is NotImplementedError:
            raise NotSupported(_unsupported(request)) from exc
        if type(exc) is ValueError:
            raise Refused(str(exc)) from exc
        raise


def _unsupported(request: ChatKitReq) -> str:
    if isinstance(request, InputTranscribeReq):
        return (
            "Dictation is not configured on this service: no speech model is set "
            "(CHAT_TRANSCRIPTION_MODEL)."
        )
    return f"{request.type} is not supported by this service."


def _raised_in_sdk(exc: BaseException) -> bool:
    """Whether `exc` was raised by `chatkit.server`'s own code (not passed through it)."""
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_globals.get("__name__") == chatkit.server.__name__
