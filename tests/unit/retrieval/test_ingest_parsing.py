"""Parsing a batch of pages (seconds for a documentation build) leaves the event loop free."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any, cast

import pytest

from services.retrieval.documents import ParsedDocument
from services.retrieval.errors import InvalidDocument
from services.retrieval.ingest import Ingestor
from services.retrieval.settings import RetrievalSettings
from shared.contracts.retrieval import IngestDocument

BLOCKED_S = 10.0


class GatedIngestor(Ingestor):
    """Parsing waits until the event loop has run a callback: it can only if it is free."""

    def __init__(self, loop_ran: threading.Event, loop: asyncio.AbstractEventLoop) -> None:
        # Nothing past parsing is reached: the batch below is refused while parsed.
        none = cast(Any, None)
        super().__init__(none, none, none, RetrievalSettings())
        self.loop_ran, self.loop = loop_ran, loop

    def parse(self, documents: Sequence[IngestDocument]) -> list[ParsedDocument]:
        self.loop.call_soon_threadsafe(self.loop_ran.set)
        if not self.loop_ran.wait(BLOCKED_S):
            raise AssertionError("the event loop was blocked while the batch was parsed")
        return super().parse(documents)


async def test_a_batch_is_parsed_off_the_event_loop() -> None:
    loop_ran = threading.Event()
    ingestor = GatedIngestor(loop_ran, asyncio.get_running_loop())
    twice = [
        IngestDocument(path="a.md", content="# A\n\nText.\n"),
        IngestDocument(path="a.md", content="# A\n\nAgain.\n"),
    ]
    with pytest.raises(InvalidDocument, match="appears twice"):
        await ingestor.ingest("c", twice)
    assert loop_ran.is_set()
