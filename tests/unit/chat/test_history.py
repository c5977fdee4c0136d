"""`history.py`: the earlier items the model sees."""

from __future__ import annotations

from datetime import datetime

from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    InferenceOptions,
    ThreadMetadata,
    UserMessageItem,
    UserMessageTextContent,
)

from services.chat.history import load_history
from services.chat.memory_store import MemoryStore

NOW = datetime(2026, 1, 1)


async def test_history_keeps_the_newest_items_within_budget() -> None:
    store, ctx = MemoryStore(), {"user_id": "u"}
    thread = ThreadMetadata(id="thr", created_at=NOW)
    await store.save_thread(thread, ctx)
    for n in range(10):
        await store.add_thread_item(
            "thr",
            UserMessageItem(
                id=f"u{n}",
                thread_id="thr",
                created_at=NOW,
                content=[UserMessageTextContent(text="q" * 400)],
                inference_options=InferenceOptions(),
            ),
            ctx,
        )
        await store.add_thread_item(
            "thr",
            AssistantMessageItem(
                id=f"a{n}",
                thread_id="thr",
                created_at=NOW,
                content=[AssistantMessageContent(text="a" * 400)],
            ),
            ctx,
        )
    by_items, _ = await load_history(store, "thr", ctx, max_items=5, max_tokens=100_000)  # type: ignore[arg-type]
    assert [i.id for i in by_items] == ["u8", "a8", "u9", "a9"]  # starts at a question
    by_tokens, _ = await load_history(store, "thr", ctx, max_items=100, max_tokens=450)  # type: ignore[arg-type]
    assert [i.id for i in by_tokens] == ["u8", "a8", "u9", "a9"]
    everything, complete = await load_history(store, "thr", ctx, max_items=100, max_tokens=100_000)  # type: ignore[arg-type]
    assert len(everything) == 20 and complete
