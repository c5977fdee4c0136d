"""The retrieval service over real HTTP (uvicorn, real port), the local model and qdrant-edge."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.retrieval.app import create_app
from services.retrieval.embeddings import LocalEmbedder
from services.retrieval.ingest import book_files
from services.retrieval.settings import RetrievalSettings
from tests.integration.retrieval.conftest import TINY_BOOK, write_book
from tests.support.servers import serve

CORPUS = "tiny"


@pytest.fixture(scope="module")
def service(
    tmp_path_factory: pytest.TempPathFactory, local_embedder: LocalEmbedder
) -> Iterator[httpx.Client]:
    """One service for this module, with the tiny book ingested into corpus `tiny`."""
    root = tmp_path_factory.mktemp("api")
    settings = RetrievalSettings(
        data_dir=root / "index",
        log_level="warning",
        log_json=False,
        redis_url=None,
        chunk_max_chars=600,
        max_body_bytes=2 * 1_048_576,
    )
    with (
        serve(create_app(settings, embedder=local_embedder)) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        files = book_files(write_book(root / "book"))
        response = client.post("/v1/documents", json=ingest_body(files, CORPUS))
        assert response.status_code == 200, response.text
        yield client


def ingest_body(files: list[tuple[str, str]], corpus: str) -> dict[str, Any]:
    return {"corpus": corpus, "documents": [{"path": p, "content": c} for p, c in files]}


def search(client: httpx.Client, **body: Any) -> dict[str, Any]:
    body.setdefault("corpus", CORPUS)
    response = client.post("/v1/search", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def top(result: dict[str, Any]) -> tuple[str, str]:
    source = result["results"][0]["source"]
    return source["document_id"], source["heading_path"][-1]


def test_search_finds_the_passage_with_its_source(service: httpx.Client) -> None:
    result = search(service, queries=["How are embeddings cached in Redis?"], top_k=3)
    assert result["scope"] == "full_book"
    hit = result["results"][0]
    assert hit["source"] == {
        "document_id": "02-search/02-caching",
        "title": "Embedding cache",
        "chapter": 2,
        "lesson": "caching",
        "page": "02-search/02-caching",
        "heading_path": ["Embedding cache", "Redis cache"],
        "url": "/book/02-search/02-caching#redis-cache",
    }
    assert "float32" in hit["text"]
    assert hit["boost"] == 1.0
    scores = [h["score"] for h in result["results"]]
    assert scores == sorted(scores, reverse=True)


def test_several_phrasings_are_fused_and_deduplicated(service: httpx.Client) -> None:
    result = search(
        service,
        queries=["liveness probe", "readiness endpoint for Kubernetes", "liveness probe"],
        top_k=10,
    )
    ids = [h["chunk_id"] for h in result["results"]]
    assert len(ids) == len(set(ids))
    assert top(result) == ("03-ops/01-monitoring", "Health checks")


def test_scopes_filter_strictly(service: httpx.Client) -> None:
    query = ["How do I install it?"]
    page = search(
        service,
        queries=query,
        scope="current_page",
        page_context={"current_page": "/book/02-search/01-scopes#full-book-scope"},
        top_k=10,
    )
    assert {h["source"]["document_id"] for h in page["results"]} == {"02-search/01-scopes"}
    chapter = search(
        service,
        queries=query,
        scope="current_chapter",
        page_context={"current_chapter": 3},
        top_k=10,
    )
    assert chapter["results"]
    assert {h["source"]["chapter"] for h in chapter["results"]} == {3}


def test_full_book_boosts_the_readers_chapter_and_lesson(service: httpx.Client) -> None:
    query = ["where are settings and caches configured?"]
    plain = search(service, queries=query, top_k=10)
    near = search(
        service,
        queries=query,
        top_k=10,
        page_context={"current_chapter": 2, "current_lesson": "caching"},
    )
    plain_scores = {h["chunk_id"]: h["score"] for h in plain["results"]}
    for hit in near["results"]:
        source = hit["source"]
        expected = 1.32 if source["lesson"] == "caching" else 1.2 if source["chapter"] == 2 else 1.0
        assert hit["boost"] == pytest.approx(expected)
        if hit["chunk_id"] in plain_scores:
            assert hit["score"] == pytest.approx(plain_scores[hit["chunk_id"]] * expected, abs=1e-5)
    # Boosting only reorders: the same order as the plain scores times each boost.
    expected_order = sorted(
        (h for h in near["results"] if h["chunk_id"] in plain_scores),
        key=lambda h: -plain_scores[h["chunk_id"]] * h["boost"],
    )
    assert [h["chunk_id"] for h in near["results"] if h["chunk_id"] in plain_scores] == [
        h["chunk_id"] for h in expected_order
    ]
    assert any(h["boost"] > 1 for h in near["results"])


def test_a_strong_match_elsewhere_still_wins_over_the_readers_chapter(
    service: httpx.Client,
) -> None:
    result = search(
        service,
        queries=["Prometheus scrapes the metrics endpoint"],
        page_context={"current_chapter": 1, "current_lesson": "installing"},
    )
    assert top(result) == ("03-ops/01-monitoring", "Metrics")


def test_corpora_are_isolated(service: httpx.Client) -> None:
    result = search(service, queries=["install"], corpus="nobody-here")
    assert result["results"] == []


def test_ingest_is_idempotent_replaces_changed_files_and_deletes(service: httpx.Client) -> None:
    corpus = "idem"
    files = [(p, c) for p, c in TINY_BOOK.items()][:2]
    first = service.post("/v1/documents", json=ingest_body(files, corpus)).json()
    assert [d["status"] for d in first["documents"]] == ["created", "created"]
    again = service.post("/v1/documents", json=ingest_body(files, corpus)).json()
    assert [(d["status"], d["written"], d["deleted"]) for d in again["documents"]] == [
        ("unchanged", 0, 0),
        ("unchanged", 0, 0),
    ]
    path, text = files[1]
    edited = text.replace(
        "## The .env file\n\nValues in a .env file at the repository root are loaded when a "
        "service starts.",
        "## Secrets\n\nSecrets come from a vault mounted at /run/secrets.",
    )
    assert edited != text
    changed = service.post("/v1/documents", json=ingest_body([(path, edited)], corpus)).json()
    [doc] = changed["documents"]
    assert doc["status"] == "updated" and doc["written"] == 1 and doc["deleted"] == 1
    listing = service.get("/v1/documents", params={"corpus": corpus}).json()
    counts = {d["document_id"]: d["chunks"] for d in listing["documents"]}
    assert counts == {"01-basics/01-installing": 3, "01-basics/02-configuration": doc["chunks"]}
    hit = search(service, queries=["where do secrets come from"], corpus=corpus, top_k=1)
    assert "vault" in hit["results"][0]["text"]
    stale = search(service, queries=[".env file at the repository root"], corpus=corpus, top_k=10)
    assert all(".env file" not in h["text"] for h in stale["results"])

    which = {"corpus": corpus, "document_id": "01-basics/02-configuration"}
    deleted = service.delete("/v1/documents", params=which)
    assert deleted.status_code == 200 and deleted.json()["deleted"] == doc["chunks"]
    assert service.delete("/v1/documents", params=which).status_code == 404
    listing = service.get("/v1/documents", params={"corpus": corpus}).json()
    assert [d["document_id"] for d in listing["documents"]] == ["01-basics/01-installing"]


def snapshot(client: httpx.Client) -> list[dict[str, Any]]:
    documents: list[dict[str, Any]] = client.get("/v1/documents", params={"corpus": CORPUS}).json()[
        "documents"
    ]
    return documents


def error_of(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] and body["error"]["message"]
    return body["error"]


def test_a_document_says_where_it_is_published_and_its_chapter(service: httpx.Client) -> None:
    page = "<html><head><title>Herons</title></head><body><main><h1>Herons</h1>"
    page += '<h2 id="nests">Nests</h2><p>Grey herons nest in tall trees in colonies.</p>'
    page += "</main></body></html>"
    doc = {"path": "birds/herons.html", "content": page, "chapter": 4}
    doc["url"] = "https://docs.example.com/birds/herons.html"
    response = service.post("/v1/documents", json={"corpus": "published", "documents": [doc]})
    assert response.status_code == 200, response.text
    hit = search(service, corpus="published", queries=["where do herons nest"])["results"][0]
    assert hit["source"]["url"] == "https://docs.example.com/birds/herons.html#nests"
    assert hit["source"]["chapter"] == 4
    again = service.post("/v1/documents", json={"corpus": "published", "documents": [doc]})
    assert again.json()["documents"][0]["status"] == "unchanged"
    moved = {**doc, "chapter": 5}
    response = service.post("/v1/documents", json={"corpus": "published", "documents": [moved]})
    assert response.json()["documents"][0]["status"] == "updated"  # a new chapter is a change
    for url in ("javascript:alert(1)", "data:text/html,x", "https://a b", "x" * 3000):
        bad = {**doc, "url": url}
        response = service.post("/v1/documents", json={"corpus": "published", "documents": [bad]})
        assert response.status_code == 422, url


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"queries": []}, 422),
        ({"queries": ["   "]}, 422),
        ({"queries": [f"q{i}" for i in range(11)]}, 422),
        ({"queries": ["x"], "top_k": 51}, 422),
        ({"queries": ["x"], "top_k": 0}, 422),
        ({"queries": ["x"], "scope": "everywhere"}, 422),
        ({"queries": ["x"], "surprise": True}, 422),
        ({"queries": ["x"], "scope": "current_page"}, 422),
        ({"queries": ["x"], "scope": "current_chapter", "page_context": {}}, 422),
    ],
)
def test_bad_searches_get_a_clear_4xx(
    service: httpx.Client, body: dict[str, Any], status: int
) -> None:
    response = service.post("/v1/search", json=body)
    assert response.status_code == status, response.text
    error_of(response)


def test_a_narrow_scope_without_its_page_context_says_what_is_missing(
    service: httpx.Client,
) -> None:
    response = service.post("/v1/search", json={"queries": ["x"], "scope": "current_page"})
    assert response.status_code == 422
    error = error_of(response)
    assert (error["code"], error["message"]) == (
        "missing_page_context",
        "scope 'current_page' needs page_context.current_page.",
    )


@pytest.mark.parametrize(
    ("document", "status", "code", "message"),
    [
        (
            {"path": "book.pdf", "content": "%PDF"},
            415,
            "unsupported_media_type",
            "Unsupported file type '.pdf' for 'book.pdf'; supported: .md, .markdown, .html, .htm.",
        ),
        (
            {"path": "a.md", "content": "---\nchapter: two\n---\nbody"},
            422,
            "validation_error",
            "'chapter' in 'a.md' must be an integer, not 'two'.",
        ),
    ],
)
def test_a_refused_document_is_named_in_the_error(
    service: httpx.Client, document: dict[str, str], status: int, code: str, message: str
) -> None:
    response = service.post("/v1/documents", json={"corpus": CORPUS, "documents": [document]})
    assert response.status_code == status
    error = error_of(response)
    assert (error["code"], error["message"]) == (code, message)


def test_bad_uploads_get_a_clear_4xx_and_leave_the_index_unchanged(
    service: httpx.Client,
) -> None:
    before = snapshot(service)
    good = {"path": "09-new/01-page.md", "content": "# New\n\nA page that must not land."}
    cases: list[tuple[dict[str, Any] | bytes, dict[str, str], int]] = [
        ({"corpus": CORPUS, "documents": [good, {"path": "book.pdf", "content": "%PDF"}]}, {}, 415),
        (
            {"corpus": CORPUS, "documents": [good, {"path": "x.md", "content": "\x00\x01" * 50}]},
            {},
            400,  # NUL is refused before anything else: no service can store it
        ),
        ({"corpus": CORPUS, "documents": [good, {"path": "../x.md", "content": "hi"}]}, {}, 422),
        ({"corpus": CORPUS, "documents": [good, good]}, {}, 422),
        ({"corpus": CORPUS, "documents": []}, {}, 422),
        (bytes(range(256)) * 64, {"content-type": "application/json"}, 400),
        (b"# Markdown\n\nraw upload", {"content-type": "text/markdown"}, 415),
        (b"", {"content-type": "application/json"}, 400),
    ]
    for body, headers, status in cases:
        if isinstance(body, dict):
            response = service.post("/v1/documents", json=body, headers=headers)
        else:
            response = service.post("/v1/documents", content=body, headers=headers)
        assert response.status_code == status, (
            body if isinstance(body, dict) else "raw",
            response.text,
        )
        error_of(response)
    assert snapshot(service) == before


def test_a_50_mb_upload_is_refused_without_reading_it_all(service: httpx.Client) -> None:
    before = snapshot(service)
    content = "word " * (10 * 1_048_576)  # 50 MiB of text
    body = json.dumps({"corpus": CORPUS, "documents": [{"path": "big.md", "content": content}]})
    response = service.post(
        "/v1/documents", content=body.encode(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert error_of(response)["code"] == "payload_too_large"
    assert snapshot(service) == before


def test_openapi_health_and_metrics(service: httpx.Client) -> None:
    paths = service.get("/openapi.json").json()["paths"]
    assert set(paths["/v1/documents"]) == {"get", "post", "delete"}
    assert set(paths["/v1/search"]) == {"post"}
    assert service.get("/readyz").json()["status"] == "ready"
    search(service, queries=["metrics endpoint"])
    search(service, queries=["metrics endpoint"])
    metrics = service.get("/metrics").text
    assert 'retrieval_embedding_cache_lookups_total{layer="memory",result="hit"}' in metrics


def test_ingest_on_start_fills_an_empty_corpus_once(
    tmp_path: Path, local_embedder: LocalEmbedder
) -> None:
    book = write_book(tmp_path / "book", dict(list(TINY_BOOK.items())[:1]))
    settings = RetrievalSettings(
        data_dir=tmp_path / "index",
        log_level="warning",
        log_json=False,
        redis_url=None,
        ingest_on_start=book,
        ingest_corpus="boot",
    )
    for _ in range(2):
        with (
            serve(create_app(settings, embedder=local_embedder)) as url,
            httpx.Client(base_url=url) as client,
        ):
            for _ in range(200):
                if client.get("/readyz").status_code == 200:
                    break
                time.sleep(0.05)
            assert client.get("/readyz").status_code == 200
            listing = client.get("/v1/documents", params={"corpus": "boot"}).json()
            assert [d["document_id"] for d in listing["documents"]] == ["01-basics/01-installing"]
