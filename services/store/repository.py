"""SQL for ChatKit persistence. Every statement is scoped by the owner's user id.

Reads return the stored JSON text untouched (the HTTP layer passes it through);
writes take validated ChatKit models. Pages use keyset pagination on the item
sequence (or thread creation time), so a page costs the same at any depth, and stop
at `store_max_page_bytes` of JSON. Sizes and quotas are enforced by the database itself
(`migrations/0003_limits.sql`); its refusals become `TooLarge` and `QuotaExceeded`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import asyncpg
from chatkit.types import Attachment, ThreadItem, ThreadMetadata
from pydantic import TypeAdapter

from services.store.database import Database
from shared.contracts.store import QUOTA_EXCEEDED, Owned, OwnershipQuery, StoreLimits
from shared.errors import DomainError

Order = Literal["asc", "desc"]
T = TypeVar("T")

_item_json: TypeAdapter[Any] = TypeAdapter(ThreadItem)
_attachment_json: TypeAdapter[Any] = TypeAdapter(Attachment)


class NotFound(DomainError):
    """The record does not exist for this user (or belongs to someone else)."""


class Conflict(DomainError):
    """An item with this id already exists with different content."""


class TooLarge(DomainError):
    """A record larger than the store keeps (`STORE_MAX_ITEM_BYTES`, `STORE_MAX_METADATA_BYTES`)."""


class QuotaExceeded(DomainError):
    """The user keeps as many threads, items in this thread or attachment bytes as they may."""

    code = QUOTA_EXCEEDED


# What the database's limit errors (SQLSTATE CK001/CK002, MESSAGE the limit's name,
# DETAIL its value) tell the caller.
_REFUSALS: dict[str, tuple[type[DomainError], str]] = {
    "max_item_bytes": (TooLarge, "A thread item may take at most {} bytes of JSON."),
    "max_metadata_bytes": (
        TooLarge,
        "Thread and attachment metadata may take at most {} bytes of JSON.",
    ),
    "max_threads_per_user": (
        QuotaExceeded,
        "You keep {} threads, the most allowed: delete one to start another.",
    ),
    "max_items_per_thread": (
        QuotaExceeded,
        "This thread holds the most items allowed ({}): start a new thread.",
    ),
    "max_attachment_bytes_per_user": (
        QuotaExceeded,
        "Your attachments take up the {} bytes allowed: delete some, or threads that hold "
        "them, to upload more.",
    ),
}


def _refusal(exc: asyncpg.PostgresError) -> DomainError | None:
    if getattr(exc, "sqlstate", None) not in ("CK001", "CK002"):
        return None
    found = _REFUSALS.get(str(getattr(exc, "message", "")))
    if found is None:
        return None
    kind, message = found
    return kind(message.format(getattr(exc, "detail", "?")))


@dataclass(frozen=True)
class JsonPage:
    """A page of stored JSON documents."""

    data: list[str]
    has_more: bool
    after: str | None


def _page(rows: list[asyncpg.Record]) -> JsonPage:
    # Only the last row can lack its data: the one after the page, which says there is more.
    taken = [r for r in rows if r["data"] is not None]
    has_more = len(taken) < len(rows)
    return JsonPage(
        data=[r["data"] for r in taken],
        has_more=has_more,
        after=taken[-1]["id"] if has_more and taken else None,
    )


def _bounded(table: str, where: str, order: str, limit: str, budget: str) -> str:
    """The rows of `table` matching `where` in `order`: at most `limit` - 1 of them, and
    no more than fit in `budget` bytes (the first always does). One row more comes
    without its data when there are more. The running sum reads only the rows the
    keyset index hands out, and PostgreSQL's `size` column, never the documents."""
    return f"""
        SELECT id, CASE WHEN n < {limit} AND (n = 1 OR total <= {budget}) THEN data END AS data
        FROM (
            SELECT id, data, size, row_number() OVER w AS n, sum(size) OVER w AS total
            FROM {table} WHERE {where}
            WINDOW w AS (ORDER BY {order} ROWS UNBOUNDED PRECEDING)
            ORDER BY {order}
            LIMIT {limit}
        ) AS page
        WHERE n = 1 OR total - size <= {budget}
        ORDER BY n"""


# One statement per order and cursor presence: the direction is a keyword, never
# interpolated input, and no `$n IS NULL OR ...` branch, which would push
# PostgreSQL's generic plan of the prepared statement off the keyset index.
_ITEMS_FIRST_PAGE = {
    order: _bounded(
        "thread_items", "user_id = $1 AND thread_id = $2", f"seq {order.upper()}", "$3", "$4"
    )
    for order in ("asc", "desc")
}
_ITEMS_PAGE_AFTER = {
    order: _bounded(
        "thread_items",
        f"""user_id = $1 AND thread_id = $2 AND seq {op} (
            SELECT seq FROM thread_items WHERE user_id = $1 AND thread_id = $2 AND id = $3)""",
        f"seq {order.upper()}",
        "$4",
        "$5",
    )
    for order, op in (("asc", ">"), ("desc", "<"))
}
_THREADS_FIRST_PAGE = {
    order: _bounded(
        "threads", "user_id = $1", f"created_at {order.upper()}, id {order.upper()}", "$2", "$3"
    )
    for order in ("asc", "desc")
}
_THREADS_PAGE_AFTER = {
    order: _bounded(
        "threads",
        f"""user_id = $1 AND (created_at, id) {op} (
            SELECT created_at, id FROM threads WHERE user_id = $1 AND id = $2)""",
        f"created_at {order.upper()}, id {order.upper()}",
        "$3",
        "$4",
    )
    for order, op in (("asc", ">"), ("desc", "<"))
}

# Bumping the thread's counter checks ownership, locks the thread row and yields
# the item's sequence number in one statement.
_ADD_ITEM = """
    WITH thread AS (
        UPDATE threads SET item_seq = item_seq + 1, updated_at = now()
        WHERE user_id = $1 AND id = $2
        RETURNING item_seq
    ), inserted AS (
        INSERT INTO thread_items (user_id, thread_id, id, seq, type, created_at, data)
        SELECT $1, $2, $3, thread.item_seq, $4, $5, $6::jsonb FROM thread
        ON CONFLICT (user_id, thread_id, id) DO NOTHING
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM thread) AS thread_found,
           EXISTS (SELECT 1 FROM inserted) AS inserted,
           (SELECT data = $6::jsonb FROM thread_items
             WHERE user_id = $1 AND thread_id = $2 AND id = $3) AS same_as_existing
"""

_SAVE_ITEM = """
    WITH thread AS (
        UPDATE threads SET item_seq = item_seq + 1, updated_at = now()
        WHERE user_id = $1 AND id = $2
        RETURNING item_seq
    )
    INSERT INTO thread_items (user_id, thread_id, id, seq, type, created_at, data)
    SELECT $1, $2, $3, thread.item_seq, $4, $5, $6::jsonb FROM thread
    ON CONFLICT (user_id, thread_id, id)
        DO UPDATE SET data = EXCLUDED.data, type = EXCLUDED.type
    RETURNING 1
"""


# One round trip for every kind; each branch is an index lookup per id.
_OWNED = """
    SELECT 'thread' AS kind, id FROM threads WHERE user_id = $1 AND id = ANY($2::text[])
    UNION ALL
    SELECT 'attachment', id FROM attachments WHERE user_id = $1 AND id = ANY($3::text[])
    UNION ALL
    SELECT 'item', id FROM thread_items
    WHERE user_id = $1 AND thread_id = $4::text AND id = ANY($5::text[])
"""


class ChatKitRepository:
    """ChatKit threads, items and attachments of every user in one database."""

    def __init__(self, db: Database, limits: StoreLimits | None = None) -> None:
        """`limits`: the page bound and the item size checked before a write is sent (the
        database enforces the sizes and quotas on its own)."""
        self.db = db
        self.limits = limits or StoreLimits()

    async def _write(self, operation: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """`db.run(operation)`, with a limit the database refused at as its domain error."""
        try:
            return await self.db.run(operation)
        except asyncpg.PostgresError as exc:
            refusal = _refusal(exc)
            if refusal is None:
                raise
            raise refusal from None

    def _item_data(self, item: ThreadItem) -> str:
        data = _item_json.dump_json(item)
        # Compact JSON is never longer than the text the database measures: refused here,
        # an item would be refused there too.
        if len(data) > self.limits.store_max_item_bytes:
            raise TooLarge(
                f"A thread item may take at most {self.limits.store_max_item_bytes} bytes."
            )
        return data.decode()

    # -- ownership -------------------------------------------------------------

    async def owned(self, user_id: str, query: OwnershipQuery) -> Owned:
        """Which of the asked ids the user has, in one statement."""
        items = query.items
        rows = await self.db.run(
            lambda c: c.fetch(
                _OWNED,
                user_id,
                query.thread_ids,
                query.attachment_ids,
                items.thread_id if items else None,
                items.item_ids if items else [],
            )
        )
        found: dict[str, list[str]] = {"thread": [], "attachment": [], "item": []}
        for row in rows:
            found[row["kind"]].append(row["id"])
        return Owned(
            thread_ids=found["thread"], attachment_ids=found["attachment"], item_ids=found["item"]
        )

    # -- threads -------------------------------------------------------------

    async def load_thread(self, user_id: str, thread_id: str) -> str:
        data = await self.db.run(
            lambda c: c.fetchval(
                "SELECT data FROM threads WHERE user_id = $1 AND id = $2", user_id, thread_id
            )
        )
        if data is None:
            raise NotFound(f"Thread {thread_id} not found.")
        return str(data)

    async def save_thread(self, user_id: str, thread: ThreadMetadata) -> None:
        await self._write(
            lambda c: c.execute(
                """INSERT INTO threads (user_id, id, created_at, data) VALUES ($1, $2, $3, $4)
                   ON CONFLICT (user_id, id)
                   DO UPDATE SET data = EXCLUDED.data, updated_at = now()""",
                user_id,
                thread.id,
                thread.created_at,
                thread.model_dump_json(),
            )
        )

    async def list_threads(
        self, user_id: str, *, limit: int, after: str | None, order: Order
    ) -> JsonPage:
        args: tuple[object, ...]
        budget = self.limits.store_max_page_bytes
        if after is None:
            sql, args = _THREADS_FIRST_PAGE[order], (user_id, limit + 1, budget)
        else:
            sql, args = _THREADS_PAGE_AFTER[order], (user_id, after, limit + 1, budget)
        rows = await self.db.run(lambda c: c.fetch(sql, *args))
        if not rows and after is not None:
            await self._require_thread(user_id, after, what="Cursor thread")
        return _page(rows)

    async def delete_thread(self, user_id: str, thread_id: str) -> None:
        """Delete a thread with its items (cascade) and the attachments sent in it (the SDK
        names the thread in an attachment when a message carries it); deleting a missing
        thread is a no-op."""
        await self.db.run(
            lambda c: c.execute(
                """WITH thread AS (DELETE FROM threads WHERE user_id = $1 AND id = $2)
                   DELETE FROM attachments WHERE user_id = $1 AND thread_id = $2""",
                user_id,
                thread_id,
            )
        )

    async def _require_thread(self, user_id: str, thread_id: str, what: str = "Thread") -> None:
        found = await self.db.run(
            lambda c: c.fetchval(
                "SELECT 1 FROM threads WHERE user_id = $1 AND id = $2", user_id, thread_id
            )
        )
        if found is None:
            raise NotFound(f"{what} {thread_id} not found.")

    # -- items ---------------------------------------------------------------

    async def list_items(
        self, user_id: str, thread_id: str, *, limit: int, after: str | None, order: Order
    ) -> JsonPage:
        args: tuple[object, ...]
        budget = self.limits.store_max_page_bytes
        if after is None:
            sql, args = _ITEMS_FIRST_PAGE[order], (user_id, thread_id, limit + 1, budget)
        else:
            sql, args = _ITEMS_PAGE_AFTER[order], (user_id, thread_id, after, limit + 1, budget)
        rows = await self.db.run(lambda c: c.fetch(sql, *args))
        if not rows:
            # Off the hot path: tell a missing thread or cursor from an empty page.
            await self._require_thread(user_id, thread_id)
            if after is not None:
                await self.load_item(user_id, thread_id, after)
        return _page(rows)

    async def add_item(self, user_id: str, thread_id: str, item: ThreadItem) -> None:
        """Append an item. Re-adding an identical item is a no-op (safe to retry), also in
        a thread that is full."""
        data = self._item_data(item)
        row = await self._write(
            lambda c: c.fetchrow(
                _ADD_ITEM, user_id, thread_id, item.id, item.type, item.created_at, data
            )
        )
        assert row is not None
        if not row["thread_found"]:
            raise NotFound(f"Thread {thread_id} not found.")
        if not row["inserted"] and not row["same_as_existing"]:
            raise Conflict(f"Item {item.id} already exists in thread {thread_id}.")

    async def save_item(self, user_id: str, thread_id: str, item: ThreadItem) -> None:
        """Insert or replace an item; a replaced item keeps its place in the thread."""
        data = self._item_data(item)
        done = await self._write(
            lambda c: c.fetchval(
                _SAVE_ITEM, user_id, thread_id, item.id, item.type, item.created_at, data
            )
        )
        if done is None:
            raise NotFound(f"Thread {thread_id} not found.")

    async def load_item(self, user_id: str, thread_id: str, item_id: str) -> str:
        data = await self.db.run(
            lambda c: c.fetchval(
                "SELECT data FROM thread_items WHERE user_id = $1 AND thread_id = $2 AND id = $3",
                user_id,
                thread_id,
                item_id,
            )
        )
        if data is None:
            raise NotFound(f"Item {item_id} not found in thread {thread_id}.")
        return str(data)

    async def delete_item(self, user_id: str, thread_id: str, item_id: str) -> None:
        """Delete one item; deleting a missing item is a no-op."""
        await self.db.run(
            lambda c: c.execute(
                "DELETE FROM thread_items WHERE user_id = $1 AND thread_id = $2 AND id = $3",
                user_id,
                thread_id,
                item_id,
            )
        )

    # -- attachments ---------------------------------------------------------

    async def save_attachment(self, user_id: str, attachment: Attachment) -> None:
        await self._write(
            lambda c: c.execute(
                """INSERT INTO attachments (user_id, id, thread_id, mime_type, data)
                   VALUES ($1, $2, $3, $4, $5)
                   ON CONFLICT (user_id, id) DO UPDATE
                   SET thread_id = EXCLUDED.thread_id, mime_type = EXCLUDED.mime_type,
                       data = EXCLUDED.data""",
                user_id,
                attachment.id,
                attachment.thread_id,
                attachment.mime_type,
                _attachment_json.dump_json(attachment).decode(),
            )
        )

    async def load_attachment(self, user_id: str, attachment_id: str) -> str:
        data = await self.db.run(
            lambda c: c.fetchval(
                "SELECT data FROM attachments WHERE user_id = $1 AND id = $2",
                user_id,
                attachment_id,
            )
        )
        if data is None:
            raise NotFound(f"Attachment {attachment_id} not found.")
        return str(data)

    async def delete_attachment(self, user_id: str, attachment_id: str) -> None:
        """Delete attachment metadata; deleting a missing attachment is a no-op."""
        await self.db.run(
            lambda c: c.execute(
                "DELETE FROM attachments WHERE user_id = $1 AND id = $2", user_id, attachment_id
            )
        )

    async def delete_unsent_attachments(self, older_than_s: float, limit: int = 500) -> int:
        """Delete up to `limit` attachments no message has carried (no thread) uploaded more
        than `older_than_s` ago, with their bytes (which stop counting against the quota);
        returns how many. Rows another sweep holds are skipped, so replicas may sweep at once."""
        deleted = await self.db.run(
            lambda c: c.fetch(
                """DELETE FROM attachments WHERE (user_id, id) IN (
                       SELECT user_id, id FROM attachments
                       WHERE thread_id IS NULL AND created_at < now() - make_interval(secs => $1)
                       ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)
                   RETURNING 1""",
                older_than_s,
                limit,
            )
        )
        return len(deleted)

    async def save_attachment_content(
        self, user_id: str, attachment_id: str, content_type: str, data: bytes
    ) -> None:
        """Store (or replace) an attachment's bytes; its metadata must exist for this user."""
        saved = await self._write(
            lambda c: c.fetchval(
                """INSERT INTO attachment_content (user_id, id, content_type, size, bytes)
                   SELECT user_id, id, $3, $4, $5 FROM attachments
                   WHERE user_id = $1 AND id = $2
                   ON CONFLICT (user_id, id) DO UPDATE
                   SET content_type = EXCLUDED.content_type, size = EXCLUDED.size,
                       bytes = EXCLUDED.bytes, created_at = now()
                   RETURNING 1""",
                user_id,
                attachment_id,
                content_type,
                len(data),
                data,
            )
        )
        if saved is None:
            raise NotFound(f"Attachment {attachment_id} not found.")

    async def load_attachment_content(self, user_id: str, attachment_id: str) -> tuple[str, bytes]:
        """The content type and bytes of an attachment."""
        row = await self.db.run(
            lambda c: c.fetchrow(
                "SELECT content_type, bytes FROM attachment_content WHERE user_id = $1 AND id = $2",
                user_id,
                attachment_id,
            )
        )
        if row is None:
            raise NotFound(f"Content of attachment {attachment_id} not found.")
        return row["content_type"], bytes(row["bytes"])
