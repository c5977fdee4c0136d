"""Requests at the edge: the simple payload rewritten into ChatKit, native requests checked.

Everything here is pure (no I/O): parse, validate against the SDK's own models,
apply the gateway's limits and attach the reader's context to `metadata`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, get_args
from urllib.parse import unquote

from chatkit.types import (
    AttachmentsCreateReq,
    AttachmentsDeleteReq,
    ChatKitReq,
    InferenceOptions,
    NonStreamingReq,
    StreamingReq,
    ThreadsAddUserMessageReq,
    ThreadsCreateReq,
    UserMessageInput,
    UserMessageTextContent,
    is_streaming_req,
)
from pydantic import TypeAdapter, ValidationError
from starlette.datastructures import Headers

from services.gateway.errors import ContractMismatch, MalformedRequest, TooLarge, UnsupportedMedia
from shared.contracts.chat import MAX_SELECTED_TEXT, ReaderContext
from shared.contracts.common import PageContext
from shared.contracts.gateway import PAGE_CONTEXT_HEADER, SELECTED_TEXT_HEADER, SimplePayload
from shared.errors import validation_details

CHATKIT_REQUEST: TypeAdapter[ChatKitReq] = TypeAdapter(ChatKitReq)
KNOWN_TYPES = sorted(
    str(model.model_fields["type"].default) for model in get_args(StreamingReq | NonStreamingReq)
)


@dataclass(frozen=True)
class Limits:
    """The edge limits applied to what a user sends."""

    max_query_chars: int
    attachment_max_bytes: int
    attachment_mime_types: frozenset[str]


@dataclass
class Forward:
    """A validated ChatKit request and what must be checked before it is forwarded."""

    request: Any  # one of the ChatKitReq models
    streaming: bool
    thread_ids: list[str] = field(default_factory=list)
    attachment_ids: list[str] = field(default_factory=list)

    def body(self) -> bytes:
        """The request as the chat service will parse it."""
        return bytes(self.request.model_dump_json().encode())


def simple_to_chatkit(payload: SimplePayload, limits: Limits) -> Forward:
    """`threads.create` (no thread id) or `threads.add_user_message` for a simple payload."""
    _check_text(payload.query, limits)
    selected = (payload.context.selected_text or "").strip() or None
    _check_selected(selected)
    message = UserMessageInput(
        content=[UserMessageTextContent(text=payload.query)],
        attachments=[],
        quoted_text=selected,
        inference_options=InferenceOptions(),
    )
    metadata = reader_metadata(payload.context.page_context, selected)
    request: ThreadsCreateReq | ThreadsAddUserMessageReq
    if payload.thread_id is None:
        request = ThreadsCreateReq.model_validate(
            {"params": {"input": message}, "metadata": metadata}
        )
        return Forward(request, streaming=True)
    request = ThreadsAddUserMessageReq.model_validate(
        {"params": {"input": message, "thread_id": payload.thread_id}, "metadata": metadata}
    )
    return Forward(request, streaming=True, thread_ids=[payload.thread_id])


def reader_metadata(page: PageContext, selected_text: str | None) -> dict[str, Any]:
    """The `metadata` entries the chat service reads as `ReaderContext`."""
    context = ReaderContext(page_context=page, selected_text=selected_text)
    return context.model_dump(mode="json", exclude_none=True)


def parse_native(raw: bytes, headers: Headers, limits: Limits) -> Forward:
    """Validate a native ChatKit request at the edge (400 bad JSON or unknown type, 422...)."""
    try:
        request: Any = CHATKIT_REQUEST.validate_json(raw)
    except ValidationError as exc:
        kinds = {err["type"] for err in exc.errors()}
        if "json_invalid" in kinds:
            raise MalformedRequest("Request body is not valid JSON.") from None
        at_root = any(not err["loc"] for err in exc.errors())
        if at_root or kinds & {"union_tag_invalid", "union_tag_not_found"}:
            raise MalformedRequest(
                "Unknown or missing ChatKit request type.",
                code="unknown_request_type",
                details=[{"known_types": KNOWN_TYPES}],
            ) from None
        raise ContractMismatch(
            "The ChatKit request does not match the protocol.", details=validation_details(exc)
        ) from None
    forward = Forward(request, streaming=is_streaming_req(request))
    params = getattr(request, "params", None)
    thread_id = getattr(params, "thread_id", None)
    if isinstance(thread_id, str):
        forward.thread_ids.append(thread_id)
    message = getattr(params, "input", None)
    if isinstance(message, UserMessageInput):
        for part in message.content:
            _check_text(part.text, limits)
        _check_selected(message.quoted_text)
        forward.attachment_ids.extend(message.attachments)
    if isinstance(request, AttachmentsDeleteReq):
        forward.attachment_ids.append(request.params.attachment_id)
    if isinstance(request, AttachmentsCreateReq):
        check_attachment(request.params.mime_type, request.params.size, limits)
    if forward.streaming:
        _merge_reader_context(request, headers)
    return forward


def check_attachment(mime_type: str, size: int | None, limits: Limits) -> None:
    """415 for a MIME type outside the allow-list, 413 above the size limit."""
    base = mime_type.split(";", 1)[0].strip().lower()
    if base not in limits.attachment_mime_types:
        raise UnsupportedMedia(
            f"Attachments of type {base or '(none)'!r} are not accepted.",
            details=[{"accepted": sorted(limits.attachment_mime_types)}],
        )
    if size is not None and size > limits.attachment_max_bytes:
        raise TooLarge(f"Attachments are limited to {limits.attachment_max_bytes} bytes.")


def _merge_reader_context(request: Any, headers: Headers) -> None:
    """Validate `metadata`'s reader context; fill it from headers where metadata has none."""
    metadata: dict[str, Any] = request.metadata
    if "page_context" not in metadata and PAGE_CONTEXT_HEADER in headers:
        try:
            metadata["page_context"] = json.loads(unquote(headers[PAGE_CONTEXT_HEADER]))
        except ValueError:
            raise MalformedRequest(f"{PAGE_CONTEXT_HEADER} is not percent-encoded JSON.") from None
    if "selected_text" not in metadata and SELECTED_TEXT_HEADER in headers:
        metadata["selected_text"] = unquote(headers[SELECTED_TEXT_HEADER])
    if isinstance(metadata.get("selected_text"), str):
        metadata["selected_text"] = metadata["selected_text"].strip() or None
        _check_selected(metadata["selected_text"])
    if "page_context" in metadata or "selected_text" in metadata:
        try:
            context = ReaderContext.model_validate(
                {k: metadata[k] for k in ("page_context", "selected_text") if k in metadata}
            )
        except ValidationError as exc:
            raise ContractMismatch(
                "The reader context does not match the contract.",
                details=validation_details(exc),
            ) from None
        metadata.pop("page_context", None)
        metadata.pop("selected_text", None)
        metadata.update(reader_metadata(context.page_context, context.selected_text))


def _check_text(text: str, limits: Limits) -> None:
    if len(text) > limits.max_query_chars:
        raise TooLarge(f"The question is longer than {limits.max_query_chars} characters.")


def _check_selected(text: str | None) -> None:
    if text is not None and len(text) > MAX_SELECTED_TEXT:
        raise TooLarge(f"The selected text is longer than {MAX_SELECTED_TEXT} characters.")
