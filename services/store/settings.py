"""Settings of the store service (environment prefix `STORE_`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class StoreSettings(ServiceSettings):
    """How the store service listens and which PostgreSQL it uses."""

    model_config = SettingsConfigDict(env_prefix="STORE_")

    port: int = Field(default=8103, ge=1, le=65535)
    """TCP port of the store service."""
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("STORE_DATABASE_URL", "DATABASE_URL")
    )
    """PostgreSQL URL. Unset: start an embedded PostgreSQL with its data under `data_dir`."""
    data_dir: Path = Field(
        default=Path(".data"), validation_alias=AliasChoices("STORE_DATA_DIR", "DATA_DIR")
    )
    """Where the embedded PostgreSQL keeps its files."""
    pool_min_size: int = Field(default=2, ge=0)
    """Connections the pool keeps open when idle."""
    pool_max_size: int = Field(default=20, ge=1)
    """Most connections the pool opens."""
    statement_timeout_ms: int = Field(default=10_000, ge=100)
    """Server-side cap on one statement's run time."""
    reconnect_window_s: float = Field(default=5.0, ge=0)
    """How long a request waits for PostgreSQL to come back after its connection died."""
    max_body_bytes: int = Field(default=4 * 1_048_576, ge=1024)
    """Largest request body accepted, in bytes (items carry whole widgets)."""
    max_attachment_bytes: int = Field(default=20 * 1_048_576, ge=1024)
    """Largest attachment upload accepted, in bytes."""
