"""The upstream of the client benchmark, run as the services run (uvicorn, uvloop, httptools).

    python -m bench.client_upstream --port N     (or `running()`, which starts it so)

`POST /items` takes an item as JSON (`{"item": {...}}`) and answers a small JSON one,
as the store's `add_thread_item` does; `POST /stream` answers server-sent events, one
ChatKit-sized event at once and another every `interval_s` (JSON body, default 0.5)
until the caller hangs up."""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.support.servers import free_port

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


@contextmanager
def running() -> Iterator[str]:
    """This module as a process of its own; yields its base URL."""
    port = free_port()
    command = [sys.executable, "-m", "bench.client_upstream", "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 60
    try:
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the client bench upstream did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(30)


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
