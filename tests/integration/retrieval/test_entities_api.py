"""What a reader can @-mention, served by the retrieval service over real HTTP: chapters
and pages of an ingested corpus matched by title, bounded, 404/422 in the envelope."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.retrieval.app import create_app
from services.retrieval.embeddings import LocalEmbedder
from services.retrieval.settings import RetrievalSettings
from shared.contracts.pages import MAX_ENTITIES, MAX_ENTITY_QUERY, EntityList
from tests.integration.retrieval.conftest import TINY_BOOK
from tests.support.servers import serve

CORPUS = "mentions"
TOKEN = "entities-test-token"
FILES = {
    **TINY_BOOK,
    "nature/field-guide.md": "---\ntitle: Field guide to herons\n---\n# Herons\n\nThey wade.\n",
}


@pytest.fixture(scope="module")
def client(
    tmp_path_factory: pytest.TempPathFactory, local_embedder: LocalEmbedder
) -> Iterator[httpx.Client]:
    root: Path = tmp_path_factory.mktemp("entities")
    settings = RetrievalSettings(
        data_dir=root / "index",
        log_level="warning",
        log_json=False,
        redis_url=None,
        internal_token=TOKEN,
    )
    with (
        serve(create_app(settings, embedder=local_embedder)) as url,
        httpx.Client(base_url=url, timeout=60, headers={"x-service-token": TOKEN}) as client,
    ):
        body = {
            "corpus": CORPUS,
            "documents": [{"path": p, "content": c} for p, c in FILES.items()],
        }
        assert client.post("/v1/documents", json=body).status_code == 200
        yield client


def entities(client: httpx.Client, **params: str | int) -> EntityList:
    response = client.get(f"/v1/corpora/{CORPUS}/entities", params=params)
    assert response.status_code == 200, response.text
    return EntityList.model_validate_json(response.content)


def test_a_word_prefix_finds_pages_and_chapters_by_title(client: httpx.Client) -> None:
    found = entities(client, q="her").entities
    assert [(e.id, e.group, e.page) for e in found] == [
        ("page:nature/field-guide", "Pages", "nature/field-guide")
    ]
    chapter = entities(client, q="basics").entities[0]
    assert (chapter.id, chapter.group, chapter.page, chapter.folder) == (
        "chapter:01-basics",
        "Chapters",
        None,
        "01-basics",
    )


def test_every_word_must_match_and_case_and_accents_do_not_matter(client: httpx.Client) -> None:
    assert [e.id for e in entities(client, q="FIELD Hérons").entities] == [
        "page:nature/field-guide"
    ]
    assert entities(client, q="field zebras").entities == []


def test_an_empty_query_lists_the_book_in_order_up_to_the_limit(client: httpx.Client) -> None:
    everything = entities(client, limit=MAX_ENTITIES).entities
    assert len(everything) == len(FILES) + len({p.split("/")[0] for p in FILES})
    first_two = entities(client, limit=2).entities
    assert [e.id for e in first_two] == [e.id for e in everything[:2]]


@pytest.mark.parametrize(
    "params",
    [{"limit": MAX_ENTITIES + 1}, {"limit": 0}, {"q": "x" * (MAX_ENTITY_QUERY + 1)}],
)
def test_unbounded_searches_are_422(client: httpx.Client, params: dict[str, str | int]) -> None:
    response = client.get(f"/v1/corpora/{CORPUS}/entities", params=params)
    assert response.status_code == 422
    assert response.json()["error"]["code"]


def test_an_unknown_corpus_is_404(client: httpx.Client) -> None:
    response = client.get("/v1/corpora/nobody/entities", params={"q": "x"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
