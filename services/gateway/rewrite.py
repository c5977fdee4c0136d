"""Requests at the edge: the simple payload rewritten into ChatKit, native requests checked.

Everything here is pure (no I/O): parse, validate against the SDK's own models,
apply the gateway's limits and attach the reader's context to `metadata`.

A limit on how many of something a request names (content parts, attachment ids, item
ids) answers 422 above it; a limit on how large something is (text, a field, a
serialized message, a title, `metadata`) answers 413. Repeated ids are forwarded once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, get_args
from urllib.parse import unquote

import pydantic_core
from chatkit.types import (
    AttachmentsCreateReq,
    AttachmentsDeleteReq,
    ChatKitReq,
    InferenceOptions,
    InputTranscribeReq,
    ItemsFeedbackReq,
    NonStreamingReq,
    StreamingReq,
    ThreadsAddClientToolOutputReq,
    ThreadsAddStructuredInputReq,
    ThreadsAddUserMessageReq,
    ThreadsCreateReq,
    ThreadsCustomActionReq,
    ThreadsRetryAfterItemReq,
    ThreadsSyncCustomActionReq,
    ThreadsUpdateReq,
    UserMessageInput,
    UserMessageTagContent,
    UserMessageTextContent,
    is_streaming_req,
)
from pydantic import TypeAdapter, ValidationError
from starlette.datastructures import Headers

from services.gateway.errors import ContractMismatch, MalformedRequest, TooLarge, UnsupportedMedia
from services.gateway.settings import GatewaySettings
from shared.contracts.chat import MAX_SELECTED_TEXT, ReaderContext
from shared.contracts.common import MAX_ID_LENGTH, PageContext
from shared.contracts.gateway import PAGE_CONTEXT_HEADER, SELECTED_TEXT_HEADER, SimplePayload
from shared.errors import validation_details

CHATKIT_REQUEST: TypeAdapter[ChatKitReq] = TypeAdapter(ChatKitReq)
KNOWN_TYPES = sorted(
    str(model.model_fields["type"].default) for model in get_args(StreamingReq | NonStreamingReq)
)


MAX_NAME_CHARS = 255
"""Longest attachment file name (the usual file system limit) and MIME type."""


@dataclass(frozen=True)
class Limits:
    """The edge limits applied to what a user sends (each is a `GatewaySettings` field)."""

    max_query_chars: int
    attachment_max_bytes: int
    attachment_mime_types: frozenset[str]
    max_message_parts: int
    max_message_bytes: int
    max_attachments: int
    max_feedback_items: int
    max_title_chars: int
    max_metadata_bytes: int
    max_audio_bytes: int

    @classmethod
    def from_settings(cls, settings: GatewaySettings) -> Limits:
        return cls(
            max_query_chars=settings.max_query_chars,
            attachment_max_bytes=settings.attachment_max_bytes,
            attachment_mime_types=frozenset(m.lower() for m in settings.attachment_mime_types),
            max_message_parts=settings.max_message_parts,
            max_message_bytes=settings.max_message_bytes,
            max_attachments=settings.max_attachments_per_message,
            max_feedback_items=settings.max_feedback_items,
            max_title_chars=settings.max_title_chars,
            max_metadata_bytes=settings.max_metadata_bytes,
            max_audio_bytes=settings.max_audio_bytes,
        )


@dataclass
class Forward:
    """A validated ChatKit request and what must be checked before it is forwarded."""

    request: Any  # one of the ChatKitReq models
    streaming: bool
    thread_ids: list[str] = field(default_factory=list)
    attachment_ids: list[str] = field(default_factory=list)
    item_ids: list[str] = field(default_factory=list)
    """Items of the request's thread (`thread_ids[0]`)."""

    def body(self) -> bytes:
        """The request as the chat service will parse it."""
        return bytes(self.request.model_dump_json().encode())


def simple_to_chatkit(payload: SimplePayload, limits: Limits) -> Forward:
    """`threads.create` (no thread id) or `threads.add_user_message` for a simple payload."""
    selected = (payload.context.selected_text or "").strip() or None
    message = UserMessageInput(
        content=[UserMessageTextContent(text=payload.query)],
        attachments=[],
        quoted_text=selected,
        inference_options=InferenceOptions(),
    )
    check_message(message, limits)
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
    _check_bytes(request.metadata, limits.max_metadata_bytes, "metadata")
    forward = Forward(request, streaming=is_streaming_req(request))
    params = getattr(request, "params", None)
    thread_id = getattr(params, "thread_id", None)
    if isinstance(thread_id, str):
        forward.thread_ids.append(thread_id)
    message = getattr(params, "input", None)
    if isinstance(message, UserMessageInput):
        check_message(message, limits)
        message.attachments = _distinct(message.attachments)
        forward.attachment_ids.extend(message.attachments)
    _check_params(request, forward, limits)
    if forward.streaming:
        _merge_reader_context(request, headers)
    return forward


def check_message(message: UserMessageInput, limits: Limits) -> None:
    """A user message within the limits: how many parts and attachments (422), its text
    and quoted text, each field, and its serialized size (413)."""
    _check_count(len(message.content), limits.max_message_parts, "content parts in a message")
    _check_count(len(message.attachments), limits.max_attachments, "attachments in a message")
    chars = 0
    for part in message.content:
        chars += len(part.text)
        if isinstance(part, UserMessageTagContent):
            _check_field(part.id, "A tag's id")
            _check_field(part.group, "A tag's group")
    if chars > limits.max_query_chars:
        raise TooLarge(f"The question is longer than {limits.max_query_chars} characters.")
    _check_selected(message.quoted_text)
    options = message.inference_options
    _check_field(options.model, "inference_options.model")
    _check_field(options.tool_choice.id if options.tool_choice else None, "The tool choice")
    _check_bytes(message, limits.max_message_bytes, "The message")


def _check_params(request: Any, forward: Forward, limits: Limits) -> None:
    """The bounds of the other requests' parameters; the item ids to check."""
    params = request.params
    match request:
        case ItemsFeedbackReq():
            count = len(params.item_ids)
            _check_count(count, limits.max_feedback_items, "item ids in a feedback request")
            params.item_ids = _distinct(params.item_ids)
            forward.item_ids.extend(params.item_ids)
        case ThreadsRetryAfterItemReq():
            forward.item_ids.append(params.item_id)
        case ThreadsAddStructuredInputReq():
            _check_bytes(params.input, limits.max_message_bytes, "The structured input")
            forward.item_ids.append(params.item_id)
        case ThreadsCustomActionReq() | ThreadsSyncCustomActionReq():
            _check_bytes(params.action, limits.max_message_bytes, "The action")
            if params.item_id is not None:
                forward.item_ids.append(params.item_id)
        case ThreadsAddClientToolOutputReq():
            _check_bytes(params.result, limits.max_message_bytes, "The client tool's result")
        case ThreadsUpdateReq():
            if len(params.title) > limits.max_title_chars:
                raise TooLarge(f"Titles are limited to {limits.max_title_chars} characters.")
        case AttachmentsDeleteReq():
            forward.attachment_ids.append(params.attachment_id)
        case AttachmentsCreateReq():
            check_name(params.name)
            check_attachment(params.mime_type, params.size, limits)
        case InputTranscribeReq():
            check_audio(params.audio_base64, params.mime_type, limits)


def check_name(name: str | None) -> None:
    """413 for an attachment file name longer than `MAX_NAME_CHARS`."""
    if name is not None and len(name) > MAX_NAME_CHARS:
        raise TooLarge(f"File names are limited to {MAX_NAME_CHARS} characters.")


def check_attachment(mime_type: str, size: int | None, limits: Limits) -> None:
    """415 for a MIME type outside the allow-list, 413 above the size limit."""
    if len(mime_type) > MAX_NAME_CHARS:
        raise TooLarge(f"MIME types are limited to {MAX_NAME_CHARS} characters.")
    base = mime_type.split(";", 1)[0].strip().lower()
    if base not in limits.attachment_mime_types:
        raise UnsupportedMedia(
            f"Attachments of type {base or '(none)'!r} are not accepted.",
            details=[{"accepted": sorted(limits.attachment_mime_types)}],
        )
    if size is not None and size > limits.attachment_max_bytes:
        raise TooLarge(f"Attachments are limited to {limits.attachment_max_bytes} bytes.")


def check_audio(audio_base64: str, mime_type: str, limits: Limits) -> None:
    """413 for dictated audio above its limit, told from the base64 text (not decoded here:
    the chat service decodes and checks it), or a MIME type longer than `MAX_NAME_CHARS`."""
    if len(mime_type) > MAX_NAME_CHARS:
        raise TooLarge(f"MIME types are limited to {MAX_NAME_CHARS} characters.")
    size = len(audio_base64) // 4 * 3 - audio_base64[-2:].count("=")
    if size > limits.max_audio_bytes:
        raise TooLarge(f"Dictated audio is limited to {limits.max_audio_bytes} bytes.")


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


def _check_count(count: int, limit: int, what: str) -> None:
    if count > limit:
        raise ContractMismatch(
            f"At most {limit} {what} are accepted; this request has {count}.",
            details=[{"limit": limit, "count": count}],
        )


def _check_field(value: str | None, what: str) -> None:
    if value is not None and len(value) > MAX_ID_LENGTH:
        raise TooLarge(f"{what} is longer than {MAX_ID_LENGTH} characters.")


def _check_bytes(value: Any, limit: int, what: str) -> None:
    """`value` serialized to JSON (as it is forwarded and stored) within `limit` bytes."""
    if len(pydantic_core.to_json(value)) > limit:
        raise TooLarge(f"{what} is larger than {limit} bytes serialized.")


def _distinct(ids: list[str]) -> list[str]:
    return list(dict.fromkeys(ids))


def _check_selected(text: str | None) -> None:
    if text is not None and len(text) > MAX_SELECTED_TEXT:
        raise TooLarge(f"The selected text is longer than {MAX_SELECTED_TEXT} characters.")
