"""Which earlier thread items the model sees: the newest ones within an item/token budget."""

from __future__ import annotations

from chatkit.store import Store
from chatkit.types import (
    AssistantMessageItem,
    ClientToolCallItem,
    HiddenContextItem,
    SDKHiddenContextItem,
    ThreadItem,
    UserMessageItem,
    WidgetItem,
)

from services.chat.context import RequestContext

CHARS_PER_TOKEN = 4
PAGE = 50


def approx_tokens(item: ThreadItem) -> int:
    """A rough token count of what the converter will send for `item`."""
    if isinstance(item, UserMessageItem):
        chars = sum(len(getattr(part, "text", "")) for part in item.content)
        chars += len(item.quoted_text or "") + 200 * len(item.attachments)
    elif isinstance(item, AssistantMessageItem):
        chars = sum(len(part.text) for part in item.content)
    elif isinstance(item, WidgetItem):
        chars = len(item.copy_text or "") or 400
    elif isinstance(item, ClientToolCallItem):
        chars = len(str(item.arguments)) + len(str(item.output))
    elif isinstance(item, HiddenContextItem | SDKHiddenContextItem):
        chars = len(str(item.content))
    else:
        chars = 100
    return chars // CHARS_PER_TOKEN + 4


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
    return select_history(newest_first, complete, max_items, max_tokens), complete


def select_history(
    newest_first: list[ThreadItem], complete: bool, max_items: int, max_tokens: int
) -> list[ThreadItem]:
    """Oldest-first window of the newest items within `max_items` and `max_tokens`.

    The newest item always fits. A cut window starts at a user message when it can, so
    the model never sees an answer without its question.
    """
    window: list[ThreadItem] = []
    tokens = 0
    for item in newest_first[:max_items]:
        cost = approx_tokens(item)
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
