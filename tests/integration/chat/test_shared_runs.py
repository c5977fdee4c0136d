"""Resumable answers shared through a real Redis, two `Runs` (two replicas) in one process:
a message on an existing thread is found from the other replica, frames trimmed from the
buffer are a 410 there too, a reader elsewhere keeps the answer from being cancelled, and
a malformed `Last-Event-ID` names nothing."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager

import pytest
import redis.asyncio as aioredis
from chatkit.store import NotFoundError

from services.chat.shared_runs import SharedLimits, SharedRuns
from services.chat.streams import Gone, Readable, Runs, StreamLimits, parse_event_id
from tests.support.waiting import until

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
USER = "user_1"
THREAD = "thr_shared"


def _limits(**kw: float) -> StreamLimits:
    base = {"grace_s": 30.0, "keep_s": 60.0, "max_bytes": 100_000, "max_detached_per_user": 2}
    return StreamLimits(**(base | kw))  # type: ignore[arg-type]


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    client = aioredis.Redis.from_url(REDIS_URL, socket_timeout=1)
    try:
        await client.ping()
    except (aioredis.RedisError, OSError):
        pytest.skip(f"no Redis at {REDIS_URL}")
    prefix = f"test:chat:{uuid.uuid4().hex[:12]}:"
    yield prefix
    async for key in client.scan_iter(match=f"{prefix}*"):
        await client.delete(key)
    await client.aclose()


@asynccontextmanager
async def _replicas(prefix: str, limits: StreamLimits) -> AsyncIterator[tuple[Runs, Runs]]:
    """Two replicas' `Runs` sharing answers through Redis under `prefix`."""
    bounds = SharedLimits(timeout_s=1.0, lease_s=2.0, max_remote_readers=4)
    one = Runs(limits, SharedRuns(REDIS_URL, prefix, limits, bounds))
    two = Runs(limits, SharedRuns(REDIS_URL, prefix, limits, bounds))
    try:
        yield one, two
    finally:
        await one.close()
        await two.close()


async def _frames(
    n: int, *, size: int = 10, gate: asyncio.Event | None = None
) -> AsyncGenerator[bytes, None]:
    for i in range(n):
        if gate is not None and i == 1:
            await gate.wait()
        yield f'data: {{"n": {i}, "pad": "{"x" * size}"}}\n\n'.encode()


async def _read(stream: AsyncGenerator[bytes, None]) -> list[bytes]:
    """The frames of a reader's stream (a write may hold several: all that were ready)."""
    data = b"".join([chunk async for chunk in stream])
    return [frame + b"\n\n" for frame in data.split(b"\n\n") if frame]


async def _found(runs: Runs, thread_id: str) -> tuple[Readable, int]:
    """The run on the thread once the replica running it has written it to Redis."""

    async def found() -> tuple[Readable, int] | None:
        try:
            return await runs.find(USER, thread_id, None)
        except NotFoundError:
            return None

    run: tuple[Readable, int] | None = await until(found, what="the run written to Redis")
    assert run is not None
    return run


async def test_a_message_on_an_existing_thread_is_found_from_the_other_replica(
    prefix: str,
) -> None:
    async with _replicas(prefix, _limits()) as (one, two):
        gate = asyncio.Event()
        run = await one.start(USER, THREAD, _frames(5, gate=gate))  # add_user_message
        remote, after = await _found(two, THREAD)
        assert after == 0
        gate.set()
        frames = await asyncio.wait_for(_read(remote.read(after)), 10)
        assert frames == await _read(run.read(0))  # the same frames, ids and all
        assert [f.split(b"\n")[0] for f in frames] == [
            f"id: {run.id}.{n}".encode() for n in range(1, 6)
        ]
        with pytest.raises(NotFoundError):
            await two.find("someone_else", THREAD, None)
        with pytest.raises(NotFoundError):
            await two.find(USER, "thr_other", f"{run.id}.1")


async def test_frames_trimmed_from_the_buffer_are_gone_on_the_other_replica_too(
    prefix: str,
) -> None:
    limits = _limits(max_bytes=10_000)
    async with _replicas(prefix, limits) as (one, two):
        run = await one.start(USER, THREAD, _frames(60, size=500))
        await asyncio.wait_for(_read(run.read(run.first - 1)), 10)
        assert run.first > 1  # the oldest frames were dropped
        assert run.mirrored is not None
        await asyncio.wait_for(run.mirrored, 10)  # all written, the end too
        with pytest.raises(Gone):
            await two.find(USER, THREAD, f"{run.id}.0")
        remote, after = await two.find(USER, THREAD, f"{run.id}.{run.first - 1}")
        frames = await _read(remote.read(after))
        assert len(frames) == run.last - run.first + 1


async def test_a_reader_on_the_other_replica_keeps_the_answer_from_being_cancelled(
    prefix: str,
) -> None:
    limits = _limits(grace_s=1.0)
    async with _replicas(prefix, limits) as (one, two):
        gate = asyncio.Event()
        run = await one.start(USER, THREAD, _frames(3, gate=gate))
        remote, after = await _found(two, THREAD)
        reading = asyncio.create_task(_read(remote.read(after)))
        # Nobody reads on `one`: its grace period passes several times over while the
        # reader on `two` is there; the answer is not cancelled.
        for _ in range(3):
            await asyncio.sleep(limits.grace_s)
            assert not run.done
        gate.set()
        frames = await asyncio.wait_for(reading, 10)
        assert len(frames) == 3
        assert not run.task.cancelled()


def test_a_malformed_last_event_id_names_nothing() -> None:
    run = "0123456789abcdef"
    assert parse_event_id(f"{run}.7") == (run, 7)
    assert parse_event_id(f"{run}.x") == (run, 0)
    for hostile in [None, "", "../../etc", "*", f"{run}*.1", run.upper() + ".1", "a" * 10_000]:
        assert parse_event_id(hostile) == (None, 0), hostile
