"""Typed settings: one class per service, each with its own environment prefix.

Values come from the environment (and a `.env` file when present) and are
validated when the service starts, so a bad value stops it with a clear message.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

LogLevel = Literal["debug", "info", "warning", "error"]


class ServiceSettings(BaseSettings):
    """Settings every service has. Subclasses set `env_prefix` and the default port."""

    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", frozen=True, populate_by_name=True
    )

    host: str = "127.0.0.1"
    """Interface the HTTP server binds to."""
    port: int = Field(default=8000, ge=1, le=65535)
    """TCP port the HTTP server listens on."""
    log_level: LogLevel = "info"
    """Minimum level of the structured logs written to stderr."""
    log_json: bool = True
    """Write logs as one JSON object per line (False: plain text for a terminal)."""
    internal_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("INTERNAL_TOKEN")
    )
    """Shared service-to-service token. When set, internal calls must carry it."""
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    """Largest request body accepted, in bytes; larger ones get 413."""

    @property
    def token(self) -> str | None:
        """The internal token as plain text, or None when not configured."""
        return self.internal_token.get_secret_value() if self.internal_token else None
