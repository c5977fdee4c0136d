"""Answering a duplicate keyed submission with what the first one already recorded."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from chatkit.store import NotFoundError
from chatkit.types import (
    HiddenContextItem,
    SDKHiddenContextItem,
    ThreadCreatedEvent,
    ThreadItemDoneEvent,
    ThreadsAddUserMessageReq,
    ThreadsCreateReq,
    UserMessageItem,
)

from services.chat.context import RequestContext
from services.chat.idempotency import keyed_ids
from services.chat.server import BookChatServer

REPLAY_ITEMS = 50


@dataclass
class Existing:
    """The message a keyed submission already created."""

    thread_id: str
    message: UserMessageItem
    created_thread: bool


async def duplicate_of(
    server: BookChatServer,
    request: ThreadsCreateReq | ThreadsAddUserMessageReq | None,
    context: RequestContext,
) -> Existing | None:
    """The message an earlier submission with this key created, if any.

    With a request, first assigns the keyed ids to `context` so that, when this is not
    a duplicate, the new thread and message get them.
    """
    if request is not None:
        assert context.idempotency_key
        thread_id, message_id = keyed_ids(context.user_id, context.idempotency_key)
        if isinstance(request, ThreadsAddUserMessageReq):
            thread_id = request.params.thread_id
        else:
            context.thread_id_override = thread_id
        context.keyed_thread_id, context.keyed_message_id = thread_id, message_id
        context.message_id_override = message_id
    if context.keyed_thread_id is None or context.keyed_message_id is None:
        return None
    try:
        item = await server.store.load_item(
            context.keyed_thread_id, context.keyed_message_id, context
        )
    except NotFoundError:
        return None
    if not isinstance(item, UserMessageItem):
        return None
    created = (
        context.keyed_thread_id == keyed_ids(context.user_id, context.idempotency_key or "")[0]
    )
    return Existing(context.keyed_thread_id, item, created)


async def replay(
    server: BookChatServer,
    existing: Existing,
    context: RequestContext,
    *,
    include_thread: bool = True,
) -> AsyncIterator[bytes]:
    """SSE frames of the earlier submission: its thread (if it created one), its message
    and what has been recorded after it so far. No new message, no new reply."""
    if include_thread and existing.created_thread:
        thread = await server.store.load_thread(existing.thread_id, context)
        yield _frame(server, ThreadCreatedEvent(thread=server._to_thread_response(thread)))
    yield _frame(server, ThreadItemDoneEvent(item=existing.message))
    page = await server.store.load_thread_items(
        existing.thread_id, existing.message.id, REPLAY_ITEMS, "asc", context
    )
    for item in page.data:
        if not isinstance(item, HiddenContextItem | SDKHiddenContextItem):
            yield _frame(server, ThreadItemDoneEvent(item=item))


def _frame(server: BookChatServer, event: ThreadCreatedEvent | ThreadItemDoneEvent) -> bytes:
    return b"data: " + server._serialize(event) + b"\n\n"
