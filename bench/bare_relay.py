"""The least a Python SSE relay can do: the floor the gateway's TTFB is compared with.

    python -m bench.bare_relay --port P --upstream URL

One Starlette route, no middleware, no auth, no limits, no heartbeats: `POST /chatkit`
is sent upstream on a shared aiohttp session and the answer is relayed chunk by chunk
as it arrives, on the same uvicorn (httptools) as the gateway. The gateway bench runs it
beside the direct path and the gateway: a ratio that this relay misses too is the cost
of a second Python process on the path, not of what the gateway does.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send


def create_relay(upstream: str) -> Starlette:
    """The relay app in front of `upstream`."""
    sessions: list[aiohttp.ClientSession] = []

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        sessions.append(aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)))
        yield
        await sessions[0].close()

    async def chatkit(request: Request) -> Response:
        body = await request.body()
        return _Relayed(sessions[0], f"{upstream}/chatkit", body)  # type: ignore[return-value]

    return Starlette(routes=[Route("/chatkit", chatkit, methods=["POST"])], lifespan=lifespan)


class _Relayed:
    def __init__(self, session: aiohttp.ClientSession, url: str, body: bytes) -> None:
        self.session, self.url, self.body = session, url, body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {"content-type": "application/json"}
        async with self.session.post(self.url, data=self.body, headers=headers) as upstream:
            content_type = upstream.headers.get("content-type", "").encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": upstream.status,
                    "headers": [(b"content-type", content_type)],
                }
            )
            async for chunk in upstream.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_relay")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    args = parser.parse_args()
    uvicorn.run(
        create_relay(args.upstream),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        http="httptools",
    )


if __name__ == "__main__":
    main()
