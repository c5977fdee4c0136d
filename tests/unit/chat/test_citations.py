"""`citations.py`: `[n]` markers in an answer become annotations linking the passages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chatkit.types import AssistantMessageContent, AssistantMessageItem, ThreadItemDoneEvent

from services.chat.citations import annotate, annotations_for
from tests.unit.chat.conftest import BOOK_HITS, async_iter

NOW = datetime(2026, 1, 1)


def test_annotations_follow_markers_and_ignore_unknown_numbers() -> None:
    passages = {1: BOOK_HITS[0], 2: BOOK_HITS[1]}
    text = "Sign in by link [1]. Scope menu [2, 1]. Made up [9]."
    found = annotations_for(text, passages)
    assert [a.source.url for a in found] == [  # type: ignore[union-attr]
        "/book/ch1/page1#section",
        "/book/ch2/page2#section",
        "/book/ch1/page1#section",
    ]
    assert found[0].index == text.index("[1]") + 3


async def test_annotate_adds_updates_then_the_annotated_item() -> None:
    item = AssistantMessageItem(
        id="m", thread_id="t", created_at=NOW, content=[AssistantMessageContent(text="Yes [1].")]
    )
    out: list[Any] = [
        e async for e in annotate(async_iter([ThreadItemDoneEvent(item=item)]), {1: BOOK_HITS[0]})
    ]
    assert [e.type for e in out] == ["thread.item.updated", "thread.item.done"]
    assert out[1].item.content[0].annotations[0].source.title == "Welcome"
