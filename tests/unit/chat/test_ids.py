"""`models/ids.py`: item ids a model reuses become fresh store ids."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    ClientToolCallItem,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemUpdatedEvent,
)
from chatkit.types import AssistantMessageContentPartTextDelta as TextDelta

from services.chat.models.ids import remap_item_ids
from tests.unit.chat.conftest import async_iter

NOW = datetime(2026, 1, 1)


async def test_remap_gives_each_reused_id_a_fresh_consistent_id() -> None:
    counter = iter(range(100))

    def message(text: str) -> AssistantMessageItem:
        content = [AssistantMessageContent(text=text)]
        return AssistantMessageItem(
            id="__fake_id__", thread_id="t", created_at=NOW, content=content
        )

    events = [
        ThreadItemAddedEvent(item=message("")),
        ThreadItemUpdatedEvent(item_id="__fake_id__", update=TextDelta(content_index=0, delta="a")),
        ThreadItemDoneEvent(item=message("a")),
        ThreadItemAddedEvent(item=message("")),
        ThreadItemDoneEvent(item=message("b")),
        ThreadItemDoneEvent(
            item=ClientToolCallItem(
                id="__fake_id__",
                thread_id="t",
                created_at=NOW,
                call_id="c",
                name="n",
                arguments={},
            )
        ),
    ]
    out: list[Any] = [
        e async for e in remap_item_ids(async_iter(events), lambda kind: f"{kind}_{next(counter)}")
    ]
    ids = [e.item.id if hasattr(e, "item") else e.item_id for e in out]
    assert ids == ["message_0", "message_0", "message_0", "message_1", "message_1", "tool_call_2"]
