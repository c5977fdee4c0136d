"""Settings of the store service (environment prefix `STORE_`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import SettingsConfigDict

from shared.contracts.store import StoreLimits
from shared.settings import ServiceSettings


class StoreSettings(ServiceSettings, StoreLimits):
    """How the store service listens, which PostgreSQL it uses, and what a user may keep."""

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

    # -- quotas (403 `quota_exceeded`: deleting makes room, retrying alone does not) ----
    max_threads_per_user: int = Field(default=1000, ge=1)
    """Threads one user may keep."""
    max_items_per_thread: int = Field(default=1000, ge=2)
    """Items one thread may hold: messages, tool calls, widgets, hidden context."""
    reply_items_reserved: int = Field(default=20, ge=0)
    """Room a new user message must leave in its thread, so that its reply is not cut off
    by STORE_MAX_ITEMS_PER_THREAD (a reply that outgrows it ends with an error event)."""
    max_attachment_bytes_per_user: int = Field(default=100 * 1_048_576, ge=0)
    """Bytes of attachment content one user may keep."""
    unsent_attachment_ttl_s: float = Field(default=86_400, ge=1)
    """An attachment uploaded but never sent in a message is deleted this long after its
    upload (its bytes then stop counting against the user's quota)."""
    attachment_sweep_interval_s: float = Field(default=600, ge=0)
    """How often each replica deletes unsent attachments past their TTL (0: never)."""

    @model_validator(mode="after")
    def _message_fits(self) -> StoreSettings:
        if self.reply_items_reserved >= self.max_items_per_thread:
            raise ValueError("STORE_REPLY_ITEMS_RESERVED must be below STORE_MAX_ITEMS_PER_THREAD.")
        return self

    def database_limits(self) -> dict[str, int]:
        """What PostgreSQL enforces, by name (set on every connection as `chatkit.<name>`,
        read by the triggers of `migrations/0003_limits.sql`)."""
        return {
            "max_item_bytes": self.store_max_item_bytes,
            "max_metadata_bytes": self.store_max_metadata_bytes,
            "max_threads_per_user": self.max_threads_per_user,
            "max_items_per_thread": self.max_items_per_thread,
            "reply_items_reserved": self.reply_items_reserved,
            "max_attachment_bytes_per_user": self.max_attachment_bytes_per_user,
        }
