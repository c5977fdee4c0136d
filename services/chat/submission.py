"""A submitted message (`threads.create`, `threads.add_user_message`) from the request to
its stream: idempotency, the replay of a duplicate, and the history read ahead.

With an `Idempotency-Key`, the submission's new thread and message get ids derived from
the user and the key (`KeyedIds`). A resubmission finds the message it already created
and is answered from the record: that thread, that message and whatever was answered
since, with no second message and no second run. A concurrent duplicate collides in
the store (409 on the keyed message id) and replays the winner's record instead.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chatkit.store import NotFoundError, Store
from chatkit.types import (
    HiddenContextItem,
    Page,
    SDKHiddenContextItem,
    ThreadCreatedEvent,
    ThreadItem,
    ThreadItemDoneEvent,
    ThreadsAddUserMessageReq,
    ThreadsCreateReq,
    UserMessageItem,
)

from services.chat import sdk
from services.chat.chat_store import distinct_ids
from shared.http import UpstreamRefused

if TYPE_CHECKING:
    from services.chat.context import RequestContext
    from services.chat.server import BookChatServer

REPLAY_ITEMS = 50
"""Most recorded items after the message a replay sends."""


@dataclass(frozen=True, slots=True)
class KeyedIds:
    """The ids of a submission with an idempotency key: the same for every resubmission."""

    thread_id: str
    """The thread the message goes to: keyed too when the submission creates it."""
    message_id: str
    new_thread: bool


def keyed_ids(user_id: str, key: str, thread_id: str | None) -> KeyedIds:
    """The ids of a user's submission with `key` to `thread_id` (None: a new thread)."""
    digest = hashlib.sha256(f"{user_id}\x00{key}".encode()).hexdigest()[:24]
    return KeyedIds(thread_id or f"thr_k{digest}", f"msg_k{digest}", thread_id is None)


class Submission:
    """One submitted message: what it needs beyond the SDK's own handling of it."""

    def __init__(
        self, thread_id: str | None, attachment_ids: list[str], keyed: KeyedIds | None
    ) -> None:
        self.thread_id = thread_id
        """The thread the message is added to; None when the submission creates it."""
        self.attachment_ids = tuple(attachment_ids)
        self.keyed = keyed
        self._thread_id = keyed.thread_id if keyed is not None and keyed.new_thread else None
        self._message_id = keyed.message_id if keyed is not None else None
        self._history: asyncio.Task[Page[ThreadItem]] | None = None

    @classmethod
    def of(
        cls, request: ThreadsCreateReq | ThreadsAddUserMessageReq, user_id: str, key: str | None
    ) -> Submission:
        """The submission of `request` by `user_id`, with its idempotency key if any."""
        thread_id = (
            request.params.thread_id if isinstance(request, ThreadsAddUserMessageReq) else None
        )
        keyed = keyed_ids(user_id, key, thread_id) if key else None
        attachments = distinct_ids(request.params.input.attachments, "attachments")
        request.params.input.attachments = attachments  # the SDK loads each once
        return cls(thread_id, attachments, keyed)

    @property
    def new_thread(self) -> bool:
        return self.thread_id is None

    # -- ids, for `ChatStore` ------------------------------------------------------

    def claim_thread_id(self) -> str | None:
        """The keyed id of the thread the SDK is creating, the first time it is asked."""
        claimed, self._thread_id = self._thread_id, None
        return claimed

    def claim_message_id(self) -> str | None:
        """The keyed id of the user message, the first time a message id is asked for."""
        claimed, self._message_id = self._message_id, None
        return claimed

    # -- the stream ------------------------------------------------------------------

    async def stream(
        self,
        server: BookChatServer,
        request: ThreadsCreateReq | ThreadsAddUserMessageReq,
        context: RequestContext,
    ) -> AsyncGenerator[bytes, None]:
        """The SSE frames answering the submission: the SDK's, or the record's when a
        submission with the same key came first. Unknown attachments raise
        `NotFoundError` before anything is saved (`threads.create` saves its thread
        before the SDK loads them), found in one store call."""
        if self.attachment_ids:
            missing = await server.store.missing_attachment(list(self.attachment_ids), context)
            if missing is not None:
                raise NotFoundError(f"Attachment {missing} not found.")
        earlier = await self._recorded(server.store, context)
        if earlier is not None:
            async for frame in self._replay(server, earlier, context, with_thread=True):
                yield frame
            return
        if self.thread_id is not None:
            self._read_history_ahead(server, self.thread_id, context)
        started = False
        try:
            async with aclosing(sdk.stream(server, request, context)) as frames:
                async for frame in frames:
                    started = True
                    yield frame
        except UpstreamRefused as exc:
            winner = await self._recorded(server.store, context) if exc.status == 409 else None
            if winner is None:
                raise
            async for frame in self._replay(server, winner, context, with_thread=not started):
                yield frame
        finally:
            if self._history is not None:
                self._history.cancel()

    async def history(self) -> Page[ThreadItem] | None:
        """The thread's newest items read while the SDK saved the message (which may or
        may not be among them); None when not read ahead or the read failed."""
        task, self._history = self._history, None
        if task is None:
            return None
        try:
            return await task
        except Exception:  # the caller reads again, with the errors that brings
            return None

    def _read_history_ahead(
        self, server: BookChatServer, thread_id: str, context: RequestContext
    ) -> None:
        # The history read does not depend on the new message (the reply adds it itself),
        # so it runs while the SDK loads the thread and saves the message.
        limit = server.settings.history_max_items
        read = server.store.load_thread_items(thread_id, None, limit, "desc", context)
        self._history = asyncio.ensure_future(read)
        self._history.add_done_callback(lambda t: t.cancelled() or t.exception())

    # -- replay --------------------------------------------------------------------------

    async def _recorded(
        self, store: Store[RequestContext], context: RequestContext
    ) -> UserMessageItem | None:
        """The message an earlier submission with this key created, if any."""
        if self.keyed is None:
            return None
        try:
            item = await store.load_item(self.keyed.thread_id, self.keyed.message_id, context)
        except NotFoundError:
            return None
        return item if isinstance(item, UserMessageItem) else None

    async def _replay(
        self,
        server: BookChatServer,
        message: UserMessageItem,
        context: RequestContext,
        *,
        with_thread: bool,
    ) -> AsyncIterator[bytes]:
        """The record of the earlier submission: its thread (if it created one and
        `with_thread`), its message and what has been recorded after it so far."""
        if with_thread and self.new_thread:
            thread = await server.store.load_thread(message.thread_id, context)
            yield sdk.frame(server, ThreadCreatedEvent(thread=sdk.thread_response(server, thread)))
        yield sdk.frame(server, ThreadItemDoneEvent(item=message))
        page = await server.store.load_thread_items(
            message.thread_id, message.id, REPLAY_ITEMS, "asc", context
        )
        for item in page.data:
            if not isinstance(item, HiddenContextItem | SDKHiddenContextItem):
                yield sdk.frame(server, ThreadItemDoneEvent(item=item))
