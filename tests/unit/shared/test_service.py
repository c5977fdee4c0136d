"""`build_app`: a service that checks the service token will not listen beyond loopback
without one."""

from __future__ import annotations

import pytest
from pydantic_settings import SettingsConfigDict

from shared.service import build_app
from shared.settings import ServiceSettings, is_loopback


class StoreLike(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="STORE_")


def settings(host: str, token: str | None = None) -> StoreLike:
    return StoreLike(_env_file=None, host=host, internal_token=token, log_level="warning")


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.2", "", "store.internal"])
def test_no_token_beyond_loopback_stops_the_service(host: str) -> None:
    with pytest.raises(SystemExit) as stopped:
        build_app("store", settings(host), [])
    message = str(stopped.value.code)
    assert "INTERNAL_TOKEN is not set" in message and "STORE_HOST" in message


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "[::1]", "localhost", "127.0.0.2"])
def test_loopback_runs_without_a_token(host: str) -> None:
    assert is_loopback(host)
    build_app("store", settings(host), [])


def test_a_token_or_no_token_check_allows_any_interface() -> None:
    build_app("store", settings("0.0.0.0", token="s3cret"), [])
    build_app("gateway", settings("0.0.0.0"), [], check_service_token=False)
