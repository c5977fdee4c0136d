"""The offline model on real retrieval: follow-ups through the whole chat service, and
in-scope/out-of-scope questions on the demo book (`docs/book`, the questions of
`bench/data/retrieval_eval.jsonl`).

Rankings of the int8 embedding model differ across CPUs: these tests assert shares and
properties that hold for any reasonable ranking, never an exact order."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from agents import ModelSettings, Tool
from agents.models.interface import ModelTracing

from services.chat.citations import passages_payload
from services.chat.models.extractive import NOT_COVERED
from services.chat.models.offline import OfflineBookModel
from services.chat.tools import highlight_passage, search_book
from services.retrieval.ingest import book_files
from shared.contracts.retrieval import SearchHit
from tests.support.servers import serve

REPO = Path(__file__).resolve().parents[3]
EVAL = REPO / "bench" / "data" / "retrieval_eval.jsonl"
OUT_OF_SCOPE = [
    "What is the capital of Australia?",
    "How do I bake sourdough bread?",
    "Who won the 1998 World Cup?",
    "How many moons does Jupiter have?",
    "Who wrote Pride and Prejudice?",
    "What is the best way to train for a marathon?",
    "How do I change a flat tyre on a bicycle?",
    "What's the recipe for a margarita?",
    "When did the Roman Empire fall?",
    "How should I invest in index funds?",
    "What causes the northern lights?",
    "How do I center a div in CSS?",
    "What is the time complexity of quicksort?",
    "Which vitamins are in spinach?",
    "How do I grow tomatoes on a balcony?",
    "What is the speed of light in a vacuum?",
]
DEMO_CORPUS = "demo-book"


async def test_a_follow_up_is_answered_from_the_previous_topic(chat_url: str, connect: Any) -> None:
    chat = connect(chat_url, f"reader_{uuid.uuid4().hex[:10]}")
    first = await chat.create("How long does a magic link stay valid?")
    assert "ten minutes" in first.text
    for follow_up in ("tell me more", "why?"):
        reply = await chat.add(first.thread_id, follow_up)
        assert reply.status == 200 and not reply.of_type("error")
        assert reply.text.startswith("From the book:"), reply.text
        urls = {
            a.source.url for i in reply.items("assistant_message") for a in i.content[0].annotations
        }
        assert any(u.startswith("/book/01-start/01-accounts") for u in urls), urls


@pytest.fixture(scope="module")
def demo_search(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real retrieval service holding the demo book."""
    from services.retrieval.app import create_app
    from services.retrieval.embeddings import LocalEmbedder
    from services.retrieval.settings import RetrievalSettings

    settings = RetrievalSettings(
        data_dir=tmp_path_factory.mktemp("demo-book") / "index",
        log_level="warning",
        log_json=False,
        redis_url=None,
    )
    with serve(create_app(settings, embedder=LocalEmbedder())) as url:
        docs = [{"path": p, "content": c} for p, c in book_files(REPO / "docs" / "book")]
        body = {"corpus": DEMO_CORPUS, "documents": docs}
        response = httpx.post(f"{url}/v1/documents", json=body, timeout=600)
        assert response.status_code == 200, response.text
        yield url


async def offline_answer(search: httpx.AsyncClient, question: str, page: dict[str, Any]) -> str:
    """The offline model's answer to `question`, its search run on the real service."""
    model = OfflineBookModel()
    tools: list[Tool] = [search_book, highlight_passage]

    async def step(items: list[Any]) -> Any:
        response = await model.get_response(
            None,
            items,
            ModelSettings(),
            tools,
            None,
            [],
            ModelTracing.DISABLED,
            previous_response_id=None,
            conversation_id=None,
            prompt=None,
        )
        return response.output[0]

    items: list[Any] = [{"role": "user", "content": question}]
    call = await step(items)
    arguments = json.loads(call.arguments)
    found = await search.post(
        "/v1/search",
        json={
            "queries": arguments["queries"],
            "scope": "full_book",
            "page_context": page,
            "top_k": 5,
            "corpus": DEMO_CORPUS,
        },
    )
    assert found.status_code == 200, found.text
    hits = {n: SearchHit.model_validate(h) for n, h in enumerate(found.json()["results"], 1)}
    items += [
        {"type": "function_call", "call_id": "c", "name": call.name, "arguments": call.arguments},
        {"type": "function_call_output", "call_id": "c", "output": passages_payload(hits, "x")},
    ]
    message = await step(items)
    return str(message.content[0].text)


async def test_the_demo_books_questions_are_answered_others_refused(
    demo_search: str,
) -> None:
    async with httpx.AsyncClient(base_url=demo_search, timeout=60) as search:
        await _shares(search)


async def _shares(search: httpx.AsyncClient) -> None:
    rows = [json.loads(line) for line in EVAL.read_text().splitlines() if line.strip()]
    answered = [
        await offline_answer(search, r["question"], r.get("page_context") or {}) for r in rows
    ]
    refused_in = [r["question"] for r, a in zip(rows, answered, strict=True) if a == NOT_COVERED]
    # Measured: 62/62 answered, 15/16 refused (the marathon question shares "best", "way"
    # and "train" with the book). Margins leave room for other CPUs' rankings.
    assert len(refused_in) <= 0.05 * len(rows), refused_in
    out = [await offline_answer(search, q, {}) for q in OUT_OF_SCOPE]
    answered_out = [q for q, a in zip(OUT_OF_SCOPE, out, strict=True) if a != NOT_COVERED]
    assert len(answered_out) <= 0.2 * len(OUT_OF_SCOPE), answered_out
    for brief in OUT_OF_SCOPE[:3]:  # the issue's own examples
        assert brief not in answered_out
    # Prose: no raw table row, heading or list marker outside a table or code quoted whole.
    for answer in answered:
        assert answer.count("```") % 2 == 0
        lines = answer.split("\n")
        for n, line in enumerate(lines):
            if line.startswith("|"):
                assert lines[n - 1].startswith("|") or lines[n - 2].endswith(":"), answer
            assert not line.startswith(("#", "- ", "* ")) or answer.count("```"), answer
