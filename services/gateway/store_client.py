"""The gateway's calls to the store service: ownership checks and attachment bytes.

Every call names the user in `X-User-ID`; the store answers 404 for anything the
user does not own, which the gateway passes on as 404.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from chatkit.types import Attachment

from shared.contracts.common import USER_ID_HEADER
from shared.contracts.store import AttachmentBody
from shared.errors import ApiError
from shared.http import Answer, ServiceHttp
from shared.http1 import UpstreamError, UpstreamTimeout

logger = logging.getLogger(__name__)


def _seg(value: str) -> str:
    return quote(value, safe="")


class StoreClient:
    """Thin async client of the store service's REST API."""

    def __init__(self, client: ServiceHttp) -> None:
        self.client = client

    async def _call(
        self,
        method: str,
        path: str,
        user_id: str,
        *,
        content: bytes | None = None,
        content_type: str | None = None,
    ) -> Answer:
        headers = {USER_ID_HEADER: user_id}
        if content_type:
            headers["content-type"] = content_type
        try:
            response = await self.client.request(method, path, body=content, headers=headers)
        except UpstreamTimeout:
            raise ApiError(504, "The store service did not answer in time.") from None
        except UpstreamError as exc:
            logger.warning("store service unreachable: %r", exc)
            raise ApiError(503, "The store service is unavailable; retry shortly.") from None
        if response.status >= 500:
            logger.warning("store answered %s on %s %s", response.status, method, path)
            raise ApiError(502, "The store service failed to answer.")
        return response

    async def thread_exists(self, user_id: str, thread_id: str) -> bool:
        """Whether `thread_id` exists and belongs to `user_id`."""
        response = await self._call("GET", f"/v1/threads/{_seg(thread_id)}", user_id)
        if response.status in (400, 404, 422):
            return False
        _raise_for(response)
        return True

    async def load_attachment(self, user_id: str, attachment_id: str) -> Attachment | None:
        """The user's attachment metadata, or None when it is not theirs or does not exist."""
        response = await self._call("GET", f"/v1/attachments/{_seg(attachment_id)}", user_id)
        if response.status in (400, 404, 422):
            return None
        _raise_for(response)
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
        )
        _raise_for(response)

    async def delete_attachment(self, user_id: str, attachment_id: str) -> None:
        """Drop attachment metadata (and, on the store side, its bytes)."""
        response = await self._call("DELETE", f"/v1/attachments/{_seg(attachment_id)}", user_id)
        if response.status != 404:
            _raise_for(response)

    async def put_content(
        self, user_id: str, attachment_id: str, data: bytes, content_type: str
    ) -> None:
        """Store the attachment's bytes (its metadata must exist)."""
        response = await self._call(
            "PUT",
            f"/v1/attachments/{_seg(attachment_id)}/content",
            user_id,
            content=data,
            content_type=content_type,
        )
        if response.status == 404:
            raise ApiError(404, "No such attachment.")
        if response.status == 413:
            raise ApiError(413, "The attachment is larger than the store accepts.")
        _raise_for(response)

    async def get_content(self, user_id: str, attachment_id: str) -> tuple[bytes, str] | None:
        """The attachment's bytes and content type, or None when not the user's."""
        response = await self._call(
            "GET", f"/v1/attachments/{_seg(attachment_id)}/content", user_id
        )
        if response.status in (400, 404, 422):
            return None
        _raise_for(response)
        return response.content, response.header("content-type", "application/octet-stream")


def _raise_for(response: Answer) -> None:
    if response.status >= 400:
        logger.warning("store refused: %s %s", response.status, response.error_message())
        raise ApiError(502, f"The store service refused the request ({response.status}).")
