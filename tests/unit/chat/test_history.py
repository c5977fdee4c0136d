"""`history.py`: the earlier items the model sees."""

from __future__ import annotations

from datetime import datetime

from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    InferenceOptions,
    ThreadMetadata,
    UserMessageItem,
    UserMessageTagContent,
    UserMessageTextContent,
    WidgetItem,
)
from chatkit.widgets import Card, Text

from services.chat.converter import BookThreadItemConverter
from services.chat.history import CHARS_PER_TOKEN, input_tokens, load_history, select_history
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


def tagged(n: int, text_chars: int) -> UserMessageItem:
    return UserMessageItem(
        id=f"t{n}",
        thread_id="thr",
        created_at=NOW,
        content=[
            UserMessageTextContent(text="see "),
            UserMessageTagContent(id="tag", text="x" * text_chars, data={"blob": "unsent"}),
        ],
        inference_options=InferenceOptions(),
    )


async def test_tokens_are_counted_on_what_the_converter_sends() -> None:
    converter = BookThreadItemConverter()
    # A tag's text goes to the model (twice: in the message and as its context; its data,
    # the client's, does not): a 950 KB tag is ~240k tokens or more, not 4.
    assert await input_tokens(tagged(0, 950_000), converter) > 950_000 // CHARS_PER_TOKEN
    widget = WidgetItem(
        id="w", thread_id="thr", created_at=NOW, widget=Card(children=[Text(value="v" * 4000)])
    )
    assert await input_tokens(widget, converter) > 4000 // CHARS_PER_TOKEN  # its JSON

    newest_first = [tagged(n, 950_000) for n in range(40)]
    window = await select_history(newest_first, True, max_items=40, max_tokens=6000)
    assert [i.id for i in window] == ["t0"]  # the newest always fits; nothing else does
    small = [tagged(n, 40) for n in range(40)]
    assert len(await select_history(small, True, max_items=40, max_tokens=6000)) == 40
