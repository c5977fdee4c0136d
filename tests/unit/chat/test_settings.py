"""`settings.py`: the defaults resolved."""

from __future__ import annotations

from services.chat.settings import ChatSettings


def test_provider_defaults_to_offline_without_a_key() -> None:
    assert ChatSettings().provider == "offline"
    assert ChatSettings(openai_api_key="sk-test").provider == "openai"
