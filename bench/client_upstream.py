"""The upstream of the client benchmark, run as the services run (uvicorn, uvloop, httptools).

    python -m bench.client_upstream --port N

`POST /items` takes an item as JSON (`{"item": {...}}`) and answers a small JSON one, as the store's
`add_thread_item` does; `POST /stream` answers server-sent events, one ChatKit-sized
event at once and another every `interval_s` (JSON body, default 0.5) until the
caller hangs up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import AsyncIterator

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

EVENT = b'data: {"type":"thread.item.updated","item_id":"msg_0123456789abcdef",' + (
    b'"update":{"type":"assistant_message.content_part.text_delta","delta":"%s"}}\n\n' % (b"x" * 40)
)


async def add_item(request: Request) -> Response:
    item = (await request.json())["item"]
    return JSONResponse({"id": item["id"], "stored": True}, status_code=201)


async def stream(request: Request) -> Response:
    interval_s = float(json.loads(await request.body() or b"{}").get("interval_s", 0.5))

    async def events() -> AsyncIterator[bytes]:
        yield EVENT
        while True:
            await asyncio.sleep(interval_s)
            yield EVENT

    return StreamingResponse(events(), media_type="text/event-stream")


async def healthz(_: Request) -> Response:
    return PlainTextResponse("ok")


def create_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/items", add_item, methods=["POST"]),
            Route("/stream", stream, methods=["POST"]),
            Route("/healthz", healthz),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.client_upstream")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        create_app(),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        timeout_keep_alive=20,
    )


if __name__ == "__main__":
    main()
