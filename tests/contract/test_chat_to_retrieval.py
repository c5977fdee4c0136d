"""The retrieval contract: chat's `RetrievalClient` -> retrieval service over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.chat.clients.retrieval import RetrievalClient
from services.retrieval.app import create_app
from services.retrieval.embeddings import LocalEmbedder
from services.retrieval.settings import RetrievalSettings
from shared.contracts.common import PageContext
from shared.contracts.retrieval import SearchRequest, SearchResponse
from shared.http import UpstreamRefused, UpstreamTimeout, UpstreamUnavailable
from tests.support.servers import free_port, serve

BOOK = {
    "01-start/01-welcome.md": "---\ntitle: Welcome\nchapter: 1\nlesson: welcome\n---\n\n"
    "# Welcome\n\n## Signing in\n\nSign in with the magic link sent to your email address.\n",
    "02-usage/01-search.md": "---\ntitle: Searching\nchapter: 2\nlesson: search\n---\n\n"
    "# Searching\n\n## Filters\n\nNarrow a search to the current chapter with the scope menu.\n",
}
TOKEN = "contract-token"


@pytest.fixture(scope="module")
def retrieval_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real retrieval service (local model, embedded index, service token on)."""
    root: Path = tmp_path_factory.mktemp("contract")
    settings = RetrievalSettings(
        data_dir=root / "index",
        log_level="warning",
        log_json=False,
        redis_url=None,
        internal_token=TOKEN,
    )
    embedder = LocalEmbedder()
    with serve(create_app(settings, embedder=embedder)) as url:
        import httpx

        body = {
            "corpus": "contract",
            "documents": [{"path": p, "content": c} for p, c in BOOK.items()],
        }
        response = httpx.post(
            f"{url}/v1/documents", json=body, headers={"x-service-token": TOKEN}, timeout=120
        )
        assert response.status_code == 200, response.text
        yield url


@pytest.fixture
async def client(retrieval_url: str) -> AsyncIterator[RetrievalClient]:
    client = RetrievalClient.connect(retrieval_url, token=TOKEN)
    yield client
    await client.aclose()


async def test_search_round_trip(client: RetrievalClient) -> None:
    response = await client.search(
        SearchRequest(
            queries=["how do I log in?", "sign-in email link"],
            scope="full_book",
            page_context=PageContext(current_chapter=2, current_lesson="search"),
            top_k=2,
            corpus="contract",
        )
    )
    assert isinstance(response, SearchResponse)
    assert response.scope == "full_book"
    hit = response.results[0]
    assert hit.source.document_id == "01-start/01-welcome"
    assert hit.source.heading_path == ["Welcome", "Signing in"]
    assert hit.source.url == "/book/01-start/01-welcome#signing-in"
    assert hit.source.chapter == 1 and hit.source.lesson == "welcome"
    assert "magic link" in hit.text
    assert hit.boost == 1.0  # not in the reader's chapter: ranked first on relevance alone
    assert all(r.boost == pytest.approx(1.32) for r in response.results[1:])


async def test_chapters_of_a_corpus(client: RetrievalClient) -> None:
    """The tutor's list of chapters (the table of contents): in order; none for a corpus
    with no pages."""
    chapters = await client.chapters("contract")
    assert [(c.slug, c.chapter) for c in chapters] == [("01-start", 1), ("02-usage", 2)]
    assert [lesson.title for c in chapters for lesson in c.lessons] == ["Welcome", "Searching"]
    assert await client.chapters("no-such-corpus") == []


async def test_narrow_scope_and_defaults(client: RetrievalClient) -> None:
    response = await client.search(
        SearchRequest(
            queries=["magic link"],
            scope="current_chapter",
            page_context=PageContext(current_chapter=2),
            corpus="contract",
        )
    )
    assert response.scope == "current_chapter"
    assert {r.source.chapter for r in response.results} == {2}
    empty = await client.search(SearchRequest(queries=["anything"]))  # corpus "default"
    assert empty.results == []


async def test_refusal_is_a_request_error(client: RetrievalClient) -> None:
    with pytest.raises(UpstreamRefused) as info:
        await client.search(SearchRequest(queries=["x"], scope="current_page", corpus="contract"))
    assert info.value.status == 422
    assert "current_page" in str(info.value)


async def test_wrong_token_is_a_request_error(retrieval_url: str) -> None:
    client = RetrievalClient.connect(retrieval_url, token="wrong")
    with pytest.raises(UpstreamRefused) as info:
        await client.search(SearchRequest(queries=["x"]))
    assert info.value.status == 401
    await client.aclose()


async def test_connection_refused_is_unavailable() -> None:
    client = RetrievalClient.connect(f"http://127.0.0.1:{free_port()}", timeout=2)
    with pytest.raises(UpstreamUnavailable):
        await client.search(SearchRequest(queries=["x"]))
    await client.aclose()


def broken_service(status: int, delay: float = 0.0) -> Starlette:
    async def handler(request: Request) -> JSONResponse:
        await asyncio.sleep(delay)
        return JSONResponse({"error": {"code": "x", "message": "down"}}, status_code=status)

    return Starlette(routes=[Route("/v1/search", handler, methods=["POST"])])


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_5xx_is_unavailable(status: int) -> None:
    with serve(broken_service(status)) as url:
        client = RetrievalClient.connect(url)
        with pytest.raises(UpstreamUnavailable, match=str(status)):
            await client.search(SearchRequest(queries=["x"]))
        await client.aclose()


async def test_timeout_is_unavailable() -> None:
    with serve(broken_service(200, delay=2.0)) as url:
        client = RetrievalClient.connect(url, timeout=0.3)
        with pytest.raises(UpstreamTimeout):
            await client.search(SearchRequest(queries=["x"]))
        await client.aclose()


async def test_malformed_answer_is_unavailable() -> None:
    with serve(broken_service(200)) as url:
        client = RetrievalClient.connect(url)
        with pytest.raises(UpstreamUnavailable, match="malformed"):
            await client.search(SearchRequest(queries=["x"]))
        await client.aclose()
