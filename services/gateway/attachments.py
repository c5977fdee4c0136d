"""Attachment uploads for ChatKit's two strategies, and owner-only downloads.

- direct: `POST /attachments` (multipart, field `file`) creates the metadata and
  stores the bytes, answering with the ChatKit `Attachment` JSON.
- two-phase: `attachments.create` goes to the chat service, which saves metadata
  whose `upload_descriptor` points at `POST|PUT /attachments/{id}/upload` here;
  the browser sends the bytes there (multipart `file`, or the raw body).
- `GET /attachments/{id}/content` serves the bytes, to their owner only.

Bytes are checked for size, allowed MIME type, and that they look like that type
(magic numbers, UTF-8 for text) before they reach the store.
"""

from __future__ import annotations

import uuid

from chatkit.types import Attachment, FileAttachment, ImageAttachment
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from services.gateway.errors import (
    AlreadyUploaded,
    MalformedRequest,
    NotFound,
    TooLarge,
    UnsupportedMedia,
)
from services.gateway.rewrite import Limits, check_attachment
from services.gateway.store_client import StoreClient

_MAGIC: dict[str, tuple[bytes, ...]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "application/pdf": (b"%PDF-",),
}


def looks_like(mime_type: str, data: bytes) -> bool:
    """Whether `data` plausibly is of `mime_type` (types without a rule pass)."""
    if mime_type in _MAGIC:
        return data.startswith(_MAGIC[mime_type])
    if mime_type == "image/webp":
        return data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    if mime_type.startswith("text/"):
        if b"\x00" in data:
            return False
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return False
    return True


def attachment_json(attachment: Attachment) -> Response:
    """The attachment as ChatKit serializes it to clients (no integration metadata)."""
    body = attachment.model_dump_json(exclude_none=True, context={"exclude_metadata": True})
    return Response(body, media_type="application/json")


def _base(mime_type: str) -> str:
    return mime_type.split(";", 1)[0].strip().lower()


class Uploads:
    """The upload and download handlers, bound to a store client and the limits."""

    def __init__(self, store: StoreClient, limits: Limits, public_url: str | None) -> None:
        self.store = store
        self.limits = limits
        self.public_url = public_url.rstrip("/") if public_url else None

    def base_url(self, request: Request) -> str:
        """The gateway's public base URL (configured, else as this request reached it)."""
        return self.public_url or str(request.base_url).rstrip("/")

    async def _read_upload(self, request: Request) -> tuple[bytes, str | None, str | None]:
        """Bytes, declared type and file name, from a multipart `file` field or the raw body."""
        limit = self.limits.attachment_max_bytes
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("multipart/form-data"):
            async with request.form(max_files=1, max_fields=8) as form:
                upload = form.get("file")
                if not isinstance(upload, UploadFile):
                    raise MalformedRequest("The multipart body has no `file` field.")
                if upload.size is not None and upload.size > limit:
                    raise TooLarge(f"Attachments are limited to {limit} bytes.")
                data = await upload.read(limit + 1)
                declared = upload.content_type
                name = upload.filename
        else:
            chunks, total = [], 0
            async for chunk in request.stream():
                total += len(chunk)
                if total > limit:
                    raise TooLarge(f"Attachments are limited to {limit} bytes.")
                chunks.append(chunk)
            data, declared, name = b"".join(chunks), content_type or None, None
        if len(data) > limit:
            raise TooLarge(f"Attachments are limited to {limit} bytes.")
        if not data:
            raise MalformedRequest("The upload is empty.")
        return data, declared, name

    def _check(self, mime_type: str, data: bytes) -> None:
        check_attachment(mime_type, len(data), self.limits)
        if not looks_like(_base(mime_type), data):
            raise UnsupportedMedia(f"The uploaded bytes are not a valid {_base(mime_type)} file.")

    async def direct(self, request: Request, user_id: str) -> Response:
        """Direct strategy: metadata and bytes in one multipart request."""
        data, declared, name = await self._read_upload(request)
        mime_type = _base(declared or "")
        self._check(mime_type, data)
        attachment_id = f"atc_{uuid.uuid4().hex}"
        attachment: Attachment
        if mime_type.startswith("image/"):
            preview = f"{self.base_url(request)}/attachments/{attachment_id}/content"
            attachment = ImageAttachment(
                id=attachment_id,
                name=name or attachment_id,
                mime_type=mime_type,
                preview_url=preview,
            )
        else:
            attachment = FileAttachment(
                id=attachment_id, name=name or attachment_id, mime_type=mime_type
            )
        await self.store.save_attachment(user_id, attachment)
        try:
            await self.store.put_content(user_id, attachment_id, data, mime_type)
        except BaseException:
            await self.store.delete_attachment(user_id, attachment_id)
            raise
        return attachment_json(attachment)

    async def two_phase(self, request: Request, user_id: str, attachment_id: str) -> Response:
        """Second phase: the bytes of an attachment the chat service created."""
        attachment = await self.store.load_attachment(user_id, attachment_id)
        if attachment is None:
            raise NotFound("No such attachment.")
        if attachment.upload_descriptor is None:
            raise AlreadyUploaded("This attachment has already been uploaded.")
        data, _declared, _name = await self._read_upload(request)
        self._check(attachment.mime_type, data)
        await self.store.put_content(user_id, attachment_id, data, _base(attachment.mime_type))
        uploaded = attachment.model_copy(update={"upload_descriptor": None})
        await self.store.save_attachment(user_id, uploaded)
        return attachment_json(uploaded)

    async def content(self, user_id: str, attachment_id: str) -> Response:
        """The bytes, to their owner only, never interpreted by the browser as a page."""
        found = await self.store.get_content(user_id, attachment_id)
        if found is None:
            raise NotFound("No such attachment.")
        data, content_type = found
        disposition = "inline" if content_type.startswith("image/") else "attachment"
        return Response(
            data,
            media_type=content_type,
            headers={
                "content-disposition": disposition,
                "x-content-type-options": "nosniff",
                "content-security-policy": "default-src 'none'; sandbox",
                "cache-control": "private, max-age=3600",
            },
        )
