"""The pages contract: the gateway's `RetrievalClient` -> retrieval service over real HTTP,
and the retrieval pages the gateway relays as its own `BookToc`/`BookPage` unchanged."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from services.gateway.retrieval_client import RetrievalClient
from shared.contracts.gateway import BookChapter, BookLesson, BookPage, BookToc
from shared.contracts.pages import PageChapter, PageContent, PageEntry, PageToc
from shared.http import ServiceHttp
from tests.integration.gateway.book_service import serve_book

TOKEN = "pages-contract-token"
FILES = {
    "01-start/01-welcome.md": "# Welcome\n\n## Signing in\n\nUse the magic link.\n",
    "01-start/nested/02-more.html": "<h1>More</h1><h2>Details</h2><p>Details here.</p>",
}


@pytest.fixture(scope="module")
def retrieval_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root: Path = tmp_path_factory.mktemp("pages-contract")
    for rel, text in FILES.items():
        (root / "book" / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / "book" / rel).write_text(text)
    with serve_book(root / "data", book=root / "book", corpus="c", token=TOKEN) as url:
        yield url


@pytest.fixture
async def client(retrieval_url: str) -> AsyncIterator[RetrievalClient]:
    http = ServiceHttp(retrieval_url, service="retrieval", token=TOKEN)
    yield RetrievalClient(http)
    await http.aclose()


@pytest.mark.parametrize(
    ("ours", "relayed"),
    [
        (PageEntry, BookLesson),
        (PageChapter, BookChapter),
        (PageToc, BookToc),
        (PageContent, BookPage),
    ],
)
def test_the_gateway_relays_the_same_shapes(
    ours: type[BaseModel], relayed: type[BaseModel]
) -> None:
    assert ours.model_fields.keys() == relayed.model_fields.keys()


def test_every_field_survives_the_relay() -> None:
    entry = PageEntry(page="a/b", title="B", chapter=3, lesson="b")
    toc = PageToc(chapters=[PageChapter(chapter=3, slug="a", title="A", lessons=[entry])])
    page = PageContent(lesson=entry, html="<p>x</p>", previous="a/a", next=None)
    for model, relayed in ((toc, BookToc), (page, BookPage)):
        assert relayed.model_validate(model.model_dump()).model_dump() == model.model_dump()


async def test_toc_and_pages_round_trip(client: RetrievalClient) -> None:
    toc = await client.toc("c")
    assert toc is not None
    relayed = BookToc.model_validate(toc.model_dump())
    assert [x.page for c in relayed.chapters for x in c.lessons] == [
        "01-start/01-welcome",
        "01-start/nested/02-more",
    ]
    page = await client.page("c", "01-start/nested/02-more")
    assert page is not None
    book_page = BookPage.model_validate(page.model_dump())
    assert book_page.previous == "01-start/01-welcome" and 'id="details"' in book_page.html


async def test_missing_corpus_and_page_are_none(client: RetrievalClient) -> None:
    assert await client.toc("nope") is None
    assert await client.page("c", "01-start/none") is None
    assert await client.page("c", "01-start/../01-start/01-welcome") is None
    assert await client.page("nope", "01-start/01-welcome") is None
