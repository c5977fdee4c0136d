"""The whole platform as four real processes, wired together, for end-to-end and fault tests.

The store uses the given PostgreSQL database, retrieval indexes the demo book
into a temporary directory (or starts from a copy of an index built once with
`build_book_index`), chat runs the offline model, and the gateway fronts them with
dev auth. Every internal call carries a service token. A service named in
`proxied` is reached by the others through a `TcpProxy`, for fault injection.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from shared.assertions import AssertionSigner, new_key_pair, user_headers
from tests.support.processes import ServiceProcess, start_service
from tests.support.servers import free_port
from tests.support.tcp_proxy import TcpProxy

REPO = Path(__file__).resolve().parents[2]
BOOK = REPO / "docs" / "book"


@dataclass
class Stack:
    """Running services, by name, and how to reach them."""

    services: dict[str, ServiceProcess]
    env: dict[str, dict[str, str]]
    token: str
    logs: Path
    stack: ExitStack = field(repr=False)
    proxies: dict[str, TcpProxy] = field(default_factory=dict)
    assertions: AssertionSigner | None = field(default=None, repr=False)
    """Signs user assertions as the gateway does (chat and store check them)."""

    def acting_for(self, user_id: str) -> dict[str, str]:
        """Headers of an internal call acting for `user_id`, as the gateway sends them."""
        return {"x-service-token": self.token, **user_headers(user_id, self.assertions)}

    @property
    def gateway(self) -> str:
        return self.services["gateway"].url

    def url(self, name: str) -> str:
        return self.services[name].url

    def kill(self, name: str) -> None:
        """SIGKILL one service, as in a crash."""
        self.services[name].kill()

    def restart(self, name: str) -> None:
        """Start a killed (or stopped) service again on the same port."""
        old = self.services[name]
        if old.process.poll() is None:
            old.stop()
        self.services[name] = start_service(
            name, self.env[name], port=old.port, log_path=str(self.logs / f"{name}.log")
        )


@contextmanager
def platform(
    tmp: Path,
    *,
    database_url: str,
    redis_url: str | None = None,
    token_delay_ms: float = 0,
    book: Path = BOOK,
    extra_env: Mapping[str, Mapping[str, str]] | None = None,
    index_from: Path | None = None,
    proxied: Iterable[str] = (),
    proxy_factory: Callable[[int], TcpProxy] = TcpProxy,
) -> Iterator[Stack]:
    """Start store, retrieval, chat and gateway (in that order); stop them all afterwards.

    `index_from`: a retrieval data directory (`build_book_index`) copied in, so that
    retrieval skips its start-up ingestion. `proxied`: services the others reach
    through a proxy made by `proxy_factory(target_port)` (`Stack.proxies`).
    """
    token = secrets.token_hex(16)
    ports = {name: free_port() for name in ("store", "retrieval", "chat", "gateway")}
    proxies = {name: proxy_factory(ports[name]) for name in proxied}
    base = {
        name: proxies[name].url if name in proxies else f"http://127.0.0.1:{port}"
        for name, port in ports.items()
    }
    if index_from is not None:
        shutil.copytree(index_from, tmp / "retrieval")
    common = {"INTERNAL_TOKEN": token, "HF_HUB_OFFLINE": "1"}
    private_key, public_key = new_key_pair()  # chat and store check the gateway's assertions
    env: dict[str, dict[str, str]] = {
        "store": {
            "STORE_DATABASE_URL": database_url,
            "STORE_LOG_LEVEL": "warning",
            "USER_ASSERTION_PUBLIC_KEY": public_key,
        },
        "retrieval": {
            "RETRIEVAL_DATA_DIR": str(tmp / "retrieval"),
            "RETRIEVAL_INGEST_ON_START": str(book),
            "RETRIEVAL_LOG_LEVEL": "warning",
        },
        "chat": {
            "CHAT_STORE_URL": base["store"],
            "CHAT_RETRIEVAL_URL": base["retrieval"],
            "CHAT_MODEL_PROVIDER": "offline",
            "CHAT_OFFLINE_TOKEN_DELAY_MS": str(token_delay_ms),
            "CHAT_LOG_LEVEL": "warning",
            "USER_ASSERTION_PUBLIC_KEY": public_key,
            "CHAT_REDIS_PREFIX": f"chat:{secrets.token_hex(4)}:",
        },
        "gateway": {
            "GATEWAY_CHAT_URL": base["chat"],
            "GATEWAY_STORE_URL": base["store"],
            "GATEWAY_AUTH": "dev",
            "GATEWAY_COOKIE_SECRET": secrets.token_hex(16),
            "GATEWAY_RETRIEVAL_URL": base["retrieval"],
            "GATEWAY_LOG_LEVEL": "warning",
            "USER_ASSERTION_PRIVATE_KEY": private_key,
            # Limits of this stack only, when a REDIS_URL from the environment is shared.
            "GATEWAY_REDIS_PREFIX": f"gateway:{secrets.token_hex(4)}:",
        },
    }
    for name in env:
        env[name] |= common
        if redis_url:
            env[name]["REDIS_URL"] = redis_url
        env[name] |= dict((extra_env or {}).get(name, {}))
    logs = tmp / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        for proxy in proxies.values():
            proxy.start()
            stack.callback(proxy.stop)
        services: dict[str, ServiceProcess] = {}
        for name in ("store", "retrieval", "chat", "gateway"):
            service = start_service(
                name, env[name], port=ports[name], log_path=str(logs / f"{name}.log")
            )
            services[name] = service
            stack.callback(_stopper(services, name))
        signer = AssertionSigner(private_key, ttl_s=3600)
        yield Stack(services, env, token, logs, stack, proxies, signer)


def build_book_index(data_dir: Path, book: Path = BOOK) -> None:
    """Ingest `book` into an embedded retrieval index under `data_dir` (the ingest CLI)."""
    env = {**os.environ, "RETRIEVAL_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1"}
    subprocess.run(
        [sys.executable, "-m", "services.retrieval.ingest", str(book), "--quiet"],
        env=env,
        check=True,
        capture_output=True,
        timeout=600,
    )


def _stopper(services: dict[str, ServiceProcess], name: str) -> Callable[[], None]:
    # Looked up at exit: a restarted service is a new process under the same name.
    return lambda: services[name].stop()
