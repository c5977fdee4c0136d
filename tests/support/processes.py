"""Run a service as a real process (`python -m services.<name>`) and wait until it is ready."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from tests.support.servers import free_port


@dataclass
class ServiceProcess:
    """A running service process and where it listens."""

    name: str
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        """SIGKILL: the process dies mid-whatever, as in a crash."""
        self.process.kill()
        self.process.wait(10)

    def stop(self) -> None:
        """SIGTERM and wait for a graceful exit."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


def start_service(
    name: str,
    env: Mapping[str, str],
    *,
    port: int | None = None,
    ready_timeout: float = 120.0,
    log_path: str | None = None,
) -> ServiceProcess:
    """Start `python -m services.<name>` on a free port and wait for `/readyz`."""
    port = port or free_port()
    log = open(log_path or os.devnull, "ab")  # noqa: SIM115 - handed to the child
    process = subprocess.Popen(
        [sys.executable, "-m", f"services.{name}", "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    service = ServiceProcess(name, port, process)
    deadline = time.monotonic() + ready_timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode} (log: {log_path})")
        try:
            if httpx.get(f"{service.url}/readyz", timeout=1).status_code == 200:
                return service
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            service.kill()
            raise TimeoutError(f"{name} not ready within {ready_timeout}s")
        time.sleep(0.1)


@contextmanager
def running(name: str, env: Mapping[str, str], **kwargs: object) -> Iterator[ServiceProcess]:
    """`start_service` for the duration of a block."""
    service = start_service(name, env, **kwargs)  # type: ignore[arg-type]
    try:
        yield service
    finally:
        service.stop()
