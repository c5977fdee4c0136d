"""`ItemCache`: items read back from the store are validated once per distinct JSON."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from chatkit.types import AssistantMessageContent, AssistantMessageItem, ThreadItem, WidgetItem
from pydantic import TypeAdapter

from services.chat.store_client import ItemCache
from services.chat.widgets import sources_card
from tests.unit.chat.conftest import BOOK_HITS

NOW = datetime(2026, 1, 1)


def as_json(item: Any) -> dict[str, Any]:
    """The item as the store service sends it back (decoded JSON)."""
    return json.loads(TypeAdapter(type(item)).dump_json(item))


def text_of(item: ThreadItem) -> str:
    assert isinstance(item, AssistantMessageItem)
    return item.content[0].text


def card() -> dict[str, Any]:
    widget = sources_card({1: BOOK_HITS[0], 2: BOOK_HITS[1]})
    return as_json(WidgetItem(id="w1", thread_id="thr", created_at=NOW, widget=widget))


def test_same_json_is_validated_once_and_handed_out_as_copies() -> None:
    cache, raw = ItemCache(), card()
    first, second = cache.item(raw), cache.item(json.loads(json.dumps(raw)))
    assert first == second
    assert first is not second
    second.thread_id = "elsewhere"  # a caller changing its copy
    assert cache.item(raw).thread_id == "thr"


def test_changed_json_is_validated_again() -> None:
    cache = ItemCache()
    content = [AssistantMessageContent(text="partial")]
    item = AssistantMessageItem(id="a1", thread_id="thr", created_at=NOW, content=content)
    assert text_of(cache.item(as_json(item))) == "partial"
    item.content[0].text = "the whole answer"
    assert text_of(cache.item(as_json(item))) == "the whole answer"


def test_cache_is_bounded() -> None:
    cache = ItemCache(size=2)
    for n in range(5):
        content = [AssistantMessageContent(text=str(n))]
        raw = as_json(
            AssistantMessageItem(id=f"a{n}", thread_id="thr", created_at=NOW, content=content)
        )
        assert text_of(cache.item(raw)) == str(n)
    assert len(cache._items) == 2
