"""`converter.py`: thread items as model input."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chatkit.types import ClientToolCallItem, WidgetItem

from services.chat.converter import BookThreadItemConverter
from services.chat.widgets import sources_card
from tests.unit.chat.conftest import BOOK_HITS

NOW = datetime(2026, 1, 1)


async def test_converter_handles_widgets_hidden_context_and_tool_outputs() -> None:
    widget = WidgetItem(
        id="w",
        thread_id="t",
        created_at=NOW,
        widget=sources_card({1: BOOK_HITS[0]}),
        copy_text="[1] Welcome",
    )
    call = ClientToolCallItem(
        id="tc",
        thread_id="t",
        created_at=NOW,
        call_id="call_9",
        name="highlight_passage",
        arguments={"passage": 1},
        status="completed",
        output={"ok": True},
    )
    full: list[Any] = await BookThreadItemConverter().to_agent_input([widget, call])
    assert full[0]["content"][0]["text"] == "A card was shown to the reader:\n[1] Welcome"
    assert [i["type"] for i in full[1:]] == ["function_call", "function_call_output"]
    only = await BookThreadItemConverter(outputs_only=True).to_agent_input([call])
    assert only == [{"type": "function_call_output", "call_id": "call_9", "output": '{"ok": true}'}]
