"""Redis dying mid-run changes nothing but the cache hit rate: same answers, no errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from services.retrieval.app import create_app
from services.retrieval.embeddings import LocalEmbedder
from services.retrieval.ingest import book_files
from services.retrieval.settings import RetrievalSettings
from tests.integration.retrieval.conftest import write_book
from tests.support.redis_server import RedisServer
from tests.support.servers import serve

QUERIES = [
    ["How are embeddings cached?"],
    ["liveness and readiness probes"],
    ["install with make", "installer command"],
    ["which environment variables configure a service?"],
]


def cache_counts(client: httpx.Client) -> dict[str, float]:
    counts: dict[str, float] = {}
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("retrieval_embedding_cache_lookups_total{"):
            labels, value = line.rsplit(" ", 1)
            counts[labels.split("{", 1)[1].rstrip("}")] = float(value)
    return counts


def answers(client: httpx.Client) -> list[list[tuple[str, float]]]:
    out = []
    for queries in QUERIES:
        response = client.post("/v1/search", json={"queries": queries, "top_k": 5})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        out.append([(h["chunk_id"], round(h["score"], 4)) for h in body["results"]])
    return out


def test_killing_redis_mid_run_only_lowers_the_hit_rate(
    tmp_path: Path, local_embedder: LocalEmbedder
) -> None:
    redis = RedisServer(tmp_path)
    redis.start()
    settings = RetrievalSettings(
        data_dir=tmp_path / "index",
        log_level="error",
        log_json=False,
        redis_url=redis.url,
        lru_size=0,  # every lookup goes to Redis while it lives
        cache_timeout_s=0.2,
        cache_retry_after_s=0.0,
    )
    try:
        with (
            serve(create_app(settings, embedder=local_embedder)) as url,
            httpx.Client(base_url=url, timeout=60) as client,
        ):
            files = book_files(write_book(tmp_path / "book"))
            body = {"documents": [{"path": p, "content": c} for p, c in files]}
            assert client.post("/v1/documents", json=body).status_code == 200

            first = answers(client)  # fills Redis
            before = cache_counts(client)
            warm = answers(client)  # all Redis hits
            after_warm = cache_counts(client)
            redis_hits = (
                after_warm['layer="redis",result="hit"'] - before['layer="redis",result="hit"']
            )
            assert redis_hits == sum(len(q) for q in QUERIES)

            redis.stop()
            cold = answers(client)  # Redis gone: misses, embedded again, same results
            after_kill = cache_counts(client)
            assert (
                after_kill['layer="redis",result="hit"'] == after_warm['layer="redis",result="hit"']
            )
            assert (
                after_kill['layer="redis",result="miss"']
                > after_warm['layer="redis",result="miss"']
            )
            assert first == warm == cold
            assert client.post("/v1/documents", json=body).status_code == 200
            assert client.get("/readyz").status_code == 200
    finally:
        redis.stop()
