"""Typed settings: one class per service, each with its own environment prefix.

Values come from the environment (and a `.env` file when present) and are
validated when the service starts, so a bad value stops it with a clear message.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import sys
from collections.abc import Mapping
from typing import Literal, TypeVar

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LogLevel = Literal["debug", "info", "warning", "error"]


class ServiceSettings(BaseSettings):
    """Settings every service has. Subclasses set `env_prefix` and the default port."""

    model_config = SettingsConfigDict(
        env_file=".env",
        extra="ignore",
        frozen=True,
        populate_by_name=True,
        use_attribute_docstrings=True,  # field docstrings document .env.example
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
    """Shared service-to-service token. When set, internal calls must carry it; required by
    a service that checks it and listens beyond loopback."""
    user_assertion_public_key: str | None = Field(
        default=None, validation_alias=AliasChoices("USER_ASSERTION_PUBLIC_KEY")
    )
    """Ed25519 public key (PEM) of the gateway's user assertions. When set, a call that
    acts for a user (`X-User-ID`) must carry the gateway's signed assertion of that user
    (401 otherwise), so the service token alone acts for nobody. The gateway signs with
    `USER_ASSERTION_PRIVATE_KEY`."""
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    """Largest request body accepted, in bytes; larger ones get 413."""
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    """Serve `/metrics` on this port of `host` only, apart from the API (so a public
    edge never exposes it). Unset: `/metrics` is on the service port."""

    @field_validator("user_assertion_public_key")
    @classmethod
    def _public_key(cls, value: str | None) -> str | None:
        if value:
            from shared.assertions import AssertionVerifier

            AssertionVerifier(value)  # refuses anything but an Ed25519 public key
        return value or None

    @property
    def token(self) -> str | None:
        """The internal token as plain text, or None when not configured."""
        return self.internal_token.get_secret_value() if self.internal_token else None


@functools.lru_cache(maxsize=64)
def is_loopback(host: str) -> bool:
    """Whether `host` (an interface or an address) is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


S = TypeVar("S", bound=BaseSettings)


def unknown_variables(cls: type[BaseSettings], environ: Mapping[str, str]) -> list[str]:
    """Variables in `environ` with `cls`'s prefix that name none of its settings (they
    would be ignored silently)."""
    prefix = str(cls.model_config.get("env_prefix", "")).upper()
    if not prefix:
        return []
    known = set()
    for name, info in cls.model_fields.items():
        known.add(prefix + name.upper())
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            known.update(str(choice).upper() for choice in alias.choices)
        elif isinstance(alias, str):
            known.add(alias.upper())
    return sorted(k for k in environ if k.upper().startswith(prefix) and k.upper() not in known)


def load_settings(cls: type[S]) -> S:
    """Read `cls` from the environment; on a bad value, exit with a message naming it.

    Used where a process starts (the app factories and `python -m services.<name>`),
    so a misconfigured service stops before it serves anything.
    """
    unknown = unknown_variables(cls, os.environ)
    if unknown:
        print(
            f"{cls.__name__}: ignoring {', '.join(unknown)}: no such setting (a misspelling?"
            " .env.example lists every setting)",
            file=sys.stderr,
        )
    try:
        return cls()
    except ValidationError as exc:
        prefix = cls.model_config.get("env_prefix", "")
        problems = "\n".join(
            f"  {prefix}{'.'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors(include_url=False)
        )
        sys.exit(f"{cls.__name__}: invalid configuration\n{problems}")
