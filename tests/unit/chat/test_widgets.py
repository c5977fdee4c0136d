"""`widgets.py`: the sources card."""

from __future__ import annotations

from services.chat.widgets import MorePayload, sources_card, with_buttons_disabled
from tests.unit.chat.conftest import BOOK_HITS


def test_card_buttons_can_be_disabled() -> None:
    card = sources_card({1: BOOK_HITS[0]}, more=None)
    assert "Button" not in card.model_dump_json()
    with_more = sources_card({1: BOOK_HITS[0]}, more=MorePayload(query="q", chapter=1))
    disabled = with_buttons_disabled(with_more).model_dump()
    assert disabled["children"][-1]["disabled"] is True
