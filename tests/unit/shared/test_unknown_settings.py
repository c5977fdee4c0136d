"""A variable with a service's prefix that names no setting is reported, not dropped silently."""

from __future__ import annotations

import pytest

from services.chat.settings import ChatSettings
from services.gateway.settings import GatewaySettings
from shared.settings import load_settings, unknown_variables


def test_misspellings_are_found_and_real_names_are_not() -> None:
    environ = {
        "GATEWAY_MAX_STREAM_PER_USER": "5",  # misspelt: _STREAMS_
        "GATEWAY_MAX_STREAMS_PER_USER": "5",
        "gateway_cors_origins": "https://a.example",  # names are case-insensitive
        "GATEWAY_REDIS_URL": "redis://r",  # an alias
        "CHAT_CORPUS": "mine",  # another service's prefix
        "PATH": "/bin",
    }
    assert unknown_variables(GatewaySettings, environ) == ["GATEWAY_MAX_STREAM_PER_USER"]
    assert unknown_variables(ChatSettings, {"CHAT_MODLE": "x", "CHAT_CORPUS": "y"}) == [
        "CHAT_MODLE"
    ]


def test_loading_warns_about_them(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GATEWAY_MAX_STREAM_PER_USER", "5")
    load_settings(GatewaySettings)
    err = capsys.readouterr().err
    assert "ignoring GATEWAY_MAX_STREAM_PER_USER: no such setting" in err
