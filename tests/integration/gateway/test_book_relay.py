"""The gateway's book is the retrieval service's: `/api/book` and `/api/book/{page}` relay
a real retrieval service's pages of the configured corpus over real HTTP, and map its
failures to the gateway's error statuses."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from shared.contracts.gateway import BookPage, BookToc
from tests.integration.gateway.book_service import serve_book
from tests.support.servers import free_port, serve

TOKEN = "book-relay-token"
MINE = {
    "intro.md": "# Welcome\n\nA page at the top of the corpus.\n",
    "guides/deep/setup.md": "---\ntitle: Deep setup\n---\n# Deep setup\n\n## Wiring it\n\nWires.\n",
    "guides/field.html": (
        "<html><head><title>Field notes</title></head><body><h1>Field notes</h1>"
        "<h2>Herons</h2><p>Herons wait.<img src=x onerror=alert(1)></p>"
        "<script>alert(2)</script></body></html>"
    ),
}


@pytest.fixture(scope="module")
def mine_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Retrieval with a corpus `mine` of nested folders, Markdown and HTML, token-checked."""
    root = tmp_path_factory.mktemp("mine")
    for rel, text in MINE.items():
        (root / "docs" / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / "docs" / rel).write_text(text)
    with serve_book(root / "data", book=root / "docs", corpus="mine", token=TOKEN) as url:
        yield url


@pytest.fixture
def mine_gateway(
    make_gateway: Callable[..., AbstractContextManager[str]], mine_url: str
) -> Iterator[str]:
    with make_gateway(retrieval_url=mine_url, corpus="mine", internal_token=TOKEN) as url:
        yield url


async def get(base: str, path: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        return await client.get(path)


async def test_the_demo_book_is_relayed_as_retrieval_serves_it(
    client: httpx.AsyncClient, book_url: str
) -> None:
    toc = BookToc.model_validate_json((await client.get("/api/book")).content)
    pages = [lesson.page for chapter in toc.chapters for lesson in chapter.lessons]
    assert pages[0] == "01-getting-started/01-what-is-it" and len(pages) > 10
    answer = await client.get("/api/book/02-asking-the-assistant/01-page-context-and-selection")
    assert answer.status_code == 200
    page = BookPage.model_validate_json(answer.content)
    assert page.lesson.chapter == 2 and page.lesson.lesson == "page-context-and-selection"
    assert 'id="the-page_context-object"' in page.html
    direct = await get(
        book_url, "/v1/corpora/default/pages/02-asking-the-assistant/01-page-context-and-selection"
    )
    assert direct.json() == answer.json()  # the same JSON, relayed


async def test_the_configured_corpus_is_shown_with_nested_and_html_pages(
    mine_gateway: str,
) -> None:
    toc = (await get(mine_gateway, "/api/book")).json()
    assert [(c["slug"], [x["page"] for x in c["lessons"]]) for c in toc["chapters"]] == [
        ("", ["intro"]),
        ("guides", ["guides/field"]),
        ("guides/deep", ["guides/deep/setup"]),
    ]
    deep = (await get(mine_gateway, "/api/book/guides/deep/setup")).json()
    assert deep["lesson"]["title"] == "Deep setup" and 'id="wiring-it"' in deep["html"]
    assert (deep["previous"], deep["next"]) == ("guides/field", None)
    field = (await get(mine_gateway, "/api/book/guides/field")).json()
    assert '<h2 id="herons">Herons</h2>' in field["html"]
    assert "alert" not in field["html"] and "<script" not in field["html"]
    top = await get(mine_gateway, "/api/book/intro")
    assert top.status_code == 200 and top.json()["lesson"]["title"] == "Welcome"


@pytest.mark.parametrize(
    "path",
    [
        "/api/book/nope/nope",
        "/api/book/guides",
        "/api/book/..%2F..%2Fv1%2Fdocuments",
        "/api/book/guides/%2E%2E/intro",
        "/api/book/guides/%2E/field",
        "/api/book/a%20b",
    ],
)
async def test_pages_it_does_not_have_are_404(mine_gateway: str, path: str) -> None:
    answer = await get(mine_gateway, path)
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"


async def test_a_corpus_without_pages_is_404(
    make_gateway: Callable[..., AbstractContextManager[str]], mine_url: str
) -> None:
    with make_gateway(retrieval_url=mine_url, corpus="empty", internal_token=TOKEN) as url:
        answer = await get(url, "/api/book")
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found"


def failing_retrieval(status: int, body: bytes = b"") -> Starlette:
    async def answer(request: Request) -> Response:
        if status >= 500:
            return JSONResponse({"error": {"code": "x", "message": "boom"}}, status_code=status)
        return Response(body, status_code=status, media_type="application/json")

    return Starlette(routes=[Route("/{path:path}", answer)])


@pytest.mark.parametrize(
    ("retrieval", "status"),
    [
        (failing_retrieval(500), 502),
        (failing_retrieval(503), 502),
        (failing_retrieval(401, b'{"error": {"code": "unauthorized", "message": "no"}}'), 502),
        (failing_retrieval(200, b'{"chapters": "not a list"}'), 503),
    ],
)
async def test_retrieval_failures_map_to_the_gateways_statuses(
    make_gateway: Callable[..., AbstractContextManager[str]], retrieval: Any, status: int
) -> None:
    with serve(retrieval) as broken, make_gateway(retrieval_url=broken) as url:
        for path in ("/api/book", "/api/book/a/b"):
            answer = await get(url, path)
            assert answer.status_code == status, (path, answer.text)
            assert "retrieval" in answer.json()["error"]["message"]


async def test_retrieval_down_is_503(
    make_gateway: Callable[..., AbstractContextManager[str]], tmp_path: Path
) -> None:
    with make_gateway(retrieval_url=f"http://127.0.0.1:{free_port()}") as url:
        answer = await get(url, "/api/book")
    assert answer.status_code == 503
    assert (
        answer.json()["error"]["message"] == "The retrieval service is unavailable; retry shortly."
    )


async def test_a_page_larger_than_the_bound_is_refused(
    make_gateway: Callable[..., AbstractContextManager[str]], mine_url: str
) -> None:
    with make_gateway(
        retrieval_url=mine_url, corpus="mine", internal_token=TOKEN, book_max_bytes=65_536
    ) as url:
        assert (await get(url, "/api/book/intro")).status_code == 200
    big = failing_retrieval(200, b'{"chapters": []' + b" " * 70_000 + b"}")
    with serve(big) as broken, make_gateway(retrieval_url=broken, book_max_bytes=65_536) as url:
        assert (await get(url, "/api/book")).status_code == 503


async def test_entities_for_mentions_are_relayed_and_bounded(mine_gateway: str) -> None:
    found = (await get(mine_gateway, "/api/entities?q=deep")).json()["entities"]
    assert [(e["id"], e["group"], e["page"]) for e in found] == [
        ("chapter:guides/deep", "Chapters", None),
        ("page:guides/deep/setup", "Pages", "guides/deep/setup"),
    ]
    everything = (await get(mine_gateway, "/api/entities?limit=50")).json()["entities"]
    assert {e["id"] for e in everything} >= {"page:intro", "page:guides/field", "chapter:guides"}
    refused = await get(mine_gateway, "/api/entities?limit=51")
    assert refused.status_code == 422
    assert refused.json()["error"]["code"]
