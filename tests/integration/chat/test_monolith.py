"""The benchmarks' one-process baseline (`bench/monolith`): chat over in-process search
and a memory store, its lifespan handing the chat handlers their state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.monolith.app import create_monolith_app
from services.chat.settings import ChatSettings
from services.retrieval.settings import RetrievalSettings
from tests.integration.chat.conftest import BOOK, CORPUS
from tests.support.servers import serve


async def test_the_monolith_answers_from_its_book(tmp_path: Path, connect: Any) -> None:
    book = tmp_path / "book"
    for path, content in BOOK.items():
        (book / path).parent.mkdir(parents=True, exist_ok=True)
        (book / path).write_text(content)
    chat = ChatSettings(
        corpus=CORPUS, offline_token_delay_ms=0, log_level="warning", redis_url=None
    )
    retrieval = RetrievalSettings(
        data_dir=tmp_path / "index", redis_url=None, log_level="warning", log_json=False
    )
    with serve(create_monolith_app(chat, retrieval, book, CORPUS)) as url:
        reply = await connect(url, "reader").create("How long does a magic link stay valid?")
    assert reply.status == 200 and not reply.of_type("error"), reply.events
    assert "ten minutes" in reply.text
