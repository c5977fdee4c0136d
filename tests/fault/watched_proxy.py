"""A `TcpProxy` that also records, per connection, when bytes last flowed back and when
the caller hung up: how a test sees, from outside, that an upstream call was cancelled."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from tests.support.tcp_proxy import TcpProxy


@dataclass
class Link:
    """One proxied connection; times are `time.monotonic()`."""

    opened_at: float
    last_reply_at: float = 0.0  # last chunk from the target to the caller
    caller_closed_at: float | None = None  # the caller closed (EOF or reset) its side


class WatchedProxy(TcpProxy):
    """Forwards like `TcpProxy` and keeps a `Link` per connection."""

    def __init__(self, target_port: int, port: int | None = None) -> None:
        super().__init__(target_port, port)
        self.links: list[Link] = []

    def streaming_at(self, moment: float) -> Link:
        """The connection that carried the latest reply bytes before `moment`."""
        candidates = [link for link in self.links if 0 < link.last_reply_at <= moment]
        assert candidates, "no proxied connection carried a reply"
        return max(candidates, key=lambda link: link.last_reply_at)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refuse:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        link = Link(opened_at=time.monotonic())
        self.links.append(link)
        self._writers.update((writer, up_writer))
        await asyncio.gather(
            self._forward(reader, up_writer, link, outbound=True),
            self._forward(up_reader, writer, link, outbound=False),
        )
        self._writers.difference_update((writer, up_writer))

    async def _forward(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        link: Link,
        *,
        outbound: bool,
    ) -> None:
        try:
            while chunk := await reader.read(65536):
                if not outbound:
                    link.last_reply_at = time.monotonic()
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            if outbound and link.caller_closed_at is None:
                link.caller_closed_at = time.monotonic()
            writer.close()
