"""Resumable answers shared by every chat replica, through Redis Streams.

The replica running an answer mirrors its numbered frames into a Redis stream (entry
`<n>-0` is frame n, as in memory); a resume that reaches another replica reads them from
there: the frames it missed, then the rest as they come. A stop that reaches another
replica is passed to the running one over pub/sub. The running replica's own readers read
from memory, so Redis adds nothing to their path, and when Redis fails only resuming
through another replica is lost.

Keys (after `CHAT_REDIS_PREFIX`), each with a lease the running replica renews, and
`keep_s` once the answer ended:
- `run:<id>`: a hash of the run's `user`, `thread` and, once it ended, `done`;
- `run:<id>:events`: the frames (field `f`), trimmed as in memory (`max_bytes`), then one
  entry with field `end`;
- `run:<id>:readers`: present while a reader on another replica reads (it expires
  `grace_s` after the last of them left, which is what the running replica waits for);
- `thread:<thread>`: the id of the newest run on the thread;
- channel `stop`: ids of runs to stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass

import redis.asyncio as aioredis
from chatkit.store import NotFoundError
from redis.exceptions import RedisError

from services.chat.streams import Gone, StreamLimits

logger = logging.getLogger(__name__)

Entries = list[tuple[bytes, dict[bytes, bytes]]]
"""Stream entries as redis-py returns them: (id, fields)."""
LISTEN_POLL_S = 0.5
"""How often the stop listener looks up from pub/sub. It ends on a flag, not on being
cancelled: a cancel that lands while redis-py (8.2) connects can be lost, and the listener
then waited in `get_message` for good (a chat service that never finished shutting down)."""
BATCH = 256
"""Most entries read from a stream in one call."""
WRITE_WINDOW_S = 0.02
"""How long the mirror gathers frames before it writes them: one round trip for the tokens
of 20 ms (a reader on another replica lags by as much; the run's own readers do not)."""


class RunLost(Exception):
    """The replica running an answer stopped renewing its lease (it died mid-answer): the
    reader's stream ends with a retryable error."""


@dataclass(frozen=True, slots=True)
class SharedLimits:
    """Timing and bounds of the Redis side (`CHAT_REDIS_*`, `CHAT_RESUME_LEASE_S`)."""

    timeout_s: float
    lease_s: float
    max_remote_readers: int


class SharedRuns:
    """This replica's view of every replica's resumable answers, in Redis."""

    def __init__(self, url: str, prefix: str, limits: StreamLimits, shared: SharedLimits) -> None:
        self.prefix = prefix
        self.limits = limits
        self.bounds = shared
        timeout = shared.timeout_s
        self.redis = aioredis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, health_check_interval=0
        )
        # Blocking reads (XREAD BLOCK, pub/sub) wait longer than a command may take; their
        # pool bounds the readers this replica serves for other replicas' answers.
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=shared.max_remote_readers + 1,  # + the stop listener
            timeout=timeout,
            socket_timeout=shared.lease_s + timeout,
            socket_connect_timeout=timeout,
        )
        self.blocking = aioredis.Redis(connection_pool=pool)
        self._listener: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()

    # -- keys -----------------------------------------------------------------------------

    def run_key(self, run_id: str) -> str:
        return f"{self.prefix}run:{run_id}"

    def events_key(self, run_id: str) -> str:
        return f"{self.prefix}run:{run_id}:events"

    def readers_key(self, run_id: str) -> str:
        return f"{self.prefix}run:{run_id}:readers"

    def thread_key(self, thread_id: str) -> str:
        return f"{self.prefix}thread:{thread_id}"

    @property
    def stop_channel(self) -> str:
        return f"{self.prefix}stop"

    # -- lifecycle ------------------------------------------------------------------------

    def listen(self, on_stop: Callable[[str], None]) -> None:
        """Call `on_stop(run_id)` for every stop another replica passes on."""
        self._listener = asyncio.create_task(self._listen(on_stop), name="chat-stop-listener")

    async def _listen(self, on_stop: Callable[[str], None]) -> None:
        while not self._closing.is_set():
            try:
                async with self.blocking.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(self.stop_channel)
                    while not self._closing.is_set():
                        message = await pubsub.get_message(timeout=LISTEN_POLL_S)
                        if message is not None:
                            on_stop(message["data"].decode())
            except RedisError as exc:
                logger.warning("stop listener: %r; again in %.0f s", exc, self.bounds.lease_s)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), self.bounds.lease_s)

    async def close(self) -> None:
        self._closing.set()
        if self._listener is not None:
            await asyncio.wait((self._listener,), timeout=LISTEN_POLL_S + self.bounds.timeout_s)
            self._listener.cancel()  # it should have ended; if not, no more waiting on it
        await self.redis.aclose()
        await self.blocking.aclose()

    # -- the running replica --------------------------------------------------------------

    def mirror(self, run_id: str, user_id: str) -> Mirror:
        """Start mirroring a run this replica runs."""
        return Mirror(self, run_id, user_id)

    async def readers_left_s(self, run_id: str) -> float:
        """How long readers on other replicas still count as reading `run_id` (0: none)."""
        try:
            left_ms = await self.redis.pttl(self.readers_key(run_id))
        except RedisError as exc:
            logger.warning("run %s: readers unknown (%r); counted as none", run_id, exc)
            return 0.0
        return max(0, int(left_ms)) / 1000

    # -- any replica ----------------------------------------------------------------------

    async def newest(self, thread_id: str) -> str | None:
        """The id of the newest run on the thread, on any replica (None: none known)."""
        try:
            return _text(await self.redis.get(self.thread_key(thread_id)))
        except RedisError as exc:
            logger.warning("runs of thread %s unknown: %r", thread_id, exc)
            return None

    async def find(self, user_id: str, thread_id: str, run_id: str, after: int) -> Remote:
        """Run `run_id` of this user on this thread, to read after frame `after`.
        `NotFoundError` when there is none, `Gone` when that frame's successors were
        trimmed."""
        try:
            meta = await self._owned(user_id, thread_id, run_id)
            events = self.events_key(run_id)
            oldest: Entries = await self.redis.xrange(  # type: ignore[assignment]
                events, min=f"{after + 1}-0", count=1
            )
        except RedisError as exc:
            logger.warning("resume on thread %s: Redis failed (%r)", thread_id, exc)
            raise NotFoundError(f"No answer to resume on thread {thread_id}.") from exc
        if oldest and _number(oldest[0][0]) > after + 1:
            raise Gone(f"The events after {run_id}.{after} are no longer kept; read the thread.")
        return Remote(self, run_id, done=b"done" in meta)

    async def stop(self, user_id: str, thread_id: str) -> bool:
        """Have the replica running this user's answer on the thread stop it; True once its
        end is written (its partial reply saved), False when none was running."""
        run_id = await self.newest(thread_id)
        if run_id is None:
            return False
        try:
            if b"done" in await self._owned(user_id, thread_id, run_id):
                return False
            await self.redis.publish(self.stop_channel, run_id)
            events = self.events_key(run_id)
            newest: Entries = await self.redis.xrevrange(events, count=1)  # type: ignore[assignment]
            async with asyncio.timeout(self.bounds.lease_s):
                async for _ in Remote(self, run_id, done=False).entries(_last_number(newest)):
                    pass  # until its end
        except NotFoundError:
            return False
        except (RedisError, TimeoutError, RunLost) as exc:
            logger.warning("stop of run %s: its end not seen (%r)", run_id, exc)
        return True

    async def _owned(self, user_id: str, thread_id: str, run_id: str) -> dict[bytes, bytes]:
        """The run's hash; `NotFoundError` unless it is this user's on this thread."""
        meta: dict[bytes, bytes] = await self.redis.hgetall(  # type: ignore[assignment]
            self.run_key(run_id)
        )
        if _text(meta.get(b"user")) != user_id or _text(meta.get(b"thread")) != thread_id:
            raise NotFoundError(f"No answer to resume on thread {thread_id}.")
        return meta


def _text(value: object) -> str | None:
    return value.decode() if isinstance(value, bytes) else None


def _number(entry_id: bytes) -> int:
    return int(entry_id.partition(b"-")[0])


def _last_number(entries: Entries) -> int:
    return _number(entries[0][0]) - 1 if entries else 0


class Mirror:
    """Writes one run's frames to Redis in order, batched, off the run's path: a Redis
    failure ends the mirroring (a gap would be worse than an end), never the run."""

    def __init__(self, shared: SharedRuns, run_id: str, user_id: str) -> None:
        self._shared = shared
        self._run_id = run_id
        self._meta: dict[str, str] = {"user": user_id, "thread": ""}
        self._frames: list[tuple[int, bytes]] = []
        self._first = 1
        self._trimmed = 1
        self._thread_id: str | None = None
        self._ended = False
        self._wake = asyncio.Event()
        self.task = asyncio.create_task(self._write(), name=f"mirror-{run_id}")

    def add(self, number: int, framed: bytes, first: int) -> None:
        """Frame `number` was added; the oldest still kept is `first`."""
        self._frames.append((number, framed))
        self._first = first
        self._wake.set()

    def named(self, thread_id: str) -> None:
        self._thread_id = thread_id
        self._meta["thread"] = thread_id
        self._wake.set()

    def end(self, last: int) -> None:
        self._frames.append((last + 1, b""))
        self._ended = True
        self._wake.set()

    async def _write(self) -> None:
        shared, run_id, lease_s = self._shared, self._run_id, self._shared.bounds.lease_s
        keys = [shared.run_key(run_id), shared.events_key(run_id)]
        renewed = -lease_s  # the first batch sets the lease
        while True:
            # A batch once there is something (gathered a little); the lease renewed anyway.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), lease_s / 3)
                if not self._ended:
                    await asyncio.sleep(WRITE_WINDOW_S)
            self._wake.clear()
            frames, self._frames = self._frames, []
            ended = self._ended
            pipe = shared.redis.pipeline(transaction=False)
            if self._meta:
                pipe.hset(keys[0], mapping=self._meta)  # type: ignore[arg-type]
                self._meta = {}
            if self._thread_id is not None:
                keys.append(shared.thread_key(self._thread_id))
                pipe.set(keys[-1], run_id, px=int(lease_s * 1000))
                self._thread_id = None
            for number, framed in frames:
                fields = {"f": framed} if framed else {"end": "1"}
                pipe.xadd(keys[1], fields, id=f"{number}-0")  # type: ignore[arg-type]
            if self._first > self._trimmed:
                pipe.xtrim(keys[1], minid=f"{self._first}-0")
                self._trimmed = self._first
            if ended:
                pipe.hset(keys[0], "done", "1")
            now = asyncio.get_running_loop().time()
            if ended or now - renewed >= lease_s / 3:
                ttl_ms = int((shared.limits.keep_s if ended else lease_s) * 1000)
                for key in keys:
                    pipe.pexpire(key, max(ttl_ms, 1))
                renewed = now
            try:
                await pipe.execute()
            except RedisError as exc:
                logger.warning("run %s: no longer shared through Redis (%r)", run_id, exc)
                return
            if ended:
                return


class Remote:
    """A run of another replica (or of this one, read back from Redis)."""

    def __init__(self, shared: SharedRuns, run_id: str, *, done: bool) -> None:
        self._shared = shared
        self.id = run_id
        self.done = done

    async def read(self, after: int = 0) -> AsyncGenerator[bytes, None]:
        """The frames numbered above `after`, then the new ones as they come, to the end.
        While it reads, the running replica counts it as a reader."""
        present = asyncio.create_task(self._present())
        try:
            async for frame in self.entries(after):
                yield frame
        finally:
            present.cancel()

    async def entries(self, after: int) -> AsyncGenerator[bytes, None]:
        """The frames after `after`, to the end, read from the run's stream (those of one
        read from Redis joined in one chunk). `Gone` when some were trimmed before they
        were read, `RunLost` when the run's lease lapsed."""
        shared = self._shared
        events, expected = shared.events_key(self.id), after + 1
        block_ms = int(shared.bounds.lease_s * 1000 / 2)
        while True:
            reply: list[tuple[bytes, Entries]] = await shared.blocking.xread(  # type: ignore[assignment]
                {events: f"{expected - 1}-0"}, count=BATCH, block=block_ms
            )
            if not reply:
                if not await shared.redis.exists(shared.run_key(self.id)):
                    raise RunLost(f"The replica running answer {self.id} stopped.")
                continue
            frames: list[bytes] = []
            ended = gap = False
            for entry_id, fields in reply[0][1]:
                gap = _number(entry_id) != expected
                ended = b"end" in fields
                if gap or ended:
                    break
                expected += 1
                frames.append(fields[b"f"])
            if frames:
                yield b"".join(frames)
            if gap:
                raise Gone(f"Events after {self.id}.{expected - 1} were dropped.")
            if ended:
                return

    async def _present(self) -> None:
        shared = self._shared
        grace_ms = max(1, int(shared.limits.grace_s * 1000))
        while True:
            try:
                await shared.redis.set(shared.readers_key(self.id), "1", px=grace_ms)
            except RedisError as exc:
                logger.warning("run %s: reader presence not written (%r)", self.id, exc)
            await asyncio.sleep(max(shared.limits.grace_s / 3, 0.05))
