"""`POST /chatkit`: a ChatKit request in, JSON or an SSE stream out.

The handler parses the request (a 400 names the field), builds its `RequestContext`,
and hands a submitted message to its `Submission` (`submission.py`), any other request
to the SDK (`sdk.py`), which runs `BookChatServer` (`server.py`). Errors are raised and
the app's error table (`app.py`) answers them; once a stream has started, a failure
ends it with a ChatKit `error` event instead.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable
from dataclasses import replace
from typing import TypedDict, TypeVar

from chatkit.store import NotFoundError
from chatkit.types import (
    ChatKitReq,
    InputTranscribeReq,
    ThreadsAddUserMessageReq,
    ThreadsCreateReq,
    ThreadsRetryAfterItemReq,
    is_streaming_req,
)
from pydantic import TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from services.chat import sdk
from services.chat.context import RequestContext
from services.chat.mentions import resolve as resolve_mentions
from services.chat.server import BookChatServer
from services.chat.streams import REQUEST_ERRORS, Runs, error_frame
from services.chat.submission import Submission
from services.chat.transcription import check_size
from shared.api import ApiRoute, json_response, refuse_nul, user_id_header
from shared.contracts.chat import (
    CHATKIT_PATH,
    IDEMPOTENCY_KEY_HEADER,
    RESUMABLE_HEADER,
    STOP_PATH,
    STREAM_PATH,
    ReaderContext,
    StopResult,
)
from shared.contracts.common import USER_ASSERTION_HEADER, USER_ID_HEADER
from shared.contracts.gateway import GATEWAY_URL_HEADER
from shared.errors import ApiError, validation_details
from shared.logs import current_request_id

logger = logging.getLogger(__name__)

_chatkit_req: TypeAdapter[ChatKitReq] = TypeAdapter(ChatKitReq)
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
MAX_IDEMPOTENCY_KEY = 255
CLIENT_GONE = 499
"""The status (nginx's "client closed request") recorded for an answer nobody waited for."""
T = TypeVar("T")


class ChatState(TypedDict):
    """What the app's lifespan hands to the handler (`request.state`)."""

    server: BookChatServer
    runs: Runs


async def chatkit(request: Request[ChatState]) -> Response:
    server = request.state["server"]
    user_id, key = user_id_header(request), _idempotency_key(request)
    parsed = _parse(await request.body())
    context = RequestContext(
        user_id=user_id,
        user_assertion=request.headers.get(USER_ASSERTION_HEADER),
        request_id=current_request_id(),
        reader=_reader(parsed),
        gateway_url=request.headers.get(GATEWAY_URL_HEADER) or None,
    )
    if not is_streaming_req(parsed):
        _check_audio(parsed, server.settings.max_audio_bytes)
        answer = await _while_connected(request.receive, sdk.answer(server, parsed, context))
        if answer is None:
            return Response(status_code=CLIENT_GONE)
        return Response(answer, media_type="application/json")
    if isinstance(parsed, ThreadsRetryAfterItemReq):
        retried = await server.check_retry(parsed.params, context)
        # Answered again as it was first: its @-mentions resolved anew (a page deleted
        # since is a 422, as for a new message).
        mentions = await resolve_mentions(server.search, server.settings.corpus, retried)
        context = replace(context, mentions=mentions)
    if isinstance(parsed, ThreadsCreateReq | ThreadsAddUserMessageReq):
        message = parsed.params.input
        if context.selected_text and message.quoted_text is None:
            message.quoted_text = context.selected_text  # the reader's selection, quoted
        submission = Submission.of(parsed, user_id, key)
        mentions = await resolve_mentions(server.search, server.settings.corpus, message)
        context = replace(context, submission=submission, mentions=mentions)
        frames = submission.stream(server, parsed, context)
    else:
        frames = sdk.stream(server, parsed, context)
    if request.headers.get(RESUMABLE_HEADER) == "1":
        thread_id = getattr(parsed.params, "thread_id", None)
        run = await request.state["runs"].start(user_id, thread_id, frames)
        return EventStream(b"", run.read())
    return await _event_stream(frames)


async def resume(request: Request[ChatState]) -> Response:
    """The resumable answer on a thread, after the `Last-Event-ID` the reader has."""
    user_id, thread_id = user_id_header(request), request.path_params["thread_id"]
    runs = request.state["runs"]
    try:
        run, after = await runs.find(user_id, thread_id, request.headers.get("last-event-id"))
    except NotFoundError:
        return Response(status_code=204)
    return EventStream(b"", run.read(after))


async def stop(request: Request[ChatState]) -> Response:
    """Stop the resumable answer running on a thread; its partial reply is saved."""
    user_id, thread_id = user_id_header(request), request.path_params["thread_id"]
    stopped = await request.state["runs"].stop(user_id, thread_id)
    return json_response(StopResult(stopped=stopped))


routes = [
    ApiRoute(
        CHATKIT_PATH,
        chatkit,
        method="POST",
        summary="Any ChatKit request: JSON for reads and updates, SSE for replies",
        body=_chatkit_req,
        streams=True,
        errors=(400, 403, 404, 413, 502, 503, 504),
        headers=(USER_ID_HEADER,),
    ),
    ApiRoute(
        STREAM_PATH,
        resume,
        method="GET",
        summary="Resume a resumable answer: the events after `Last-Event-ID`, then live",
        streams=True,
        errors=(410,),
        headers=(USER_ID_HEADER,),
    ),
    ApiRoute(
        STOP_PATH,
        stop,
        method="POST",
        summary="Stop the resumable answer running on a thread (its partial reply is saved)",
        response=StopResult,
        headers=(USER_ID_HEADER,),
    ),
]


# -- the stream ------------------------------------------------------------------------


async def _event_stream(frames: AsyncGenerator[bytes, None]) -> Response:
    """The stream of `frames`; an error of the request itself raised before the first
    frame is the answer instead (its 4xx from the error table)."""
    try:
        first = await anext(frames, b"")
    except REQUEST_ERRORS:
        raise
    except Exception as exc:
        logger.warning("stream failed before it started: %r", exc)
        return EventStream(error_frame(exc))
    return EventStream(first, frames)


class EventStream(StreamingResponse):
    """A ChatKit SSE answer: `first`, then the frames of `rest`. A failure within `rest`
    ends the stream with an `error` event rather than a cut connection. `rest` is closed
    however the response ends, also when the client left before it began."""

    def __init__(self, first: bytes, rest: AsyncGenerator[bytes, None] | None = None) -> None:
        self._rest = rest
        super().__init__(self._frames(first), media_type="text/event-stream", headers=SSE_HEADERS)

    async def _frames(self, first: bytes) -> AsyncIterator[bytes]:
        if first:
            yield first
        if self._rest is None:
            return
        try:
            async for frame in self._rest:
                yield frame
        except Exception as exc:
            logger.warning("stream failed: %r", exc)
            yield error_frame(exc)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            if self._rest is not None:
                await self._rest.aclose()


# -- a JSON answer ---------------------------------------------------------------------


async def _while_connected(receive: Receive, work: Awaitable[T]) -> T | None:
    """`work`'s result; or None, with `work` cancelled, once the client has gone away
    (uvicorn does not cancel a handler whose client left: its store calls would run on)."""
    task = asyncio.ensure_future(work)
    gone = asyncio.ensure_future(_disconnect(receive))
    try:
        await asyncio.wait((task, gone), return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
        if not task.done():
            task.cancel()
    if task.done() and not task.cancelled():
        return task.result()
    await asyncio.wait((task,))  # its cancellation has run
    return None


async def _disconnect(receive: Receive) -> None:
    """Returns when the client disconnects (the body has been read: nothing else comes)."""
    while (await receive())["type"] != "http.disconnect":
        pass


# -- parsing ---------------------------------------------------------------------------


def _parse(body: bytes) -> ChatKitReq:
    if not body:
        raise ApiError(400, "Request body is empty; a ChatKit request is required.")
    refuse_nul(body)
    try:
        return _chatkit_req.validate_json(body)
    except ValidationError as exc:
        if any(err["type"] == "json_invalid" for err in exc.errors()):
            raise ApiError(400, "Request body is not valid JSON.") from None
        raise ApiError(
            400,
            "Not a valid ChatKit request: " + _first_problem(exc),
            details=validation_details(exc),
        ) from None


def _reader(request: ChatKitReq) -> ReaderContext:
    try:
        return ReaderContext.model_validate(request.metadata)
    except ValidationError as exc:
        raise ApiError(
            400,
            "metadata does not hold a valid reader context: "
            + _first_problem(exc, prefix=("metadata",)),
            details=validation_details(exc),
        ) from None


def _first_problem(exc: ValidationError, prefix: tuple[str, ...] = ()) -> str:
    err = exc.errors(include_url=False, include_input=False)[0]
    loc = ".".join(str(part) for part in (*prefix, *err["loc"]))
    return f"{loc}: {err['msg']}" if loc else err["msg"]


def _idempotency_key(request: Request[ChatState]) -> str | None:
    key = request.headers.get(IDEMPOTENCY_KEY_HEADER) or None
    if key is not None and len(key) > MAX_IDEMPOTENCY_KEY:
        raise ApiError(400, f"Idempotency-Key is longer than {MAX_IDEMPOTENCY_KEY} characters.")
    return key


def _check_audio(request: ChatKitReq, max_bytes: int) -> None:
    """413 for more audio than `max_bytes`, told from the base64 text before it is decoded;
    400 for audio the SDK could not decode (it decodes `input.transcribe` audio unchecked:
    a bad string would be a 500)."""
    if isinstance(request, InputTranscribeReq):
        encoded = request.params.audio_base64
        check_size(len(encoded) // 4 * 3 - encoded[-2:].count("="), max_bytes)
        try:
            base64.b64decode(request.params.audio_base64)  # as the SDK does
        except ValueError:  # binascii.Error, or non-ASCII text
            raise ApiError(400, "params.audio_base64 is not valid base64.") from None
