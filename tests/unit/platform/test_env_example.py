"""`.env.example` documents every setting with its real default."""

from __future__ import annotations

from scripts.env_example import TARGET, available_settings, render


def test_env_example_is_up_to_date() -> None:
    assert TARGET.read_text() == render(), "run `python -m scripts.env_example`"


def test_every_service_documents_its_settings() -> None:
    names = [service for service, _ in available_settings()]
    assert names == ["gateway", "chat", "retrieval", "store"]
    text = render()
    for expected in ("STORE_PORT=8103", "CHAT_PORT=8101", "DATABASE_URL=", "INTERNAL_TOKEN="):
        assert f"# {expected}" in text
