"""The sources card: the passages a reply used, with a "show more from this chapter" button.

Built with `WidgetTemplate` from `sources_card.widget` (the format Widget Studio
edits) rather than the widget classes, which the SDK marks deprecated; the result is
a `DynamicWidgetRoot` (read back from the store, it validates as the equivalent
`Card`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from chatkit.actions import Action
from chatkit.widgets import DynamicWidgetRoot, WidgetRoot, WidgetTemplate
from pydantic import BaseModel, Field

from services.chat.citations import section_of
from shared.contracts.retrieval import SearchHit

MORE_ACTION = "sources.more"
"""Action type of the card's button, handled by `BookChatServer.action`."""
SNIPPET_CHARS = 220

_TEMPLATE = WidgetTemplate.from_file(str(Path(__file__).with_name("sources_card.widget")))


class MorePayload(BaseModel):
    """Payload of the "show more" button: what to search and what was already shown."""

    query: str = Field(min_length=1, max_length=2000)
    chapter: int | None = None
    shown: list[str] = Field(default_factory=list, max_length=200)


_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_EMPHASIS = re.compile(r"\*\*|__|`")
_BLOCK_MARK = re.compile(r"^\s*(?:#{1,6}|>|[-*+])\s+", re.M)
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)*\|?\s*$", re.M)


def plain_text(markdown: str) -> str:
    """Markdown as the text it reads as: the card's Text components are not Markdown."""
    text = _TABLE_RULE.sub("", _LINK.sub(r"\1", markdown))
    lines = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("|") and line.endswith("|") and len(line) > 1:
            line = " · ".join(cell.strip() for cell in line[1:-1].split("|"))
        lines.append(line)
    return _EMPHASIS.sub("", _BLOCK_MARK.sub("", "\n".join(lines)))


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """The start of a passage as plain text, cut at a word boundary."""
    text = " ".join(plain_text(text).split())
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + "…"


def sources_card(
    numbered: Mapping[int, SearchHit] | Sequence[tuple[int, SearchHit]],
    *,
    title: str = "Sources from the book",
    more: MorePayload | None = None,
) -> DynamicWidgetRoot:
    """A card listing `numbered` passages; with `more`, a button asking for more of them."""
    pairs = list(numbered.items()) if isinstance(numbered, Mapping) else list(numbered)
    data: dict[str, Any] = {
        "title": title,
        "passages": [
            {
                "n": n,
                "chunk_id": hit.chunk_id,
                "title": hit.source.title,
                "section": section_of(hit),
                "snippet": snippet(hit.text),
            }
            for n, hit in pairs
        ],
        "more": None,
    }
    if more is not None:
        label = (
            f"Show more from chapter {more.chapter}"
            if more.chapter is not None
            else "Show more from the book"
        )
        data["more"] = {"label": label, "disabled": False, "payload": more.model_dump()}
    return _TEMPLATE.build(data)


def copy_text(numbered: Mapping[int, SearchHit] | Sequence[tuple[int, SearchHit]]) -> str:
    """Plain-text version of the card (for copying, and for the model's history)."""
    pairs = list(numbered.items()) if isinstance(numbered, Mapping) else list(numbered)
    return "\n".join(
        f"[{n}] {hit.source.title} — {section_of(hit)} ({hit.source.url})" for n, hit in pairs
    )


def with_buttons_disabled(widget: WidgetRoot) -> DynamicWidgetRoot:
    """`widget` with every button disabled (after its action ran)."""

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            node = {key: walk(value) for key, value in node.items()}
            if node.get("type") == "Button":
                node["disabled"] = True
            return node
        if isinstance(node, list):
            return [walk(child) for child in node]
        return node

    return DynamicWidgetRoot.model_validate(walk(widget.model_dump(exclude_none=True)))


def parse_more(action: Action[str, Any]) -> MorePayload:
    """The validated payload of a "show more" action (raises `ValidationError`)."""
    return MorePayload.model_validate(action.payload or {})
