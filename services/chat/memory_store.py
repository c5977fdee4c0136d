"""`MemoryStore`: a complete ChatKit store in process memory, per user.

The service itself always uses the store service (`HttpStore`); this one backs the
single-process benchmark baseline (`bench/monolith`) and unit tests that need a
store without PostgreSQL. Same contract as `HttpStore` (`tests/contract/test_chat_to_store.py`
runs on both): items keep their insertion order, `save_item` replaces in place, another
user's data is not found, and the items of a thread the user does not have are an empty page.
It answers the store's ownership query (`owned`) as the store service does.
"""

from __future__ import annotations

from typing import Any

from chatkit.store import NotFoundError, Store
from chatkit.types import Attachment, Page, Thread, ThreadItem, ThreadMetadata

from services.chat.store_client import user_id_of
from shared.contracts.store import Owned, OwnershipQuery


class MemoryStore(Store[Any]):
    """Threads, items and attachments in dictionaries."""

    def __init__(self) -> None:
        self.threads: dict[tuple[str, str], ThreadMetadata] = {}
        self.items: dict[tuple[str, str], dict[str, ThreadItem]] = {}
        self.attachments: dict[tuple[str, str], Attachment] = {}

    def _items(self, thread_id: str, context: Any) -> dict[str, ThreadItem]:
        key = (user_id_of(context), thread_id)
        if key not in self.threads:
            raise NotFoundError(f"Thread {thread_id} not found.")
        return self.items.setdefault(key, {})

    async def load_thread(self, thread_id: str, context: Any) -> ThreadMetadata:
        try:
            thread = self.threads[(user_id_of(context), thread_id)]
        except KeyError:
            raise NotFoundError(f"Thread {thread_id} not found.") from None
        return thread.model_copy(deep=True)

    async def save_thread(self, thread: ThreadMetadata, context: Any) -> None:
        if isinstance(thread, Thread):
            thread = ThreadMetadata.model_validate(thread.model_dump(exclude={"items"}))
        self.threads[(user_id_of(context), thread.id)] = thread.model_copy(deep=True)

    async def load_threads(
        self, limit: int, after: str | None, order: str, context: Any
    ) -> Page[ThreadMetadata]:
        user = user_id_of(context)
        mine = sorted(
            (t for (u, _), t in self.threads.items() if u == user), key=lambda t: t.created_at
        )
        if order == "desc":
            mine.reverse()
        return _page([t.model_copy(deep=True) for t in mine], after, limit)

    async def delete_thread(self, thread_id: str, context: Any) -> None:
        key = (user_id_of(context), thread_id)
        self.threads.pop(key, None)
        self.items.pop(key, None)

    async def load_thread_items(
        self, thread_id: str, after: str | None, limit: int, order: str, context: Any
    ) -> Page[ThreadItem]:
        items = list(self.items.get((user_id_of(context), thread_id), {}).values())
        if order == "desc":
            items.reverse()
        if after is not None and all(i.id != after for i in items):
            raise NotFoundError(f"Item {after} not found.")
        return _page([i.model_copy(deep=True) for i in items], after, limit)

    async def add_thread_item(self, thread_id: str, item: ThreadItem, context: Any) -> None:
        items = self._items(thread_id, context)
        if item.id not in items:
            items[item.id] = item.model_copy(deep=True)

    async def save_item(self, thread_id: str, item: ThreadItem, context: Any) -> None:
        self._items(thread_id, context)[item.id] = item.model_copy(deep=True)

    async def load_item(self, thread_id: str, item_id: str, context: Any) -> ThreadItem:
        try:
            return self._items(thread_id, context)[item_id].model_copy(deep=True)
        except KeyError:
            raise NotFoundError(f"Item {item_id} not found.") from None

    async def delete_thread_item(self, thread_id: str, item_id: str, context: Any) -> None:
        self.items.get((user_id_of(context), thread_id), {}).pop(item_id, None)

    async def owned(self, query: OwnershipQuery, context: Any) -> Owned:
        user = user_id_of(context)
        items: list[str] = []
        if query.items is not None:
            mine = self.items.get((user, query.items.thread_id), {})
            items = [i for i in dict.fromkeys(query.items.item_ids) if i in mine]
        return Owned(
            thread_ids=[t for t in dict.fromkeys(query.thread_ids) if (user, t) in self.threads],
            attachment_ids=[
                a for a in dict.fromkeys(query.attachment_ids) if (user, a) in self.attachments
            ],
            item_ids=items,
        )

    async def save_attachment(self, attachment: Attachment, context: Any) -> None:
        self.attachments[(user_id_of(context), attachment.id)] = attachment.model_copy(deep=True)

    async def load_attachment(self, attachment_id: str, context: Any) -> Attachment:
        try:
            return self.attachments[(user_id_of(context), attachment_id)].model_copy(deep=True)
        except KeyError:
            raise NotFoundError(f"Attachment {attachment_id} not found.") from None

    async def delete_attachment(self, attachment_id: str, context: Any) -> None:
        self.attachments.pop((user_id_of(context), attachment_id), None)


def _page(rows: list[Any], after: str | None, limit: int) -> Page[Any]:
    start = 0
    if after is not None:
        start = next((n + 1 for n, row in enumerate(rows) if row.id == after), len(rows))
    chunk = rows[start : start + limit]
    has_more = start + limit < len(rows)
    return Page(data=chunk, has_more=has_more, after=chunk[-1].id if has_more and chunk else None)
