"""The pages the reader shows, served by the retrieval service over real HTTP: table of
contents and pages of an ingested corpus (Markdown and HTML), sanitised, 404s enveloped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.retrieval.app import create_app
from services.retrieval.embeddings import LocalEmbedder
from services.retrieval.settings import RetrievalSettings
from shared.contracts.pages import PageContent, PageToc
from tests.integration.retrieval.conftest import TINY_BOOK
from tests.support.servers import serve

CORPUS = "pages"
TOKEN = "pages-test-token"
HTML_PAGE = """<!doctype html><html><head><title>Field guide</title>
<meta name="chapter" content="9"><script>alert("head")</script></head>
<body><h1>Field guide</h1>
<p>Birds are <b>small</b>. <img src="bird.png" onerror="alert('img')"></p>
<h2>Spotting herons</h2><p onclick="alert('p')">Herons stand still in shallow water.</p>
<a href="javascript:alert('link')">click</a><script>alert("body")</script>
</body></html>"""
FILES = {
    "01-basics/01-installing.md": TINY_BOOK["01-basics/01-installing.md"],
    "01-basics/02-configuration.md": TINY_BOOK["01-basics/02-configuration.md"],
    "nature/field-guide.html": HTML_PAGE,
}


@pytest.fixture(scope="module")
def client(
    tmp_path_factory: pytest.TempPathFactory, local_embedder: LocalEmbedder
) -> Iterator[httpx.Client]:
    root: Path = tmp_path_factory.mktemp("pages")
    settings = RetrievalSettings(
        data_dir=root / "index",
        log_level="warning",
        log_json=False,
        redis_url=None,
        internal_token=TOKEN,
    )
    headers = {"x-service-token": TOKEN}
    with (
        serve(create_app(settings, embedder=local_embedder)) as url,
        httpx.Client(base_url=url, timeout=60, headers=headers) as client,
    ):
        body = {
            "corpus": CORPUS,
            "documents": [{"path": p, "content": c} for p, c in FILES.items()],
        }
        response = client.post("/v1/documents", json=body)
        assert response.status_code == 200, response.text
        yield client


def test_the_toc_lists_the_ingested_pages_by_folder(client: httpx.Client) -> None:
    response = client.get(f"/v1/corpora/{CORPUS}/toc")
    assert response.status_code == 200, response.text
    toc = PageToc.model_validate_json(response.content)
    assert [(c.slug, c.title) for c in toc.chapters] == [
        ("01-basics", "Basics"),
        ("nature", "Nature"),
    ]
    lessons = [(x.page, x.title, x.chapter) for c in toc.chapters for x in c.lessons]
    assert lessons == [
        ("01-basics/01-installing", "Installing the platform", 1),
        ("01-basics/02-configuration", "Configuration", 1),
        ("nature/field-guide", "Field guide", 9),
    ]


def test_a_markdown_page_carries_the_anchors_its_hits_cite(client: httpx.Client) -> None:
    response = client.get(f"/v1/corpora/{CORPUS}/pages/01-basics/02-configuration")
    assert response.status_code == 200, response.text
    page = PageContent.model_validate_json(response.content)
    assert (page.previous, page.next) == ("01-basics/01-installing", "nature/field-guide")
    hits = client.post(
        "/v1/search",
        json={"queries": ["per-service prefix environment variables"], "corpus": CORPUS},
    ).json()["results"]
    top = hits[0]["source"]
    assert top["document_id"] == "01-basics/02-configuration"
    anchor = top["url"].split("#", 1)[1]
    assert top["url"] == f"/book/01-basics/02-configuration#{anchor}"
    assert f'id="{anchor}"' in page.html


def test_an_html_page_keeps_its_structure_without_any_script(client: httpx.Client) -> None:
    response = client.get(f"/v1/corpora/{CORPUS}/pages/nature/field-guide")
    assert response.status_code == 200, response.text
    html = PageContent.model_validate_json(response.content).html
    assert '<h2 id="spotting-herons">Spotting herons</h2>' in html
    assert "<b>small</b>" in html and '<img src="bird.png">' in html
    for banned in ("<script", "alert", "onerror", "onclick", "javascript:"):
        assert banned not in html, banned
    hits = client.post(
        "/v1/search", json={"queries": ["herons in shallow water"], "corpus": CORPUS}
    ).json()["results"]
    assert hits[0]["source"]["url"] == "/book/nature/field-guide#spotting-herons"


@pytest.mark.parametrize(
    "path",
    [
        f"/v1/corpora/{CORPUS}/pages/nope/nope",
        f"/v1/corpora/{CORPUS}/pages/01-basics",
        "/v1/corpora/unknown/pages/01-basics/01-installing",
        "/v1/corpora/unknown/toc",
    ],
)
def test_unknown_pages_and_corpora_are_404_in_the_envelope(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_pages_need_the_service_token(client: httpx.Client) -> None:
    response = httpx.get(f"{client.base_url}/v1/corpora/{CORPUS}/toc")
    assert response.status_code == 401


def test_the_routes_are_documented(client: httpx.Client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/v1/corpora/{corpus}/toc" in paths
    assert "/v1/corpora/{corpus}/pages/{document_id}" in paths


def test_deleting_a_document_removes_its_page(client: httpx.Client) -> None:
    body = {"corpus": "scratch", "documents": [{"path": "x/gone.md", "content": "# Gone\n"}]}
    assert client.post("/v1/documents", json=body).status_code == 200
    assert client.get("/v1/corpora/scratch/pages/x/gone").status_code == 200
    params = {"corpus": "scratch", "document_id": "x/gone"}
    assert client.delete("/v1/documents", params=params).status_code == 200
    assert client.get("/v1/corpora/scratch/pages/x/gone").status_code == 404
    assert client.delete("/v1/documents", params=params).status_code == 404
