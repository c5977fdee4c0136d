"""The embedding cache against a real Redis: keys, raw float32 values, TTL, one MGET per batch,
and Redis down or slow counting as a miss."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import threading
from collections.abc import Iterator

import numpy as np
import pytest
import redis

from services.retrieval.cache import CachedEmbedder, RedisVectors
from services.retrieval.embeddings import Vectors, normalize
from tests.support.servers import free_port


def fake_vectors(texts: list[str], dimension: int) -> Vectors:
    """Deterministic unit vectors seeded by each text's hash."""
    rows = [
        np.random.default_rng(int.from_bytes(hashlib.sha256(t.encode()).digest()[:8])).normal(
            size=dimension
        )
        for t in texts
    ]
    return normalize(np.stack(rows) if rows else np.zeros((0, dimension)))


class CountingEmbedder:
    """A deterministic provider that records every call (the provider is not under test)."""

    model_id = "test/counting"
    dimension = 16

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    async def embed(self, texts: list[str], purpose: str = "query") -> Vectors:
        self.calls.append(list(texts))
        return fake_vectors(texts, self.dimension)

    async def close(self) -> None:
        pass


def redis_cache(url: str, prefix: str, **kwargs: object) -> tuple[CachedEmbedder, CountingEmbedder]:
    inner = CountingEmbedder()
    store = RedisVectors(url, ttl_s=3600, timeout_s=0.2, retry_after_s=0.0)
    return CachedEmbedder(inner, redis=store, prefix=prefix, **kwargs), inner  # type: ignore[arg-type]


async def test_batch_embeds_only_misses_and_stores_raw_float32_with_ttl(
    redis_url: str, key_prefix: str
) -> None:
    cache, inner = redis_cache(redis_url, key_prefix, lru_size=0)
    first = await cache.embed(["alpha", "beta", "alpha"])
    assert inner.calls == [["alpha", "beta"]]  # one call, duplicates embedded once
    np.testing.assert_array_equal(first[0], first[2])

    raw = redis.Redis.from_url(redis_url)
    key = f"{key_prefix}test/counting:16:" + hashlib.sha256(b"alpha").hexdigest()
    assert cache.key("alpha") == key
    value = raw.get(key)
    assert isinstance(value, bytes) and len(value) == 16 * 4
    np.testing.assert_array_equal(np.frombuffer(value, dtype=np.float32), first[0])
    assert 3500 < raw.ttl(key) <= 3600

    second = await cache.embed(["beta", "gamma", "alpha"])
    assert inner.calls[1] == ["gamma"]
    np.testing.assert_array_equal(second[0], first[1])
    np.testing.assert_array_equal(second[2], first[0])
    assert cache.stats["redis_hits"] == 2
    await cache.close()
    raw.close()


async def test_a_second_process_view_shares_redis_and_the_lru_answers_first(
    redis_url: str, key_prefix: str
) -> None:
    one, _inner_one = redis_cache(redis_url, key_prefix)
    two, inner_two = redis_cache(redis_url, key_prefix)
    await one.embed(["shared text"])
    await two.embed(["shared text"])
    assert inner_two.calls == []
    assert two.stats == {"memory_hits": 0, "redis_hits": 1, "misses": 0}
    await two.embed(["shared text"])
    assert two.stats["memory_hits"] == 1  # the LRU, no Redis round trip
    await one.close()
    await two.close()


async def test_corrupt_value_is_a_miss(redis_url: str, key_prefix: str) -> None:
    cache, inner = redis_cache(redis_url, key_prefix, lru_size=0)
    raw = redis.Redis.from_url(redis_url)
    raw.set(cache.key("broken"), b"\x00\x01")
    vectors = await cache.embed(["broken"])
    assert inner.calls == [["broken"]]
    assert vectors.shape == (1, 16)
    await cache.close()
    raw.close()


async def test_redis_unreachable_is_a_miss_not_an_error(key_prefix: str) -> None:
    cache, inner = redis_cache(f"redis://127.0.0.1:{free_port()}/0", key_prefix)
    vectors = await cache.embed(["a", "b"])
    assert vectors.shape == (2, 16)
    assert inner.calls == [["a", "b"]]
    await cache.close()


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server that accepts connections and never answers (a hung Redis)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
                held.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield port
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    listener.close()


async def test_slow_redis_times_out_as_a_miss(silent_server: int) -> None:
    inner = CountingEmbedder()
    store = RedisVectors(
        f"redis://127.0.0.1:{silent_server}/0", ttl_s=60, timeout_s=0.05, retry_after_s=30
    )
    cache = CachedEmbedder(inner, redis=store)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await cache.embed(["x"])
    assert loop.time() - started < 1.0
    assert inner.calls == [["x"]]
    # Backing off: the next batch does not wait on Redis at all.
    started = loop.time()
    await cache.embed(["y"])
    assert loop.time() - started < 0.04
    assert not store.available
    await cache.close()
