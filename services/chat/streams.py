"""Resumable answers: a run that outlives the connection it was asked on.

A streaming request sent with `X-ChatKit-Resumable: 1` is run as its own task (`Run`):
its SSE frames are numbered (`id: <run>.<n>`) and kept in memory while readers take them.
A reader that goes away detaches; when nobody reads for `resume_grace_s`, the run is
cancelled, which saves its partial reply as the stop button does. A reader that comes
back (`GET /chatkit/streams/{thread}` with `Last-Event-ID`) gets the frames after the
last it saw, then the rest live. `stop()` cancels at once.

With Redis configured, every run is also mirrored there (`shared_runs.py`): a resume or a
stop that reaches another chat replica is served from Redis, and the grace period counts
readers on every replica. Without it the buffer is this process's alone: a resume must
reach the replica that runs the answer (one replica, or sticky routing by thread).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from chatkit.store import NotFoundError
from chatkit.types import ErrorEvent

from services.chat.errors import ChatError
from shared.http import UpstreamRefused

if TYPE_CHECKING:
    from services.chat.shared_runs import SharedRuns

logger = logging.getLogger(__name__)

REQUEST_ERRORS = (NotFoundError, ChatError)
"""Errors of the request itself: raised before a stream starts, they are its answer."""
RUN_ID = re.compile(r"[0-9a-f]{16}")
"""A run's id (`secrets.token_hex(8)`), the part of an event id before the dot."""
MAX_EVENT_ID = 64
"""Longest `Last-Event-ID` read (`<run>.<n>` is about 30 characters)."""


def parse_event_id(value: str | None) -> tuple[str | None, int]:
    """The run and frame number a `Last-Event-ID` names; (None, 0) for none or a malformed one."""
    run_id, _, number = (value or "")[:MAX_EVENT_ID].partition(".")
    if not RUN_ID.fullmatch(run_id):
        return None, 0
    return run_id, int(number) if number.isdigit() else 0


def error_frame(exc: BaseException) -> bytes:
    """The ChatKit `error` event ending a stream that failed after it started."""
    # A refusal would be refused again: retrying helps only with failures.
    retry = not isinstance(exc, (*REQUEST_ERRORS, UpstreamRefused))
    event = ErrorEvent(code="stream.error", allow_retry=retry)
    return b"data: " + event.model_dump_json(exclude_none=True).encode() + b"\n\n"


@dataclass(frozen=True, slots=True)
class StreamLimits:
    """How long and how much a resumable answer is kept (`CHAT_RESUME_*`)."""

    grace_s: float
    keep_s: float
    max_bytes: int
    max_detached_per_user: int


class Gone(Exception):
    """The events after the one a reader names are no longer buffered."""


class Readable(Protocol):
    """A run a reader can follow: this replica's (`Run`) or another's (`shared_runs.Remote`)."""

    def read(self, after: int = 0) -> AsyncGenerator[bytes, None]: ...


class Run:
    """One resumable answer: the task running it, its numbered frames, its readers."""

    def __init__(
        self, runs: Runs, user_id: str, thread_id: str | None, frames: AsyncGenerator[bytes, None]
    ) -> None:
        self.id = secrets.token_hex(8)
        self.user_id = user_id
        self.thread_id = thread_id
        """None until the frames name the thread a `threads.create` made."""
        self._runs = runs
        self._frames: list[bytes] = []
        self.first = 1
        """The number of the oldest frame kept."""
        self._bytes = 0
        self._changed = asyncio.Event()
        self.done = False
        self.readers = 0
        self._grace: asyncio.TimerHandle | None = None
        self._mirror = runs.shared.mirror(self.id, user_id) if runs.shared else None
        if self._mirror is not None and thread_id is not None:
            self._mirror.named(thread_id)
        self._checking: asyncio.Task[None] | None = None
        self.started: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        """Done at the first frame; or the exception raised before it (the request's answer)."""
        self.task = asyncio.create_task(self._pump(frames), name=f"run-{self.id}")
        self._arm_grace()  # a request whose client left before reading anything

    @property
    def mirrored(self) -> asyncio.Task[None] | None:
        """The task writing this run to Redis, if it is shared."""
        return self._mirror.task if self._mirror is not None else None

    @property
    def last(self) -> int:
        """The number of the newest frame (0: none yet)."""
        return self.first + len(self._frames) - 1

    async def _pump(self, frames: AsyncGenerator[bytes, None]) -> None:
        try:
            async for frame in frames:
                self._append(frame)
        except asyncio.CancelledError:
            pass  # stopped, or nobody resumed: the SDK saved the partial reply
        except Exception as exc:
            if not self.started.done():
                self.started.set_exception(exc)
                self.started.exception()  # retrieved by the request; never "unretrieved"
            else:
                logger.warning("stream failed: %r", exc)
                self._append(error_frame(exc))
        finally:
            await frames.aclose()
            self.done = True
            if not self.started.done():
                self.started.set_result(None)
            self._changed.set()
            self._cancel_grace()
            if self._mirror is not None:
                self._mirror.end(self.last)
            self._runs.finished(self)

    def _append(self, frame: bytes) -> None:
        if self.thread_id is None and frame.startswith(b'data: {"type":"thread.created"'):
            self.thread_id = json.loads(frame[6:])["thread"]["id"]
            self._runs.named(self)
            if self._mirror is not None:
                self._mirror.named(self.thread_id)
        number = self.last + 1
        framed = f"id: {self.id}.{number}\n".encode() + frame
        self._frames.append(framed)
        self._bytes += len(framed)
        while self._bytes > self._runs.limits.max_bytes and len(self._frames) > 1:
            self._bytes -= len(self._frames.pop(0))
            self.first += 1
        if self._mirror is not None:
            self._mirror.add(number, framed, self.first)
        if not self.started.done():
            self.started.set_result(None)
        self._changed.set()
        self._changed = asyncio.Event()

    async def read(self, after: int = 0) -> AsyncGenerator[bytes, None]:
        """The frames numbered above `after`, then the new ones as they come, to the end;
        all those ready at once in one chunk (a replay is one write, not one per frame).
        Raises `Gone` when some of them are no longer buffered."""
        self._attach()
        try:
            sent = after
            while True:
                if sent + 1 < self.first:
                    raise Gone(f"events after {self.id}.{sent} are no longer buffered")
                changed = self._changed
                if sent < self.last:  # all that came since the last write, in one
                    chunk = b"".join(self._frames[sent + 1 - self.first :])
                    sent = self.last
                    yield chunk
                if self.done:
                    return
                await changed.wait()
        finally:
            self._detach()

    async def stop(self) -> None:
        """Cancel the answer now and wait until its partial reply is saved."""
        self.task.cancel()
        await asyncio.wait((self.task,))

    def _attach(self) -> None:
        self.readers += 1
        self._cancel_grace()

    def _detach(self) -> None:
        self.readers -= 1
        if self.readers or self.done:
            return
        if self._runs.detached(self.user_id) > self._runs.limits.max_detached_per_user:
            logger.info("run %s: too many detached answers for its user; stopping", self.id)
            self.task.cancel()
            return
        self._arm_grace()

    def _arm_grace(self, delay_s: float | None = None) -> None:
        self._cancel_grace()
        loop = asyncio.get_running_loop()
        delay_s = self._runs.limits.grace_s if delay_s is None else delay_s
        self._grace = loop.call_later(delay_s, self._grace_over)

    def _grace_over(self) -> None:
        self._grace = None
        if self.readers or self.done:
            return
        if self._runs.shared is None:
            self._nobody_resumed()
        else:
            self._checking = asyncio.create_task(self._check_other_replicas(self._runs.shared))

    async def _check_other_replicas(self, shared: SharedRuns) -> None:
        left_s = await shared.readers_left_s(self.id)
        if self.readers or self.done:
            return
        if left_s > 0:
            self._arm_grace(left_s)  # read elsewhere: wait until that reader too is gone
        else:
            self._nobody_resumed()

    def _nobody_resumed(self) -> None:
        logger.info("run %s: nobody resumed within the grace period; stopping", self.id)
        self.task.cancel()

    def _cancel_grace(self) -> None:
        if self._grace is not None:
            self._grace.cancel()
            self._grace = None


class Runs:
    """This process's resumable answers, by run and by thread; with `shared`, every
    replica's."""

    def __init__(self, limits: StreamLimits, shared: SharedRuns | None = None) -> None:
        self.limits = limits
        self.shared = shared
        if shared is not None:
            shared.listen(self._stop_requested)
        self._by_id: dict[str, Run] = {}
        self._by_thread: dict[str, Run] = {}

    async def start(
        self, user_id: str, thread_id: str | None, frames: AsyncGenerator[bytes, None]
    ) -> Run:
        """Run `frames` as a resumable answer; returns once it has its first frame. An
        error raised before that is raised here (the request's own answer)."""
        run = Run(self, user_id, thread_id, frames)
        self._by_id[run.id] = run
        if thread_id is not None:
            self.named(run)
        await asyncio.shield(run.started)
        return run

    async def find(
        self, user_id: str, thread_id: str, last_event_id: str | None
    ) -> tuple[Readable, int]:
        """The run a reader resumes (this replica's, else another's through Redis) and the
        number of the last frame it has. `NotFoundError` when there is none of this user on
        this thread (or, without `last_event_id`, none still running: the thread holds the
        whole answer), `Gone` when the frames after that one are no longer kept."""
        named, after = parse_event_id(last_event_id)
        run_id = named
        if run_id is None and self.shared is not None:
            run_id = await self.shared.newest(thread_id)  # perhaps another replica's
        local = self._by_id.get(run_id) if run_id else self._by_thread.get(thread_id)
        found: Readable
        if local is not None and local.user_id == user_id and local.thread_id == thread_id:
            if after + 1 < local.first:
                kept = f"{local.id}.{local.first}"
                raise Gone(f"The events before {kept} are no longer kept; read the thread.")
            found, done = local, local.done
        elif local is None and run_id is not None and self.shared is not None:
            remote = await self.shared.find(user_id, thread_id, run_id, after)
            found, done = remote, remote.done
        else:
            raise NotFoundError(f"No answer to resume on thread {thread_id}.")
        if named is None and done:
            raise NotFoundError(f"The answer on thread {thread_id} has ended; read the thread.")
        return found, after

    async def stop(self, user_id: str, thread_id: str) -> bool:
        """Stop the user's answer running on the thread, on whichever replica runs it, once
        its partial reply is saved; False when none was running."""
        run = self._by_thread.get(thread_id)
        if run is not None and run.user_id == user_id and not run.done:
            await run.stop()
            return True
        if self.shared is not None:
            return await self.shared.stop(user_id, thread_id)
        return False

    def _stop_requested(self, run_id: str) -> None:
        run = self._by_id.get(run_id)
        if run is not None and not run.done:
            logger.info("run %s: stopped through another replica", run_id)
            run.task.cancel()

    def detached(self, user_id: str) -> int:
        runs = self._by_id.values()
        return sum(1 for r in runs if r.user_id == user_id and not r.readers and not r.done)

    def named(self, run: Run) -> None:
        assert run.thread_id is not None
        self._by_thread[run.thread_id] = run

    def finished(self, run: Run) -> None:
        if run.last == 0:  # failed before its first frame: nothing to resume
            self._forget(run)
        else:
            asyncio.get_running_loop().call_later(self.limits.keep_s, self._forget, run)

    def _forget(self, run: Run) -> None:
        self._by_id.pop(run.id, None)
        if run.thread_id is not None and self._by_thread.get(run.thread_id) is run:
            del self._by_thread[run.thread_id]

    async def close(self) -> None:
        """Stop every answer still running (their partial replies are saved, their ends
        written to Redis)."""
        running = [run.task for run in self._by_id.values() if not run.task.done()]
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running)
        mirrors = [run.mirrored for run in self._by_id.values()]
        writing = [task for task in mirrors if task is not None]
        if self.shared is not None:
            if writing:  # their ends, for readers on other replicas
                await asyncio.wait(writing, timeout=self.shared.bounds.timeout_s * 4)
            await self.shared.close()
