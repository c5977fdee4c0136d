"""Contract of the store service: ChatKit threads, items and attachments per user.

Every call carries the owner in the `X-User-ID` header. Bodies wrap the ChatKit
model whole, so the store keeps exactly what the SDK produced.
"""

from __future__ import annotations

from typing import Literal

from chatkit.types import Attachment, Page, ThreadItem, ThreadMetadata
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from shared.contracts.common import Id

MAX_PAGE_SIZE = 200
"""Largest page the store returns."""
MAX_OWNED_IDS = 100
"""Most ids of each kind one ownership query may name (callers cap their own lists below it)."""


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


class ThreadItemIds(_Contract):
    """Items of one thread, by id."""

    thread_id: Id
    """The thread the items belong to."""
    item_ids: list[Id] = Field(max_length=MAX_OWNED_IDS)
    """The item ids."""


class OwnershipQuery(_Contract):
    """Body of `POST /v1/owned`: ids to check in one query, before work is done on them."""

    thread_ids: list[Id] = Field(default_factory=list, max_length=MAX_OWNED_IDS)
    """Threads."""
    attachment_ids: list[Id] = Field(default_factory=list, max_length=MAX_OWNED_IDS)
    """Attachments (metadata records)."""
    items: ThreadItemIds | None = None
    """Items of one thread."""


class Owned(_Contract):
    """Which of the asked ids exist for the user: each once, in no particular order."""

    thread_ids: list[str]
    """The asked threads the user has."""
    attachment_ids: list[str]
    """The asked attachments the user has."""
    item_ids: list[str]
    """The asked items of the asked thread, when the user has that thread."""


ThreadPage = Page[ThreadMetadata]
"""A page of threads: `data`, `has_more` and the `after` cursor for the next page."""

ItemPage = Page[ThreadItem]
"""A page of thread items: `data`, `has_more` and the `after` cursor for the next page."""

ENVELOPE_BYTES = 16 * 1024
"""Room for what an answer adds around the stored JSON: a page's brackets, commas and
cursor (an id of 255 characters, JSON-escaped), a record's wrapper, an error envelope."""
QUOTA_EXCEEDED = "quota_exceeded"
"""The error code of the store's 403: the user keeps as many threads, items in a thread or
attachment bytes as they may. Deleting some makes room; retrying alone does not."""


class StoreLimits(BaseModel):
    """How large what the store keeps may be. The store refuses more (413); its callers
    bound the answers they read by the same numbers, so every service reads them from
    the same variables (set them alike for store, chat and gateway)."""

    model_config = ConfigDict(use_attribute_docstrings=True, populate_by_name=True)

    store_max_item_bytes: int = Field(
        default=256 * 1024, ge=1024, validation_alias=AliasChoices("STORE_MAX_ITEM_BYTES")
    )
    """Largest thread item the store keeps, as the JSON it serves (413 above). Like the two
    below, read by store, chat and gateway alike: chat and gateway bound their reads by it."""
    store_max_metadata_bytes: int = Field(
        default=64 * 1024, ge=1024, validation_alias=AliasChoices("STORE_MAX_METADATA_BYTES")
    )
    """Largest thread or attachment metadata the store keeps, as the JSON it serves (413 above)."""
    store_max_page_bytes: int = Field(
        default=1024 * 1024, ge=1024, validation_alias=AliasChoices("STORE_MAX_PAGE_BYTES")
    )
    """Most bytes of stored JSON in one page of items or threads; a page stops short of its
    `limit` there (`has_more` leads on), but always holds one record."""

    @model_validator(mode="after")
    def _page_holds_a_record(self) -> StoreLimits:
        if self.store_max_page_bytes < max(
            self.store_max_item_bytes, self.store_max_metadata_bytes
        ):
            raise ValueError(
                "STORE_MAX_PAGE_BYTES must be at least STORE_MAX_ITEM_BYTES and "
                "STORE_MAX_METADATA_BYTES: a page always holds one record."
            )
        return self

    @property
    def store_answer_bytes(self) -> int:
        """The largest answer of the store about threads and items: a full page."""
        return self.store_max_page_bytes + ENVELOPE_BYTES

    @property
    def chat_answer_bytes(self) -> int:
        """The largest JSON answer of the chat service: a thread with a page of its items
        (`threads.get_by_id`), or a page of threads or items."""
        return self.store_max_page_bytes + self.store_max_metadata_bytes + ENVELOPE_BYTES
