"""Request rate limits (GCRA token bucket) and caps on concurrent streams: per user, per
client address and in all.

Both live in Redis when it is configured, each decision one atomic Lua script,
so every gateway replica shares them. When Redis fails, decisions fall back to
in-process state for `redis_retry_s` (each replica then counts on its own): a
Redis outage never turns into a 500.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from dataclasses import dataclass
from typing import Literal

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from starlette.types import Scope

from services.gateway.settings import GatewaySettings

logger = logging.getLogger(__name__)

# GCRA: the key holds the "theoretical arrival time" (TAT) in microseconds of the
# Redis clock. A request is allowed when TAT - burst * interval <= now.
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - burst * interval
if allow_at > now then
  return {0, math.ceil(allow_at - now)}
end
local ttl_ms = math.ceil((new_tat - now) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', ttl_ms)
return {1, 0}
"""

# Stream slots: one sorted set per cap (the user's, the address's, everyone's) of slot ids
# scored by lease expiry (ms); expired leases (a gateway that died mid-stream) are dropped
# before counting. A slot is taken in every set or in none: the answer is 0, or the
# 1-based index of the first cap that is full.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if redis.call('ZCARD', key) >= tonumber(ARGV[2 + i]) then return i end
end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, now + tonumber(ARGV[2]), ARGV[1])
  redis.call('PEXPIRE', key, ARGV[2])
end
return 0
"""

_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, 'XX', now + tonumber(ARGV[2]), ARGV[1])
  redis.call('PEXPIRE', key, ARGV[2])
end
return 1
"""

_RELEASE = """
for _, key in ipairs(KEYS) do redis.call('ZREM', key, ARGV[1]) end
return 1
"""

StreamCap = Literal["user", "address", "all"]
"""Which concurrent-stream cap a refused stream met."""


@dataclass(frozen=True)
class Decision:
    """Outcome of one rate-limit check."""

    allowed: bool
    retry_after_s: float = 0.0


def client_address(scope: Scope) -> str:
    """The client's address as the limits count it: the peer's, or the nearest address a
    trusted proxy named (`GATEWAY_FORWARDED_ALLOW_IPS`, applied before this is read)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def retry_after(decision: Decision) -> int:
    """Whole seconds for a `Retry-After` header (at least 1)."""
    return max(1, math.ceil(decision.retry_after_s))


class LocalBuckets:
    """In-process GCRA buckets (the fallback, and the only store without Redis)."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self.tat: dict[str, float] = {}
        self.max_keys = max_keys

    def take(self, key: str, rate_per_s: float, burst: int) -> Decision:
        now = time.monotonic()
        interval = 1.0 / rate_per_s
        tat = max(self.tat.get(key, now), now)
        allow_at = tat + interval - burst * interval
        if allow_at > now:
            return Decision(False, allow_at - now)
        if len(self.tat) >= self.max_keys:
            self.tat = {k: v for k, v in self.tat.items() if v > now}
        self.tat[key] = tat + interval
        return Decision(True)


class StreamSlot:
    """One held place in every concurrent-stream cap; `release` frees it (idempotent)."""

    def __init__(self, limiter: Limiter, keys: list[str], slot_id: str, in_redis: bool) -> None:
        self.limiter = limiter
        self.keys = keys
        self.slot_id = slot_id
        self.in_redis = in_redis
        self.renewed_at = time.monotonic()
        self.released = False

    async def renew_if_due(self) -> None:
        """Extend the Redis lease once a third of it has passed."""
        if self.in_redis and time.monotonic() - self.renewed_at > self.limiter.lease_s / 3:
            self.renewed_at = time.monotonic()
            await self.limiter.renew(self)

    async def release(self) -> None:
        if not self.released:
            self.released = True
            await self.limiter.release(self)


class Limiter:
    """Rate limits per key and the stream cap per user, in Redis or in-process."""

    def __init__(self, settings: GatewaySettings, redis: aioredis.Redis | None = None) -> None:
        self.settings = settings
        self.prefix = settings.redis_prefix
        self.lease_s = settings.stream_lease_s
        self.redis = redis
        self.local = LocalBuckets()
        self.local_streams: dict[str, int] = {}
        self.redis_down_until = 0.0
        if redis is not None:
            self._gcra = redis.register_script(_GCRA)
            self._acquire = redis.register_script(_ACQUIRE)
            self._renew = redis.register_script(_RENEW)
            self._release = redis.register_script(_RELEASE)

    @classmethod
    def from_settings(cls, settings: GatewaySettings) -> Limiter:
        if not settings.redis_url:
            return cls(settings)
        pool = aioredis.BlockingConnectionPool.from_url(
            settings.redis_url,
            max_connections=64,
            timeout=settings.redis_timeout_s,
            socket_timeout=settings.redis_timeout_s,
            socket_connect_timeout=settings.redis_timeout_s,
        )
        return cls(settings, aioredis.Redis(connection_pool=pool))

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()

    @property
    def using_redis(self) -> bool:
        """Whether decisions currently go to Redis."""
        return self.redis is not None and time.monotonic() >= self.redis_down_until

    def _redis_failed(self, exc: BaseException) -> None:
        if time.monotonic() >= self.redis_down_until:
            logger.warning(
                "Redis unavailable (%s); in-process limits for %.0fs",
                type(exc).__name__,
                self.settings.redis_retry_s,
            )
        self.redis_down_until = time.monotonic() + self.settings.redis_retry_s

    async def hit(self, key: str, rate_per_s: float, burst: int) -> Decision:
        """Take one token from bucket `key`."""
        if self.using_redis:
            interval_us = max(1, round(1_000_000 / rate_per_s))
            try:
                allowed, wait_us = await self._gcra(
                    keys=[f"{self.prefix}rl:{key}"], args=[interval_us, burst]
                )
                return Decision(bool(allowed), int(wait_us) / 1_000_000)
            except (RedisError, OSError, TimeoutError) as exc:
                self._redis_failed(exc)
        return self.local.take(key, rate_per_s, burst)

    async def check_address(self, ip: str) -> Decision:
        """The per-address limit of one request."""
        return await self.hit(f"ip:{ip}", self.settings.ip_rate_per_s, self.settings.ip_burst)

    async def check_request(self, user_id: str, ip: str) -> Decision:
        """Per-user and per-IP limits of one API request (the IP first: it is cheaper to fail)."""
        by_ip = await self.check_address(ip)
        if not by_ip.allowed:
            return by_ip
        s = self.settings
        return await self.hit(f"user:{user_id}", s.user_rate_per_s, s.user_burst)

    async def mint(self, address: str) -> Decision:
        """Take one token from the address's bucket of new anonymous users (dev auth)."""
        s = self.settings
        return await self.hit(f"mint:{address}", s.anon_mint_rate_per_s, s.anon_mint_burst)

    async def acquire_stream(self, user_id: str, address: str) -> StreamSlot | StreamCap:
        """A slot in the user's, the address's and the global stream caps, or the cap that
        is full."""
        s = self.settings
        caps: list[tuple[StreamCap, str, int]] = [
            ("user", f"{self.prefix}streams:user:{user_id}", s.max_streams_per_user),
            ("address", f"{self.prefix}streams:address:{address}", s.max_streams_per_address),
            ("all", f"{self.prefix}streams:all", s.max_streams_total),
        ]
        keys = [key for _, key, _ in caps]
        slot_id = uuid.uuid4().hex
        if self.using_redis:
            try:
                full = await self._acquire(
                    keys=keys,
                    args=[slot_id, math.ceil(self.lease_s * 1000), *(cap for *_, cap in caps)],
                )
                if full:
                    return caps[int(full) - 1][0]
                return StreamSlot(self, keys, slot_id, in_redis=True)
            except (RedisError, OSError, TimeoutError) as exc:
                self._redis_failed(exc)
        for name, key, cap in caps:
            if self.local_streams.get(key, 0) >= cap:
                return name
        for key in keys:
            self.local_streams[key] = self.local_streams.get(key, 0) + 1
        return StreamSlot(self, keys, slot_id, in_redis=False)

    async def renew(self, slot: StreamSlot) -> None:
        try:
            await self._renew(keys=slot.keys, args=[slot.slot_id, math.ceil(self.lease_s * 1000)])
        except (RedisError, OSError, TimeoutError) as exc:
            self._redis_failed(exc)

    async def release(self, slot: StreamSlot) -> None:
        if not slot.in_redis:
            for key in slot.keys:
                left = self.local_streams.get(key, 1) - 1
                if left > 0:
                    self.local_streams[key] = left
                else:
                    self.local_streams.pop(key, None)
            return
        try:
            await self._release(keys=slot.keys, args=[slot.slot_id])
        except (RedisError, OSError, TimeoutError) as exc:
            # The lease expires on its own; the slot is lost only until then.
            self._redis_failed(exc)
