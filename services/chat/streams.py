"""Resumable answers: a run that outlives the connection it was asked on.

A streaming request sent with `X-ChatKit-Resumable: 1` is run as its own task (`Run`):
its SSE frames are numbered (`id: <run>.<n>`) and kept in memory while readers take them.
A reader that goes away detaches; when nobody reads for `resume_grace_s`, the run is
cancelled, which saves its partial reply as the stop button does. A reader that comes
back (`GET /chatkit/streams/{thread}` with `Last-Event-ID`) gets the frames after the
last it saw, then the rest live. `stop()` cancels at once.

The buffer is this process's: a resume must reach the chat replica that runs the answer
(one replica, or sticky routing by thread). Several replicas sharing the buffer through
Redis is not built yet.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import AsyncGenerator
from dataclasses import dataclass

from chatkit.store import NotFoundError
from chatkit.types import ErrorEvent

from services.chat.errors import ChatError
from shared.http import UpstreamRefused

logger = logging.getLogger(__name__)

REQUEST_ERRORS = (NotFoundError, ChatError)
"""Errors of the request itself: raised before a stream starts, they are its answer."""
MAX_EVENT_ID = 64
"""Longest `Last-Event-ID` read (`<run>.<n>` is about 30 characters)."""


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
        self.started: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        """Done at the first frame; or the exception raised before it (the request's answer)."""
        self.task = asyncio.create_task(self._pump(frames), name=f"run-{self.id}")
        self._arm_grace()  # a request whose client left before reading anything

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
            self._runs.finished(self)

    def _append(self, frame: bytes) -> None:
        if self.thread_id is None and frame.startswith(b'data: {"type":"thread.created"'):
            self.thread_id = json.loads(frame[6:])["thread"]["id"]
            self._runs.named(self)
        number = self.last + 1
        framed = f"id: {self.id}.{number}\n".encode() + frame
        self._frames.append(framed)
        self._bytes += len(framed)
        while self._bytes > self._runs.limits.max_bytes and len(self._frames) > 1:
            self._bytes -= len(self._frames.pop(0))
            self.first += 1
        if not self.started.done():
            self.started.set_result(None)
        self._changed.set()
        self._changed = asyncio.Event()

    async def read(self, after: int = 0) -> AsyncGenerator[bytes, None]:
        """The frames numbered above `after`, then the new ones as they come, to the end.
        Raises `Gone` when some of them are no longer buffered."""
        self._attach()
        try:
            sent = after
            while True:
                if sent + 1 < self.first:
                    raise Gone(f"events after {self.id}.{sent} are no longer buffered")
                changed = self._changed
                while sent < self.last:
                    sent += 1
                    yield self._frames[sent - self.first]
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

    def _arm_grace(self) -> None:
        self._cancel_grace()
        loop = asyncio.get_running_loop()
        self._grace = loop.call_later(self._runs.limits.grace_s, self._grace_over)

    def _grace_over(self) -> None:
        self._grace = None
        if not self.readers and not self.done:
            logger.info("run %s: nobody resumed within the grace period; stopping", self.id)
            self.task.cancel()

    def _cancel_grace(self) -> None:
        if self._grace is not None:
            self._grace.cancel()
            self._grace = None


class Runs:
    """This process's resumable answers, by run and by thread."""

    def __init__(self, limits: StreamLimits) -> None:
        self.limits = limits
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

    def find(self, user_id: str, thread_id: str, last_event_id: str | None) -> tuple[Run, int]:
        """The run a reader resumes and the number of the last frame it has. `NotFoundError`
        when there is none of this user on this thread."""
        run, after = None, 0
        if last_event_id:
            run_id, _, number = last_event_id[:MAX_EVENT_ID].partition(".")
            run = self._by_id.get(run_id)
            after = int(number) if number.isdigit() else 0
        else:
            run = self._by_thread.get(thread_id)
        if run is None or run.user_id != user_id or run.thread_id != thread_id:
            raise NotFoundError(f"No answer to resume on thread {thread_id}.")
        if after + 1 < run.first:
            raise Gone(f"The events after {run.id}.{after} are no longer kept; read the thread.")
        return run, after

    def running(self, user_id: str, thread_id: str) -> Run | None:
        run = self._by_thread.get(thread_id)
        if run is None or run.user_id != user_id or run.done:
            return None
        return run

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
        """Stop every answer still running (their partial replies are saved)."""
        running = [run.task for run in self._by_id.values() if not run.task.done()]
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running)
