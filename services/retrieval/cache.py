"""Embedding cache: an in-process LRU in front of Redis, in front of the provider.

Redis keys are `prefix + model id + dimension + sha256(text)`; values are the raw
float32 bytes. A batch costs one MGET, one provider call for the misses and one
pipelined SET with TTL. Redis being down or slow is a miss, never an error.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import MutableMapping

import numpy as np
import redis.asyncio as aioredis
from cachetools import LRUCache
from prometheus_client import Counter
from redis.exceptions import RedisError

from services.retrieval.embeddings import Embedder, Purpose, Vectors

logger = logging.getLogger(__name__)

CACHE_LOOKUPS = Counter(
    "retrieval_embedding_cache_lookups_total",
    "Embedding cache lookups by layer (memory, redis) and result (hit, miss).",
    ["layer", "result"],
)
CACHE_ERRORS = Counter(
    "retrieval_embedding_cache_errors_total",
    "Redis cache operations that failed or timed out (each counted as misses).",
)
EMBEDDED_TEXTS = Counter(
    "retrieval_embedded_texts_total",
    "Texts sent to the embedding provider (cache misses).",
)


class RedisVectors:
    """Float32 vectors in Redis; every failure is logged, counted and reported as a miss."""

    def __init__(
        self,
        url: str,
        *,
        ttl_s: int,
        timeout_s: float = 0.05,
        retry_after_s: float = 5.0,
    ) -> None:
        self.ttl_s = ttl_s
        self.retry_after_s = retry_after_s
        self._down_until = 0.0
        self.client: aioredis.Redis = aioredis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry_on_timeout=False,
            health_check_interval=0,
        )

    @property
    def available(self) -> bool:
        """False while backing off after a failure."""
        return time.monotonic() >= self._down_until

    def _failed(self, what: str, exc: BaseException) -> None:
        CACHE_ERRORS.inc()
        if self.available:
            logger.warning(
                "redis cache %s failed, skipping it for %.1fs: %s", what, self.retry_after_s, exc
            )
        self._down_until = time.monotonic() + self.retry_after_s

    async def mget(self, keys: list[str]) -> list[bytes | None]:
        if not keys or not self.available:
            return [None] * len(keys)
        try:
            values = await self.client.mget(keys)
            return [value if isinstance(value, bytes) else None for value in values]
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed("read", exc)
            return [None] * len(keys)

    async def set_many(self, items: dict[str, bytes]) -> None:
        if not items or not self.available:
            return
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for key, value in items.items():
                    pipe.set(key, value, ex=self.ttl_s)
                await pipe.execute()
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed("write", exc)

    async def ping(self) -> None:
        await self.client.ping()

    async def close(self) -> None:
        await self.client.aclose()


class CachedEmbedder:
    """An `Embedder` that consults the LRU, then Redis, and embeds only what both miss."""

    def __init__(
        self,
        inner: Embedder,
        *,
        redis: RedisVectors | None = None,
        prefix: str = "chatkit:emb:",
        lru_size: int = 20_000,
    ) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.dimension = inner.dimension
        self.redis = redis
        self.lru: LRUCache[str, Vectors] | None = LRUCache(lru_size) if lru_size > 0 else None
        self._prefix = f"{prefix}{inner.model_id}:{inner.dimension}:"
        self.stats = {"memory_hits": 0, "redis_hits": 0, "misses": 0}

    def key(self, text: str) -> str:
        """Cache key of `text` for this model and dimension."""
        return self._prefix + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()

    async def embed(self, texts: list[str], purpose: Purpose = "query") -> Vectors:
        """Vectors of `texts`. Documents (bulk ingestion) stay out of the LRU, which is for
        query embeddings."""
        use_lru = purpose == "query"
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        keys = [self.key(text) for text in texts]
        # Documents (and lru_size=0) get a throwaway dict: nothing they put outlives the call.
        lru: MutableMapping[str, Vectors] = self.lru if use_lru and self.lru is not None else {}
        pending: dict[str, list[int]] = {}
        for i, key in enumerate(keys):
            vector = lru.get(key)
            if vector is not None:
                out[i] = vector
            else:
                pending.setdefault(key, []).append(i)
        if use_lru:
            memory_hits = len(texts) - sum(len(v) for v in pending.values())
            self.stats["memory_hits"] += memory_hits
            CACHE_LOOKUPS.labels("memory", "hit").inc(memory_hits)
            CACHE_LOOKUPS.labels("memory", "miss").inc(len(texts) - memory_hits)
        if not pending:
            return out

        if self.redis is not None:
            wanted = list(pending)
            found = await self.redis.mget(wanted)
            hits = 0
            for key, raw in zip(wanted, found, strict=True):
                if raw is None or len(raw) != self.dimension * 4:
                    continue
                vector = np.frombuffer(raw, dtype=np.float32)
                lru[key] = vector
                for i in pending.pop(key):
                    out[i] = vector
                    hits += 1
            misses = sum(len(v) for v in pending.values())
            self.stats["redis_hits"] += hits
            CACHE_LOOKUPS.labels("redis", "hit").inc(hits)
            CACHE_LOOKUPS.labels("redis", "miss").inc(misses)
        if not pending:
            return out

        missing = list(pending)
        first_index = [pending[key][0] for key in missing]
        vectors = await self.inner.embed([texts[i] for i in first_index], purpose)
        EMBEDDED_TEXTS.inc(len(missing))
        self.stats["misses"] += sum(len(v) for v in pending.values())
        writes: dict[str, bytes] = {}
        for key, vector in zip(missing, vectors, strict=True):
            vector = np.ascontiguousarray(vector, dtype=np.float32)
            lru[key] = vector
            writes[key] = vector.tobytes()
            for i in pending[key]:
                out[i] = vector
        if self.redis is not None:
            await self.redis.set_many(writes)
        return out

    def hit_rate(self) -> float:
        """Share of lookups answered without the provider, since start."""
        total = sum(self.stats.values())
        return (self.stats["memory_hits"] + self.stats["redis_hits"]) / total if total else 0.0

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.close()
