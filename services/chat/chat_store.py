"""`ChatStore`: the store as one reply uses it.

Wraps any ChatKit store (the service's `HttpStore`) for the duration of a request:

- keyed submissions get their duplicate-safe ids (`idempotency.py`);
- a sources card is written behind: its write overlaps the answer instead of delaying
  the first token, and every later store call waits for it first, so the thread
  keeps its order and a failed write still fails the stream;
- the newest-items page a reply has just read is reused for the SDK's own look at the
  last two items, until anything is written to that thread.
"""

from __future__ import annotations

import asyncio
from typing import Any

from chatkit.store import Store, StoreItemType
from chatkit.types import Attachment, Page, ThreadItem, ThreadMetadata, WidgetItem

from services.chat.context import RequestContext


class ChatStore(Store[RequestContext]):
    """Delegates to `inner`; see the module docstring for what it adds."""

    def __init__(self, inner: Store[Any]) -> None:
        self.inner = inner

    # -- ids -------------------------------------------------------------------

    def generate_thread_id(self, context: RequestContext) -> str:
        if context.thread_id_override:
            thread_id, context.thread_id_override = context.thread_id_override, None
            return thread_id
        return self.inner.generate_thread_id(context)

    def generate_item_id(
        self, item_type: StoreItemType, thread: ThreadMetadata, context: RequestContext
    ) -> str:
        # The first message id of a keyed submission is the user message's.
        if item_type == "message" and context.message_id_override:
            item_id, context.message_id_override = context.message_id_override, None
            return item_id
        return self.inner.generate_item_id(item_type, thread, context)

    # -- write-behind and the read cache -------------------------------------------

    async def drain(self, context: RequestContext) -> None:
        """Wait for writes still in flight (raises the first one's error)."""
        pending = context.pending_writes
        if pending is not None:
            context.pending_writes = None
            await pending

    def prime(
        self,
        context: RequestContext,
        thread_id: str,
        newest_first: list[ThreadItem],
        complete: bool,
    ) -> None:
        """Remember the newest items of `thread_id` just read (all of them if `complete`)."""
        context.newest_items = (thread_id, list(newest_first), complete)

    async def _before(self, context: RequestContext, thread_id: str | None = None) -> None:
        await self.drain(context)
        if thread_id is not None and context.newest_items and context.newest_items[0] == thread_id:
            context.newest_items = None

    async def add_thread_item(
        self, thread_id: str, item: ThreadItem, context: RequestContext
    ) -> None:
        if isinstance(item, WidgetItem):
            previous = context.pending_writes
            context.newest_items = None

            async def write() -> None:
                if previous is not None:
                    await previous
                await self.inner.add_thread_item(thread_id, item, context)

            task = asyncio.ensure_future(write())
            task.add_done_callback(_retrieve)  # an abandoned failure is not "never retrieved"
            context.pending_writes = task
            return
        await self._before(context, thread_id)
        await self.inner.add_thread_item(thread_id, item, context)

    async def load_thread_items(
        self, thread_id: str, after: str | None, limit: int, order: str, context: RequestContext
    ) -> Page[ThreadItem]:
        await self.drain(context)
        cached = context.newest_items
        if after is None and order == "desc" and cached and cached[0] == thread_id:
            _, newest, complete = cached
            if limit <= len(newest) or complete:
                page = newest[:limit]
                return Page(data=page, has_more=len(newest) > limit or not complete)
        return await self.inner.load_thread_items(thread_id, after, limit, order, context)

    # -- the rest: plain delegation after pending writes -------------------------------

    async def load_thread(self, thread_id: str, context: RequestContext) -> ThreadMetadata:
        await self.drain(context)
        return await self.inner.load_thread(thread_id, context)

    async def save_thread(self, thread: ThreadMetadata, context: RequestContext) -> None:
        await self.drain(context)
        await self.inner.save_thread(thread, context)

    async def save_attachment(self, attachment: Attachment, context: RequestContext) -> None:
        await self.drain(context)
        await self.inner.save_attachment(attachment, context)

    async def load_attachment(self, attachment_id: str, context: RequestContext) -> Attachment:
        await self.drain(context)
        return await self.inner.load_attachment(attachment_id, context)

    async def delete_attachment(self, attachment_id: str, context: RequestContext) -> None:
        await self.drain(context)
        await self.inner.delete_attachment(attachment_id, context)

    async def load_threads(
        self, limit: int, after: str | None, order: str, context: RequestContext
    ) -> Page[ThreadMetadata]:
        await self.drain(context)
        return await self.inner.load_threads(limit, after, order, context)

    async def save_item(self, thread_id: str, item: ThreadItem, context: RequestContext) -> None:
        await self._before(context, thread_id)
        await self.inner.save_item(thread_id, item, context)

    async def load_item(self, thread_id: str, item_id: str, context: RequestContext) -> ThreadItem:
        await self.drain(context)
        return await self.inner.load_item(thread_id, item_id, context)

    async def delete_thread(self, thread_id: str, context: RequestContext) -> None:
        await self._before(context, thread_id)
        await self.inner.delete_thread(thread_id, context)

    async def delete_thread_item(
        self, thread_id: str, item_id: str, context: RequestContext
    ) -> None:
        await self._before(context, thread_id)
        await self.inner.delete_thread_item(thread_id, item_id, context)


def _retrieve(task: asyncio.Future[None]) -> None:
    if not task.cancelled():
        task.exception()
