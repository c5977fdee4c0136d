"""Run a real ASGI app under uvicorn on a free loopback port, in a background thread."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp

from tests.support.tls import TlsFiles


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(
    app: ASGIApp,
    *,
    port: int | None = None,
    startup_timeout: float = 60.0,
    tls: TlsFiles | None = None,
) -> Iterator[str]:
    """Serve `app` (lifespan included) until the block exits; yields its base URL
    (https with `tls`, a certificate and its key)."""
    port = port or free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        loop="asyncio",
        proxy_headers=False,  # as the services run (shared.service, the Dockerfiles)
        ssl_certfile=str(tls.cert) if tls else None,
        ssl_keyfile=str(tls.key) if tls else None,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("server thread exited during start-up (see the log above)")
        if time.monotonic() > deadline:
            raise TimeoutError("server did not start in time")
        time.sleep(0.02)
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
