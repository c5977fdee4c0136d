"""Serve the monolith (`python -m bench.monolith`) by uvicorn in a process of its own."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.servers import free_port

# The model must never leave this machine, whatever the caller's environment holds.
OFFLINE = {"CHAT_MODEL_PROVIDER": "offline", "OPENAI_API_KEY": "", "CHAT_OPENAI_API_KEY": ""}


@dataclass
class Monolith:
    """A running monolith process and where it listens."""

    url: str
    pid: int


@contextmanager
def monolith_process(
    book: Path,
    data: Path,
    corpus: str,
    *,
    redis_url: str | None = None,
    ready_timeout: float = 180,
) -> Iterator[Monolith]:
    """Start the monolith on a free port (offline model, zero token delay); stop it after.

    `redis_url` gives its retrieval the Redis embedding cache, as the service has.
    """
    port = free_port()
    command = [sys.executable, "-m", "bench.monolith", "--port", str(port)]
    command += ["--book", str(book), "--data", str(data), "--corpus", corpus]
    if redis_url:
        command += ["--redis-url", redis_url]
    env = {**os.environ, **OFFLINE, "CHAT_OFFLINE_TOKEN_DELAY_MS": "0", "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the monolith exited with {process.returncode}")
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("the monolith did not become ready")
            time.sleep(0.2)
        yield Monolith(url, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
