"""The gateway's calls to the store service: ownership checks and attachment bytes.

Every call names the user in `X-User-ID`; the store answers 404 for anything the
user does not own, which the gateway passes on as 404. Failures raise
`shared.http.UpstreamError`s (the gateway's error table maps them).
"""

from __future__ import annotations

import logging

from chatkit.types import Attachment
from pydantic import ValidationError

from services.gateway.errors import NotFound, QuotaExceeded, TooLarge
from shared.assertions import AssertionSigner, user_headers
from shared.contracts.store import AttachmentBody, Owned, OwnershipQuery
from shared.http import Answer, NotASegment, ServiceHttp, UpstreamUnavailable, segment

logger = logging.getLogger(__name__)

NOT_YOURS = (400, 404, 422)
"""What the store answers for an id the user does not own, does not exist, or is malformed."""


def _seg(value: str) -> str:
    """`value` as one path segment; an id that cannot be one names no record."""
    try:
        return segment(value)
    except NotASegment as exc:
        raise NotFound(str(exc)) from None


class StoreClient:
    """Thin async client of the store service's REST API."""

    def __init__(self, client: ServiceHttp, signer: AssertionSigner | None = None) -> None:
        """`signer` asserts the user of each call, when the gateway signs assertions."""
        self.client = client
        self.signer = signer

    async def _call(
        self,
        method: str,
        path: str,
        user_id: str,
        *,
        content: bytes | None = None,
        content_type: str | None = None,
        expect: tuple[int, ...] = (),
    ) -> Answer:
        headers = user_headers(user_id, self.signer)
        if content_type:
            headers["content-type"] = content_type
        return await self.client.request(method, path, body=content, headers=headers, expect=expect)

    async def owned(self, user_id: str, query: OwnershipQuery) -> Owned:
        """Which of the ids in `query` belong to `user_id`, in one call."""
        response = await self._call(
            "POST",
            "/v1/owned",
            user_id,
            content=query.model_dump_json().encode(),
            content_type="application/json",
        )
        try:
            return Owned.model_validate_json(response.content)
        except ValidationError as exc:
            raise UpstreamUnavailable("store", f"malformed ownership answer: {exc}") from None

    async def load_attachment(self, user_id: str, attachment_id: str) -> Attachment | None:
        """The user's attachment metadata, or None when it is not theirs or does not exist."""
        response = await self._call(
            "GET", f"/v1/attachments/{_seg(attachment_id)}", user_id, expect=NOT_YOURS
        )
        if response.status in NOT_YOURS:
            return None
        return AttachmentBody.model_validate_json(response.content).attachment

    async def save_attachment(self, user_id: str, attachment: Attachment) -> None:
        """Create or replace attachment metadata."""
        body = AttachmentBody(attachment=attachment).model_dump_json().encode()
        response = await self._call(
            "PUT",
            f"/v1/attachments/{_seg(attachment.id)}",
            user_id,
            content=body,
            content_type="application/json",
            expect=(413,),
        )
        if response.status == 413:
            raise TooLarge(response.error_message())

    async def delete_attachment(self, user_id: str, attachment_id: str) -> None:
        """Drop attachment metadata (and, on the store side, its bytes)."""
        await self._call("DELETE", f"/v1/attachments/{_seg(attachment_id)}", user_id, expect=(404,))

    async def put_content(
        self, user_id: str, attachment_id: str, data: bytes, content_type: str
    ) -> None:
        """Store the attachment's bytes (its metadata must exist); `QuotaExceeded` when the
        user's attachments would outgrow their quota."""
        response = await self._call(
            "PUT",
            f"/v1/attachments/{_seg(attachment_id)}/content",
            user_id,
            content=data,
            content_type=content_type,
            expect=(403, 404, 413),
        )
        if response.status == 404:
            raise NotFound("No such attachment.")
        if response.status == 403:
            raise QuotaExceeded(response.error_message())
        if response.status == 413:
            raise TooLarge("The attachment is larger than the store accepts.")

    async def get_content(self, user_id: str, attachment_id: str) -> tuple[bytes, str] | None:
        """The attachment's bytes and content type, or None when not the user's."""
        response = await self._call(
            "GET", f"/v1/attachments/{_seg(attachment_id)}/content", user_id, expect=NOT_YOURS
        )
        if response.status in NOT_YOURS:
            return None
        return response.content, response.header("content-type", "application/octet-stream")
