"""`ChatStore`: the store as a reply uses it.

Wraps any ChatKit store (the service's `HttpStore`) shared by every request; what it
keeps for one request is in that request's `StoreSession` (`RequestContext.session`):

- a keyed submission's new thread and user message get its duplicate-safe ids
  (`Submission.claim_thread_id` / `claim_message_id`);
- a sources card is written behind: its write overlaps the answer instead of delaying
  the first token, and every later store call waits for it first, so the thread
  keeps its order and a failed write still fails the stream;
- the newest-items page a reply has just read is reused for the SDK's own look at the
  last two items, until anything is written to that thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from chatkit.store import NotFoundError, Store, StoreItemType
from chatkit.types import Attachment, Page, ThreadItem, ThreadMetadata, WidgetItem

from services.chat.errors import ChatError
from shared.contracts.common import is_id
from shared.contracts.store import MAX_OWNED_IDS, Owned, OwnershipQuery, ThreadItemIds

if TYPE_CHECKING:
    from services.chat.context import RequestContext


def distinct_ids(ids: list[str], what: str) -> list[str]:
    """`ids` without repeats, for one ownership query (400 past `MAX_OWNED_IDS`: the gateway
    caps its requests well below it)."""
    distinct = list(dict.fromkeys(ids))
    if len(distinct) > MAX_OWNED_IDS:
        raise ChatError(f"At most {MAX_OWNED_IDS} {what} are accepted in one request.")
    return distinct


@runtime_checkable
class OwnershipStore(Protocol):
    """A store that answers the store service's ownership query in one call."""

    async def owned(self, query: OwnershipQuery, context: Any) -> Owned: ...


class StoreSession:
    """One request's state in `ChatStore`: the write in flight, the newest items read."""

    def __init__(self) -> None:
        self._pending: asyncio.Future[None] | None = None
        self._newest: tuple[str, list[ThreadItem], bool] | None = None

    def write_behind(self, write: Callable[[], Awaitable[None]]) -> None:
        """Start `write()` after the writes already in flight, without waiting for it."""
        previous = self._pending

        async def in_order() -> None:
            if previous is not None:
                await previous
            await write()

        task = asyncio.ensure_future(in_order())
        task.add_done_callback(_retrieve)  # an abandoned failure is not "never retrieved"
        self._pending = task

    async def drain(self) -> None:
        """Wait for the writes in flight (raises the first one's error)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            await pending

    def remember(self, thread_id: str, newest_first: list[ThreadItem], complete: bool) -> None:
        """The newest items of `thread_id` just read (all of them if `complete`)."""
        self._newest = (thread_id, list(newest_first), complete)

    def recall(self, thread_id: str, limit: int) -> Page[ThreadItem] | None:
        """The newest `limit` items of `thread_id` as remembered, if they are known."""
        if self._newest is None or self._newest[0] != thread_id:
            return None
        _, newest, complete = self._newest
        if limit > len(newest) and not complete:
            return None
        return Page(data=newest[:limit], has_more=len(newest) > limit or not complete)

    def forget(self, thread_id: str | None = None) -> None:
        """Drop what is remembered of `thread_id` (of any thread if None): it changes."""
        if self._newest is not None and thread_id in (None, self._newest[0]):
            self._newest = None


class ChatStore(Store["RequestContext"]):
    """Delegates to `inner`; see the module docstring for what it adds."""

    def __init__(self, inner: Store[Any]) -> None:
        self.inner = inner

    # -- ids -------------------------------------------------------------------

    def generate_thread_id(self, context: RequestContext) -> str:
        submission = context.submission
        keyed = submission.claim_thread_id() if submission is not None else None
        return keyed or self.inner.generate_thread_id(context)

    def generate_item_id(
        self, item_type: StoreItemType, thread: ThreadMetadata, context: RequestContext
    ) -> str:
        # The first message id the SDK asks for is the user message's.
        submission = context.submission
        if item_type == "message" and submission is not None:
            keyed = submission.claim_message_id()
            if keyed is not None:
                return keyed
        return self.inner.generate_item_id(item_type, thread, context)

    # -- writes: after those in flight; a card behind ----------------------------------

    async def _before_write(self, context: RequestContext, thread_id: str) -> None:
        await context.session.drain()
        context.session.forget(thread_id)

    async def add_thread_item(
        self, thread_id: str, item: ThreadItem, context: RequestContext
    ) -> None:
        if isinstance(item, WidgetItem):
            context.session.forget(thread_id)
            context.session.write_behind(
                lambda: self.inner.add_thread_item(thread_id, item, context)
            )
            return
        await self._before_write(context, thread_id)
        await self.inner.add_thread_item(thread_id, item, context)

    async def save_item(self, thread_id: str, item: ThreadItem, context: RequestContext) -> None:
        await self._before_write(context, thread_id)
        await self.inner.save_item(thread_id, item, context)

    async def delete_thread(self, thread_id: str, context: RequestContext) -> None:
        await self._before_write(context, thread_id)
        await self.inner.delete_thread(thread_id, context)

    async def delete_thread_item(
        self, thread_id: str, item_id: str, context: RequestContext
    ) -> None:
        await self._before_write(context, thread_id)
        await self.inner.delete_thread_item(thread_id, item_id, context)

    async def save_thread(self, thread: ThreadMetadata, context: RequestContext) -> None:
        await context.session.drain()
        await self.inner.save_thread(thread, context)

    async def save_attachment(self, attachment: Attachment, context: RequestContext) -> None:
        await context.session.drain()
        await self.inner.save_attachment(attachment, context)

    async def delete_attachment(self, attachment_id: str, context: RequestContext) -> None:
        await context.session.drain()
        await self.inner.delete_attachment(attachment_id, context)

    # -- reads: after the writes in flight; the newest items from memory ----------------

    async def load_thread_items(
        self, thread_id: str, after: str | None, limit: int, order: str, context: RequestContext
    ) -> Page[ThreadItem]:
        await context.session.drain()
        if after is None and order == "desc":
            remembered = context.session.recall(thread_id, limit)
            if remembered is not None:
                return remembered
        return await self.inner.load_thread_items(thread_id, after, limit, order, context)

    async def load_thread(self, thread_id: str, context: RequestContext) -> ThreadMetadata:
        await context.session.drain()
        return await self.inner.load_thread(thread_id, context)

    async def load_threads(
        self, limit: int, after: str | None, order: str, context: RequestContext
    ) -> Page[ThreadMetadata]:
        await context.session.drain()
        return await self.inner.load_threads(limit, after, order, context)

    async def load_item(self, thread_id: str, item_id: str, context: RequestContext) -> ThreadItem:
        await context.session.drain()
        return await self.inner.load_item(thread_id, item_id, context)

    async def load_attachment(self, attachment_id: str, context: RequestContext) -> Attachment:
        await context.session.drain()
        return await self.inner.load_attachment(attachment_id, context)

    # -- ownership: one call ----------------------------------------------------------

    async def missing_attachment(
        self, attachment_ids: list[str], context: RequestContext
    ) -> str | None:
        """The first of `attachment_ids` the user does not have, if any (one store call)."""
        asked = [i for i in attachment_ids if is_id(i)]
        owned: set[str] = set()
        if asked:
            query = OwnershipQuery(attachment_ids=asked)
            owned.update((await self.owned(query, context)).attachment_ids)
        return next((i for i in attachment_ids if i not in owned), None)

    async def missing_item(
        self, thread_id: str, item_ids: list[str], context: RequestContext
    ) -> str | None:
        """The first of `item_ids` not in the user's thread `thread_id`, if any (one call)."""
        asked = [i for i in item_ids if is_id(i)]
        owned: set[str] = set()
        if asked and is_id(thread_id):
            query = OwnershipQuery(items=ThreadItemIds(thread_id=thread_id, item_ids=asked))
            owned.update((await self.owned(query, context)).item_ids)
        return next((i for i in item_ids if i not in owned), None)

    async def owned(self, query: OwnershipQuery, context: RequestContext) -> Owned:
        """Which of the ids in `query` the user has: in one call when the inner store
        answers the ownership query (the service's does), else a load per id."""
        await context.session.drain()
        if isinstance(self.inner, OwnershipStore):
            return await self.inner.owned(query, context)
        items = query.items
        return Owned(
            thread_ids=[
                i for i in query.thread_ids if await _found(self.inner.load_thread(i, context))
            ],
            attachment_ids=[
                i
                for i in query.attachment_ids
                if await _found(self.inner.load_attachment(i, context))
            ],
            item_ids=[]
            if items is None
            else [
                i
                for i in items.item_ids
                if await _found(self.inner.load_item(items.thread_id, i, context))
            ],
        )


async def _found(load: Awaitable[object]) -> bool:
    try:
        await load
    except NotFoundError:
        return False
    return True


def _retrieve(task: asyncio.Future[None]) -> None:
    if not task.cancelled():
        task.exception()
