"""Real infrastructure for retrieval tests: the local model (loaded once), Redis, a tiny book."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from services.retrieval.embeddings import LocalEmbedder
from tests.support.redis_server import RedisServer, reachable

TINY_BOOK: dict[str, str] = {
    "01-basics/01-installing.md": """---
title: Installing the platform
chapter: 1
lesson: installing
---

# Installing the platform

This lesson shows how to install the platform on a laptop.

## Requirements

You need Python 3.11 and make. Docker is not required for local development.

## Running the installer

Run `make install` to create the virtual environment and install every service.
""",
    "01-basics/02-configuration.md": """---
title: Configuration
chapter: 1
lesson: configuration
---

# Configuration

## Environment variables

Every setting is read from environment variables with a per-service prefix, such as
RETRIEVAL_PORT for the retrieval service.

## The .env file

Values in a .env file at the repository root are loaded when a service starts.
""",
    "02-search/01-scopes.md": """---
title: Search scopes
chapter: 2
lesson: scopes
---

# Search scopes

## Current page scope

The current page scope filters results to the page the reader has open.

## Full book scope

The full book scope searches every chapter and boosts results near the reader.
""",
    "02-search/02-caching.md": """---
title: Embedding cache
chapter: 2
lesson: caching
---

# Embedding cache

## Redis cache

Embeddings are cached in Redis as raw float32 bytes with a time to live, so a repeated
query is not embedded twice.

## In-process cache

A small LRU inside each process answers the hottest queries without a network round trip.
""",
    "03-ops/01-monitoring.md": """---
title: Monitoring
chapter: 3
lesson: monitoring
---

# Monitoring

## Metrics

Prometheus scrapes the /metrics endpoint of each service for request counts and latency.

## Health checks

Kubernetes probes /healthz for liveness and /readyz for readiness.
""",
}
"""Five lessons in three chapters: small enough to embed in a couple of seconds."""


def write_book(root: Path, files: dict[str, str] | None = None) -> Path:
    """Write the tiny book (or `files`) under `root`."""
    for rel, text in (files or TINY_BOOK).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def local_embedder() -> Iterator[LocalEmbedder]:
    """The bundled all-MiniLM-L6-v2, loaded once per test session."""
    embedder = LocalEmbedder()
    yield embedder


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`REDIS_URL` (default redis://127.0.0.1:6379/0), else a redis-server of our own."""
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    if reachable(url):
        yield url
        return
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def key_prefix(redis_url: str) -> Iterator[str]:
    """A Redis key prefix of this test alone; its keys are deleted afterwards."""
    prefix = f"test:retrieval:{uuid.uuid4().hex[:12]}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()
