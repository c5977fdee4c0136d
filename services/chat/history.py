"""Which earlier thread items the model sees: the newest ones within an item/token budget."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from chatkit.agents import ThreadItemConverter
from chatkit.store import Store
from chatkit.types import ThreadItem, UserMessageItem

from services.chat.context import RequestContext
from services.chat.converter import BookThreadItemConverter

CHARS_PER_TOKEN = 4
ITEM_TOKENS = 4
"""What one item costs beyond its text (role and part markers)."""
PAGE = 50


async def input_tokens(item: ThreadItem, converter: ThreadItemConverter) -> int:
    """A rough token count of what `converter` sends the model for `item`: every string of
    its converted input (text, tag data, widget JSON, tool arguments and outputs...)."""
    return _chars(await converter.to_agent_input(item)) // CHARS_PER_TOKEN + ITEM_TOKENS


def _chars(value: object) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, Mapping):
        return sum(_chars(v) for v in value.values())
    if isinstance(value, list | tuple):
        return sum(_chars(v) for v in value)
    return 1


async def load_history(
    store: Store[RequestContext],
    thread_id: str,
    context: RequestContext,
    *,
    max_items: int,
    max_tokens: int,
) -> tuple[list[ThreadItem], bool]:
    """The newest items of the thread that fit both budgets (see `select_history`), and
    whether they are the whole thread."""
    newest_first: list[ThreadItem] = []
    after: str | None = None
    complete = False
    while len(newest_first) < max_items:
        page = await store.load_thread_items(
            thread_id, after, min(PAGE, max_items - len(newest_first)), "desc", context
        )
        newest_first.extend(page.data)
        if not page.has_more or not page.data:
            complete = True
            break
        after = page.data[-1].id
    return await select_history(newest_first, complete, max_items, max_tokens), complete


async def select_history(
    newest_first: Sequence[ThreadItem],
    complete: bool,
    max_items: int,
    max_tokens: int,
    converter: ThreadItemConverter | None = None,
) -> list[ThreadItem]:
    """Oldest-first window of the newest items within `max_items` and `max_tokens`, their
    tokens counted on what `converter` (the service's by default) sends for them.

    The newest item always fits. A cut window starts at a user message when it can, so
    the model never sees an answer without its question.
    """
    converter = converter or BookThreadItemConverter()
    window: list[ThreadItem] = []
    tokens = 0
    for item in newest_first[:max_items]:
        cost = await input_tokens(item, converter)
        if window and tokens + cost > max_tokens:
            break
        window.append(item)
        tokens += cost
    window.reverse()
    if complete and len(window) == len(newest_first):
        return window
    for index, item in enumerate(window):
        if isinstance(item, UserMessageItem):
            return window[index:]
    return window
