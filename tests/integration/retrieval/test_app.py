"""The app's wiring: its error table for failed dependencies, and its lifespan state reaching
handlers also when metrics are served on a port of their own."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
from qdrant_client import AsyncQdrantClient

from services.retrieval.app import create_app
from services.retrieval.embeddings import LocalEmbedder
from services.retrieval.index.server import ServerIndex
from services.retrieval.settings import RetrievalSettings
from tests.support.servers import free_port, serve

UNAVAILABLE = {
    "code": "unavailable",
    "message": "A dependency of the retrieval service failed; retry shortly.",
}


def settings_for(tmp_path: Path, **overrides: Any) -> RetrievalSettings:
    return RetrievalSettings(
        data_dir=tmp_path / "index",
        log_level="error",
        log_json=False,
        redis_url=None,
        **overrides,
    )


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "1"
    error = response.json()["error"]
    assert {k: error[k] for k in UNAVAILABLE} == UNAVAILABLE


def test_an_unreachable_embeddings_endpoint_is_a_503_that_names_no_internals(
    tmp_path: Path,
) -> None:
    closed = f"http://127.0.0.1:{free_port()}/v1"
    settings = settings_for(
        tmp_path,
        embedding_provider="openai",
        openai_base_url=closed,
        embedding_model="some-embed",
        openai_api_key="sk-secret",
    )
    with serve(create_app(settings)) as url, httpx.Client(base_url=url, timeout=60) as client:
        response = client.post("/v1/search", json={"queries": ["anything"]})
        assert_unavailable(response)
        assert "127.0.0.1" not in response.text and "sk-secret" not in response.text


def test_an_unreachable_qdrant_server_is_a_503_and_not_ready(
    tmp_path: Path, local_embedder: LocalEmbedder
) -> None:
    client = AsyncQdrantClient(
        url=f"http://127.0.0.1:{free_port()}", timeout=5, check_compatibility=False
    )
    index = ServerIndex(client, "chunks", local_embedder.dimension)
    settings = settings_for(tmp_path)
    try:
        with (
            serve(create_app(settings, embedder=local_embedder, index=index)) as url,
            httpx.Client(base_url=url, timeout=60) as http,
        ):
            assert_unavailable(http.post("/v1/search", json={"queries": ["anything"]}))
            assert_unavailable(http.get("/v1/documents", params={"corpus": "default"}))
            ready = http.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["error"]["message"] == "Not ready: index"
    finally:
        asyncio.run(index.close())


def test_handlers_get_the_lifespan_state_with_metrics_on_their_own_port(
    tmp_path: Path, local_embedder: LocalEmbedder
) -> None:
    metrics_port = free_port()
    settings = settings_for(tmp_path, metrics_port=metrics_port)
    with (
        serve(create_app(settings, embedder=local_embedder)) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        search = client.post("/v1/search", json={"queries": ["anything"]})
        assert search.status_code == 200, search.text
        assert search.json()["results"] == []
        assert client.get("/readyz").status_code == 200
        assert client.get("/metrics").status_code == 404
        metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10)
        assert 'route="/v1/search"' in metrics.text
