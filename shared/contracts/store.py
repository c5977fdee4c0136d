"""Contract of the store service: ChatKit threads, items and attachments per user.

Every call carries the owner in the `X-User-ID` header. Bodies wrap the ChatKit
model whole, so the store keeps exactly what the SDK produced.
"""

from __future__ import annotations

from typing import Literal

from chatkit.types import Attachment, Page, ThreadItem, ThreadMetadata
from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.common import Id

MAX_PAGE_SIZE = 200
"""Largest page the store returns."""


class _Contract(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PageQuery(_Contract):
    """Query parameters of every paged listing."""

    limit: int = Field(default=20, ge=1, le=MAX_PAGE_SIZE)
    """Most records to return."""
    after: Id | None = None
    """Id of the last record of the previous page; the page starts after it."""
    order: Literal["asc", "desc"] = "asc"
    """Sort by creation order, oldest first (`asc`) or newest first (`desc`)."""


class ThreadBody(_Contract):
    """A thread's metadata, as sent to or returned by the store."""

    thread: ThreadMetadata
    """The ChatKit thread metadata, stored whole."""


class ItemBody(_Contract):
    """One thread item, as sent to or returned by the store."""

    item: ThreadItem
    """The ChatKit thread item, stored whole; its `thread_id` must match the path."""


class AttachmentBody(_Contract):
    """One attachment's metadata, as sent to or returned by the store."""

    attachment: Attachment
    """The ChatKit attachment metadata, stored whole."""


ThreadPage = Page[ThreadMetadata]
"""A page of threads: `data`, `has_more` and the `after` cursor for the next page."""

ItemPage = Page[ThreadItem]
"""A page of thread items: `data`, `has_more` and the `after` cursor for the next page."""
