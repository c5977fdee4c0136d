"""A small TCP proxy for injecting network faults between two services in a test.

It runs its own event loop in a thread. `latency_s` delays every chunk forwarded,
`reset()` cuts every open connection (RST), `refuse` makes new connections fail,
`hold_replies()` keeps what the target sends until `release_replies()`.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.servers import free_port


class TcpProxy:
    """Forwards 127.0.0.1:`port` to `target_port`, with faults on demand."""

    def __init__(self, target_port: int, port: int | None = None) -> None:
        self.target_port = target_port
        self.port = port or free_port()
        self.latency_s = 0.0
        self.refuse = False
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._replies = asyncio.Event()
        self._replies.set()
        self._server: asyncio.AbstractServer | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", self.port), self._loop
        )
        self._server = future.result(10)

    def stop(self) -> None:
        async def close() -> None:
            if self._server:
                self._server.close()
            for writer in list(self._writers):
                writer.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def reset(self) -> None:
        """Abort every open connection with a TCP reset."""

        async def abort() -> None:
            for writer in list(self._writers):
                sock = writer.get_extra_info("socket")
                if sock is not None:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
            self._writers.clear()

        asyncio.run_coroutine_threadsafe(abort(), self._loop).result(10)

    def hold_replies(self) -> None:
        """Keep every byte the target sends (on every connection) until `release_replies`."""
        self._loop.call_soon_threadsafe(self._replies.clear)

    def release_replies(self) -> None:
        self._loop.call_soon_threadsafe(self._replies.set)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refuse:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer, replies=True)
        )
        self._writers.difference_update((writer, up_writer))

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, replies: bool = False
    ) -> None:
        try:
            while chunk := await reader.read(65536):
                if self.latency_s:
                    await asyncio.sleep(self.latency_s)
                if replies:
                    await self._replies.wait()
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()


@contextmanager
def tcp_proxy(target_port: int) -> Iterator[TcpProxy]:
    """A running `TcpProxy` in front of `target_port` for the duration of a block."""
    proxy = TcpProxy(target_port)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
