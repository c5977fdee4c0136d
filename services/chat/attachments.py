"""ChatKit's two-phase upload: attachment records whose bytes the browser sends to the gateway.

The gateway names its own public URL in the `X-Gateway-URL` header of every call;
the upload and preview links point there, where owner, size and type are checked
before the bytes reach the store.
"""

from __future__ import annotations

from chatkit.store import AttachmentStore, default_generate_id
from chatkit.types import (
    Attachment,
    AttachmentCreateParams,
    AttachmentUploadDescriptor,
    FileAttachment,
    ImageAttachment,
)
from pydantic import AnyUrl

from services.chat.context import RequestContext
from services.chat.errors import AttachmentsUnavailable


class GatewayAttachmentStore(AttachmentStore[RequestContext]):
    """Creates attachment records for two-phase uploads through the gateway."""

    async def create_attachment(
        self, input: AttachmentCreateParams, context: RequestContext
    ) -> Attachment:
        """A record with an upload descriptor; the SDK saves it to the store."""
        if not context.gateway_url:
            raise AttachmentsUnavailable(
                "Uploads go through the gateway: this call carried no X-Gateway-URL."
            )
        attachment_id = self.generate_attachment_id(input.mime_type, context)
        base = f"{context.gateway_url.rstrip('/')}/attachments/{attachment_id}"
        upload = AttachmentUploadDescriptor(url=AnyUrl(f"{base}/upload"), method="POST")
        if input.mime_type.startswith("image/"):
            return ImageAttachment(
                id=attachment_id,
                name=input.name,
                mime_type=input.mime_type,
                upload_descriptor=upload,
                preview_url=AnyUrl(f"{base}/content"),
            )
        return FileAttachment(
            id=attachment_id, name=input.name, mime_type=input.mime_type, upload_descriptor=upload
        )

    async def delete_attachment(self, attachment_id: str, context: RequestContext) -> None:
        # The SDK deletes the record from the store next; the bytes go with it (cascade).
        return None

    def generate_attachment_id(self, mime_type: str, context: RequestContext) -> str:
        return default_generate_id("attachment")
