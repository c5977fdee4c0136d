"""Fail any test that tries to reach a real model API (or any non-loopback host)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

LOOPBACK = {None, "localhost", "127.0.0.1", "::1", "0.0.0.0", b"localhost", b"127.0.0.1"}
MODEL_ENV = (
    "OPENAI_API_KEY",
    "CHAT_OPENAI_API_KEY",
    "CHAT_MODEL_PROVIDER",
    "CHAT_OPENAI_BASE_URL",
    "OPENAI_BASE_URL",
    "CHAT_MODEL",
)


@pytest.fixture(autouse=True)
def no_real_model_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No model keys in the environment, and name lookups only for loopback."""
    for name in MODEL_ENV:
        monkeypatch.delenv(name, raising=False)
    attempts: list[Any] = []
    real = socket.getaddrinfo

    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in LOOPBACK:
            attempts.append(host)
            raise OSError(f"test tried to reach {host!r}: tests must not call real model APIs")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)
    yield
    assert not attempts, f"a test tried to reach external hosts: {attempts}"
