"""HTTP handlers of the gateway: the two chat endpoints, uploads, and the web client."""

from __future__ import annotations

from collections.abc import Sequence

from chatkit.types import Attachment
from pydantic import BaseModel, TypeAdapter
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from services.gateway import embed
from services.gateway.proxy import UpstreamCall
from services.gateway.rewrite import parse_native, simple_to_chatkit
from services.gateway.state import Gateway
from shared.api import ApiRoute, check_json_body, json_response, read_query, validate_json
from shared.contracts.chat import STOP_PATH, STREAM_PATH, StopResult
from shared.contracts.common import MAX_ID_LENGTH
from shared.contracts.gateway import NATIVE_PATH, SIMPLE_PATH, BookPage, BookToc, SimplePayload
from shared.contracts.pages import EntityList, EntityQuery
from shared.errors import ApiError

API_ERRORS = (400, 401, 403, 404, 413, 429, 502, 503, 504)


def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.state.gateway  # the lifespan's `GatewayState`
    return gateway


async def _json_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"Request body is larger than {limit} bytes.")
    raw = await request.body()
    if len(raw) > limit:
        raise ApiError(413, f"Request body is larger than {limit} bytes.")
    check_json_body(raw)
    return raw


def _path_id(request: Request, name: str, kind: str = "Attachment") -> str:
    value: str = request.path_params[name]
    if len(value) > MAX_ID_LENGTH:
        raise ApiError(404, f"No such {kind.lower()}.")
    return value


# -- chat ----------------------------------------------------------------------


async def simple_chat(request: Request) -> Response | UpstreamCall:
    """`POST /assistant/chatkit`: one question as a simple payload, answered as SSE."""
    gateway = _gateway(request)
    user_id = await gateway.guard(request)
    raw = await _json_body(request, gateway.settings.max_json_bytes)
    payload: SimplePayload = validate_json(raw, SimplePayload)
    return await gateway.forward(request, user_id, simple_to_chatkit(payload, gateway.limits))


async def native_chat(request: Request) -> Response | UpstreamCall:
    """`POST /chatkit`: any ChatKit request, validated here and forwarded."""
    gateway = _gateway(request)
    user_id = await gateway.guard(request)
    raw = await _json_body(request, gateway.settings.max_json_bytes)
    forward = parse_native(raw, request.headers, gateway.limits)
    return await gateway.forward(request, user_id, forward)


async def resume_stream(request: Request) -> Response | UpstreamCall:
    """`GET /chatkit/streams/{thread_id}`: the resumable answer on a thread, after the
    `Last-Event-ID` the client has (204: none to resume; read the thread)."""
    gateway = _gateway(request)
    user_id = await gateway.guard(request)
    return await gateway.resume(request, user_id, _path_id(request, "thread_id", "Thread"))


async def stop_stream(request: Request) -> Response | UpstreamCall:
    """`POST /chatkit/streams/{thread_id}/stop`: stop the resumable answer on a thread."""
    gateway = _gateway(request)
    user_id = await gateway.guard(request)
    return await gateway.stop(request, user_id, _path_id(request, "thread_id", "Thread"))


# -- attachments -------------------------------------------------------------


async def upload_direct(request: Request) -> Response:
    gateway = _gateway(request)
    user_id = await gateway.guard(request)
    return await gateway.uploads.direct(request, user_id)


async def upload_two_phase(request: Request) -> Response:
    gateway = _gateway(request)
    user_id = await gateway.guard(request)
    return await gateway.uploads.two_phase(request, user_id, _path_id(request, "attachment_id"))


async def attachment_content(request: Request) -> Response:
    gateway = _gateway(request)
    user_id = await gateway.guard(request)
    return await gateway.uploads.content(user_id, _path_id(request, "attachment_id"))


# -- web client ----------------------------------------------------------------


def edge_headers(frame_ancestors: Sequence[str] = ()) -> dict[str, str]:
    """Headers of every gateway answer that sets none of its own: the web client's policy
    (its own scripts and styles only, no plugins, HTML only through the book's Trusted
    Types policy, framed only by `frame_ancestors`), no MIME sniffing, no referrer to other
    sites."""
    ancestors = " ".join(frame_ancestors) or "'none'"
    policy = [
        "default-src 'self'",
        "img-src 'self' https:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        f"frame-ancestors {ancestors}",
        "require-trusted-types-for 'script'",
        "trusted-types book",
    ]
    return {
        "content-security-policy": "; ".join(policy),
        "referrer-policy": "same-origin",
        "x-content-type-options": "nosniff",
    }


async def index(request: Request) -> Response:
    """The web client (also for `/book/<page>` links, which it resolves itself)."""
    return FileResponse(embed.STATIC / "index.html", headers={"cache-control": "no-cache"})


async def book_toc(request: Request) -> Response:
    """The book's table of contents, relayed from the retrieval service."""
    gateway = _gateway(request)
    await gateway.check_address_rate(request)
    return json_response(await gateway.book.toc())


async def book_page(request: Request) -> Response:
    """One page of the book, relayed from the retrieval service."""
    gateway = _gateway(request)
    await gateway.check_address_rate(request)
    return json_response(await gateway.book.page(request.path_params["page"]))


async def book_entities(request: Request) -> Response:
    """Chapters and pages matching `?q=` for the composer's @-mentions (ChatKit's
    `entities.onTagSearch`), relayed from the retrieval service."""
    gateway = _gateway(request)
    await gateway.check_address_rate(request)
    query = read_query(request, EntityQuery)
    return json_response(await gateway.book.entities(query))


class AttachmentLimits(BaseModel):
    """What an attachment may be: the web client refuses more before uploading."""

    max_bytes: int
    """Largest file accepted (413 above)."""
    mime_types: list[str]
    """Types a file may have (415 otherwise)."""
    max_per_message: int
    """Most files one message may carry (422 above)."""


class Features(BaseModel):
    """What the web client may offer besides asking (it reads this once at start)."""

    dictation: bool
    """The microphone button: the chat service transcribes `input.transcribe` audio."""
    max_audio_bytes: int
    """Largest recording the gateway lets through; the client stops recording before."""
    attachments: AttachmentLimits | None
    """The attach button and its limits (None when GATEWAY_MAX_ATTACHMENTS_PER_MESSAGE is 0)."""


async def features(request: Request) -> Response:
    """The web client's optional features, from the gateway's settings."""
    gateway = _gateway(request)
    await gateway.check_address_rate(request)
    settings = gateway.settings
    return json_response(
        Features(
            dictation=settings.transcription_model is not None,
            max_audio_bytes=settings.max_audio_bytes,
            attachments=AttachmentLimits(
                max_bytes=settings.attachment_max_bytes,
                mime_types=sorted(settings.attachment_mime_types),
                max_per_message=settings.max_attachments_per_message,
            )
            if settings.max_attachments_per_message
            else None,
        )
    )


_attachment = TypeAdapter(Attachment)

routes: list[BaseRoute] = [
    ApiRoute(
        SIMPLE_PATH,
        simple_chat,
        method="POST",
        summary="Ask one question (simple payload); the answer streams as ChatKit SSE events",
        body=SimplePayload,
        errors=API_ERRORS,
        streams=True,
    ),
    ApiRoute(
        NATIVE_PATH,
        native_chat,
        method="POST",
        summary="Any ChatKit request; streams for streaming types, JSON otherwise",
        errors=(*API_ERRORS, 415, 422),
        streams=True,
    ),
    ApiRoute(
        STREAM_PATH,
        resume_stream,
        method="GET",
        summary="Resume a resumable answer (sent with `X-ChatKit-Resumable: 1`): the events "
        "after `Last-Event-ID`, then live; 204 when none is running",
        errors=API_ERRORS,
        streams=True,
    ),
    ApiRoute(
        STOP_PATH,
        stop_stream,
        method="POST",
        summary="Stop the resumable answer running on a thread; its partial reply is saved",
        response=StopResult,
        errors=API_ERRORS,
    ),
    ApiRoute(
        "/attachments",
        upload_direct,
        method="POST",
        summary="Direct upload (multipart field `file`): stores it, returns the ChatKit Attachment",
        response=_attachment,
        errors=(400, 401, 403, 413, 415, 429, 502, 503),
    ),
    ApiRoute(
        "/attachments/{attachment_id}/upload",
        upload_two_phase,
        method="POST",
        summary="Two-phase upload of an attachment's bytes (multipart `file` or raw body)",
        response=_attachment,
        errors=(400, 401, 403, 404, 409, 413, 415, 429, 502, 503),
    ),
    Route("/attachments/{attachment_id}/upload", upload_two_phase, methods=["PUT"]),
    ApiRoute(
        "/attachments/{attachment_id}/content",
        attachment_content,
        method="GET",
        summary="An attachment's bytes, to its owner only",
        errors=(401, 404, 502, 503),
    ),
    ApiRoute(
        "/api/book",
        book_toc,
        method="GET",
        summary="Table of contents of the book (the corpus chat answers from)",
        response=BookToc,
        errors=(404, 429, 502, 503, 504),
    ),
    ApiRoute(
        "/api/features",
        features,
        method="GET",
        summary="The web client's optional features (dictation) and their limits",
        response=Features,
        errors=(429,),
    ),
    ApiRoute(
        "/api/entities",
        book_entities,
        method="GET",
        summary="Chapters and pages whose titles match `q`, for @-mentions (`id` is the "
        "tag id to send)",
        query=EntityQuery,
        response=EntityList,
        errors=(404, 422, 429, 502, 503, 504),
    ),
    ApiRoute(
        "/api/book/{page:path}",
        book_page,
        method="GET",
        summary="One page of the book as sanitised HTML, with its neighbours",
        response=BookPage,
        errors=(404, 429, 502, 503, 504),
    ),
    *embed.routes,
    Route("/", index, methods=["GET"], include_in_schema=False),
    Route("/book/{page:path}", index, methods=["GET"], include_in_schema=False),
    Mount("/static", StaticFiles(directory=embed.STATIC), name="static"),
]
