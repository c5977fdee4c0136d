"""The chat service app: `uvicorn services.chat.app:create_app --factory`."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from chatkit.server import NonStreamingResult, StreamingResult
from chatkit.store import NotFoundError, Store
from chatkit.types import (
    ChatKitReq,
    ErrorEvent,
    InputTranscribeReq,
    ThreadsAddUserMessageReq,
    ThreadsCreateReq,
    is_streaming_req,
)
from pydantic import TypeAdapter, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from services.chat.attachments import AttachmentsUnavailable
from services.chat.context import ReaderContext, RequestContext, SearchBackend
from services.chat.models.providers import ModelChoice, choose_model, configure_tracing
from services.chat.replay import Existing, duplicate_of, replay
from services.chat.server import BookChatServer
from services.chat.settings import ChatSettings
from services.chat.store_client import HttpStore
from shared.api import ApiRoute, refuse_nul
from shared.contracts.chat import CHATKIT_PATH, IDEMPOTENCY_KEY_HEADER
from shared.contracts.common import MAX_ID_LENGTH, USER_ID_HEADER
from shared.contracts.gateway import GATEWAY_URL_HEADER
from shared.errors import ApiError, validation_details
from shared.http import ServiceHttp, UpstreamRefused, UpstreamUnavailable
from shared.logs import current_request_id
from shared.service import build_app
from shared.settings import load_settings

logger = logging.getLogger(__name__)

_chatkit_req: TypeAdapter[ChatKitReq] = TypeAdapter(ChatKitReq)
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
MAX_IDEMPOTENCY_KEY = 255


def create_app(
    settings: ChatSettings | None = None,
    *,
    store: Store[Any] | None = None,
    search: SearchBackend | None = None,
    model: ModelChoice | None = None,
) -> Starlette:
    """Build the chat service. Store and search are the HTTP clients of the store and
    retrieval services unless given (tests, the in-process benchmark baseline)."""
    settings = settings or load_settings(ChatSettings)
    configure_tracing(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            chosen = model or choose_model(settings)
            if model is None:
                stack.push_async_callback(chosen.close)
            chat_store = store
            if chat_store is None:
                store_http = ServiceHttp(
                    settings.store_url,
                    service="store",
                    token=settings.token,
                    timeout_s=settings.store_timeout_s,
                )
                stack.push_async_callback(store_http.aclose)
                healthz["store"] = store_http.status
                chat_store = HttpStore(store_http)
            backend = search
            if backend is None:
                from services.chat.clients.retrieval import RetrievalClient

                retrieval_http = ServiceHttp(
                    settings.retrieval_url,
                    service="retrieval",
                    token=settings.token,
                    timeout_s=settings.retrieval_timeout_s,
                )
                stack.push_async_callback(retrieval_http.aclose)
                healthz["retrieval"] = retrieval_http.status
                backend = RetrievalClient(retrieval_http)
            app.state.server = BookChatServer(chat_store, backend, chosen, settings)
            logger.info("chat service using model provider %s (%s)", chosen.provider, chosen.name)
            yield

    # Each remote dependency's /healthz status; absent when it runs in-process.
    healthz: dict[str, Callable[[], Awaitable[int]]] = {}

    async def store_ready() -> None:
        await _ping(healthz.get("store"))

    async def retrieval_ready() -> None:
        await _ping(healthz.get("retrieval"))

    routes = [
        ApiRoute(
            CHATKIT_PATH,
            chatkit_endpoint,
            method="POST",
            summary="Any ChatKit request: JSON for reads and updates, SSE for replies",
            body=_chatkit_req,
            streams=True,
            errors=(400, 404, 413, 503),
            headers=(USER_ID_HEADER,),
        )
    ]
    return build_app(
        "chat",
        settings,
        routes,
        lifespan=lifespan,
        readiness={"store": store_ready, "retrieval": retrieval_ready},
    )


async def _ping(healthz_status: Callable[[], Awaitable[int]] | None) -> None:
    if healthz_status is None:  # in-process dependency
        return
    status = await healthz_status()
    if status != 200:
        raise RuntimeError(f"/healthz answered {status}")


async def chatkit_endpoint(request: Request) -> Response:
    server: BookChatServer = request.app.state.server
    context = _request_context(request)
    parsed = _parse(await request.body())
    try:
        context.reader = ReaderContext.model_validate(parsed.metadata)
    except ValidationError as exc:
        raise ApiError(
            400,
            "metadata does not hold a valid reader context: "
            + _first_problem(exc, prefix=("metadata",)),
            details=validation_details(exc),
        ) from None
    if not is_streaming_req(parsed):
        _check_audio(parsed)
        try:
            result = await server.process_request(parsed, context)
        except NotFoundError as exc:
            raise ApiError(404, str(exc) or "Not found.") from None
        except UpstreamUnavailable:
            raise ApiError(503, "The store is unavailable; retry shortly.") from None
        except AttachmentsUnavailable as exc:
            raise ApiError(400, str(exc)) from None
        except NotImplementedError as exc:
            # a ChatKit feature this server does not offer (e.g. `input.transcribe`):
            # the request is fine for ChatKit but not for this deployment
            raise ApiError(400, str(exc).split(". ")[0] + ".", code="not_supported") from None
        except RuntimeError as exc:
            raise ApiError(400, str(exc).split(". ")[0] + ".", code="not_supported") from None
        assert isinstance(result, NonStreamingResult)
        return Response(result.json, media_type="application/json")

    if isinstance(parsed, ThreadsCreateReq):
        context.new_thread = True
    if isinstance(parsed, ThreadsCreateReq | ThreadsAddUserMessageReq):
        message = parsed.params.input
        if context.selected_text and message.quoted_text is None:
            message.quoted_text = context.selected_text  # the reader's selection, quoted
        await _check_attachments(server, message.attachments, context)
        if context.idempotency_key:
            existing = await duplicate_of(server, parsed, context)
            if existing is not None:
                return _sse(replay(server, existing, context))

    if isinstance(parsed, ThreadsAddUserMessageReq):
        _prefetch_history(server, parsed.params.thread_id, context)
    result = await server.process_request(parsed, context)
    assert isinstance(result, StreamingResult)
    stream = aiter(result)
    try:
        first = await anext(stream)
    except StopAsyncIteration:
        first = b""
    except NotFoundError as exc:
        raise ApiError(404, str(exc) or "Not found.") from None
    except ValueError as exc:  # the SDK's "this item is not a ..." refusals
        raise ApiError(400, str(exc)) from None
    except UpstreamRefused as exc:
        existing = await _lost_race(exc, server, context)
        if existing is None:
            raise ApiError(502, "The store refused the request.") from None
        return _sse(replay(server, existing, context))
    except Exception as exc:
        logger.warning("stream failed before it started: %r", exc)
        return _sse(_error_only(exc))
    return _sse(_rest(first, stream, server, context))


def _prefetch_history(server: BookChatServer, thread_id: str, context: RequestContext) -> None:
    # The history read does not depend on the new message (the reply adds it itself),
    # so it runs while the SDK loads the thread and saves the message.
    task = asyncio.ensure_future(
        server.store.load_thread_items(
            thread_id, None, server.settings.history_max_items, "desc", context
        )
    )
    task.add_done_callback(lambda t: t.cancelled() or t.exception())
    context.history_prefetch = task


def _check_audio(parsed: ChatKitReq) -> None:
    """400 for audio the SDK could not decode (it decodes `input.transcribe` audio unchecked:
    a bad string would be a 500)."""
    if isinstance(parsed, InputTranscribeReq):
        try:
            base64.b64decode(parsed.params.audio_base64)  # as the SDK does
        except ValueError:  # binascii.Error, or non-ASCII text
            raise ApiError(400, "params.audio_base64 is not valid base64.") from None


def _request_context(request: Request) -> RequestContext:
    user_id = request.headers.get(USER_ID_HEADER, "")
    if not user_id:
        raise ApiError(400, "The X-User-ID header is required.", code="missing_user")
    if len(user_id) > MAX_ID_LENGTH:
        raise ApiError(400, f"X-User-ID is longer than {MAX_ID_LENGTH} characters.")
    key = request.headers.get(IDEMPOTENCY_KEY_HEADER) or None
    if key is not None and len(key) > MAX_IDEMPOTENCY_KEY:
        raise ApiError(400, f"Idempotency-Key is longer than {MAX_IDEMPOTENCY_KEY} characters.")
    return RequestContext(
        user_id=user_id,
        request_id=current_request_id(),
        idempotency_key=key,
        gateway_url=request.headers.get(GATEWAY_URL_HEADER) or None,
    )


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


def _first_problem(exc: ValidationError, prefix: tuple[str, ...] = ()) -> str:
    err = exc.errors(include_url=False, include_input=False)[0]
    loc = ".".join(str(part) for part in (*prefix, *err["loc"]))
    return f"{loc}: {err['msg']}" if loc else err["msg"]


async def _check_attachments(
    server: BookChatServer, attachment_ids: list[str], context: RequestContext
) -> None:
    # Before anything is saved: `threads.create` saves the thread before the SDK loads
    # attachments, so an unknown id would leave an empty thread behind.
    for attachment_id in attachment_ids:
        try:
            await server.store.load_attachment(attachment_id, context)
        except NotFoundError:
            raise ApiError(404, f"Attachment {attachment_id} not found.") from None


async def _lost_race(
    exc: UpstreamRefused, server: BookChatServer, context: RequestContext
) -> Existing | None:
    """The winner's message when `exc` is a concurrent duplicate of a keyed submission
    colliding on its keyed message id."""
    if exc.status != 409 or not context.idempotency_key:
        return None
    return await duplicate_of(server, None, context)


def _sse(events: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(events, media_type="text/event-stream", headers=SSE_HEADERS)


def _frame(event: ErrorEvent) -> bytes:
    return b"data: " + event.model_dump_json(exclude_none=True).encode() + b"\n\n"


async def _error_only(exc: Exception) -> AsyncIterator[bytes]:
    yield _frame(ErrorEvent(code="stream.error", allow_retry=True))


async def _rest(
    first: bytes,
    stream: AsyncIterator[bytes],
    server: BookChatServer,
    context: RequestContext,
) -> AsyncIterator[bytes]:
    """The SSE frames after the first; a failure after the stream started (outside the
    SDK's own error handling) ends it with a retryable `error` event, not a cut connection."""
    if first:
        yield first
    try:
        async for frame in stream:
            yield frame
    except UpstreamRefused as exc:
        existing = await _lost_race(exc, server, context)
        if existing is not None:
            async for frame in replay(server, existing, context, include_thread=False):
                yield frame
            return
        logger.warning("stream failed: %r", exc)
        yield _frame(ErrorEvent(code="stream.error", allow_retry=False))
    except Exception as exc:
        logger.warning("stream failed: %r", exc)
        yield _frame(ErrorEvent(code="stream.error", allow_retry=True))
