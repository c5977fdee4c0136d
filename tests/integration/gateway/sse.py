"""Reading SSE streams in tests: events as parsed JSON, comments kept apart."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Received:
    """What a stream delivered, with arrival times (`time.monotonic()`)."""

    events: list[dict[str, Any]] = field(default_factory=list)
    arrived: list[float] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("type") == kind]

    def text(self) -> str:
        return "".join(
            e["update"]["delta"]
            for e in self.of_type("thread.item.updated")
            if e["update"]["type"] == "assistant_message.content_part.text_delta"
        )

    def thread_id(self) -> str:
        return str(self.of_type("thread.created")[0]["thread"]["id"])


async def iter_events(response: httpx.Response) -> AsyncIterator[tuple[str, Any]]:
    """("event", dict) or ("comment", text) as each complete SSE event arrives."""
    buffer = b""
    async for chunk in response.aiter_raw():
        buffer += chunk
        while b"\n\n" in buffer:
            block, buffer = buffer.split(b"\n\n", 1)
            for line in block.decode().splitlines():
                if line.startswith(":"):
                    yield "comment", line[1:].strip()
                elif line.startswith("data:"):
                    yield "event", json.loads(line[5:])


async def read_all(response: httpx.Response) -> Received:
    received = Received()
    async for kind, value in iter_events(response):
        if kind == "comment":
            received.comments.append(value)
        else:
            received.events.append(value)
            received.arrived.append(time.monotonic())
    return received
