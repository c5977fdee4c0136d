"""Fresh store ids for items the model names.

Chat Completions providers give every output item the same placeholder id
(`__fake_id__`) and some servers reuse ids across responses; ChatKit keys thread
items by id, so a reused id would overwrite an earlier message. Every assistant
message and client tool call therefore gets a fresh store id, kept consistent across
its added/updated/done events.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from chatkit.store import StoreItemType
from chatkit.types import (
    AssistantMessageItem,
    ClientToolCallItem,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemRemovedEvent,
    ThreadItemUpdatedEvent,
    ThreadStreamEvent,
)

_MODEL_ITEMS = (AssistantMessageItem, ClientToolCallItem)


def _kind(item: AssistantMessageItem | ClientToolCallItem) -> StoreItemType:
    return "tool_call" if isinstance(item, ClientToolCallItem) else "message"


async def remap_item_ids(
    events: AsyncIterator[ThreadStreamEvent], new_id: Callable[[StoreItemType], str]
) -> AsyncIterator[ThreadStreamEvent]:
    """Rewrite model-provided item ids in `events` to fresh ids from `new_id`."""
    live: dict[str, str] = {}  # provider id -> store id, while the item streams
    last: dict[str, str] = {}  # provider id -> store id most recently used
    async for event in events:
        if isinstance(event, ThreadItemAddedEvent) and isinstance(event.item, _MODEL_ITEMS):
            fresh = new_id(_kind(event.item))
            live[event.item.id] = last[event.item.id] = fresh
            event = event.model_copy(update={"item": event.item.model_copy(update={"id": fresh})})
        elif isinstance(event, ThreadItemUpdatedEvent) and event.item_id in live:
            event = event.model_copy(update={"item_id": live[event.item_id]})
        elif isinstance(event, ThreadItemDoneEvent) and isinstance(event.item, _MODEL_ITEMS):
            fresh = live.pop(event.item.id, "") or new_id(_kind(event.item))
            last[event.item.id] = fresh
            event = event.model_copy(update={"item": event.item.model_copy(update={"id": fresh})})
        elif isinstance(event, ThreadItemRemovedEvent) and event.item_id in last:
            event = event.model_copy(update={"item_id": last[event.item_id]})
        yield event
