"""Settings of the gateway (environment prefix `GATEWAY_`)."""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from shared.assertions import AssertionSigner
from shared.contracts.store import MAX_OWNED_IDS, StoreLimits
from shared.settings import ServiceSettings

DEFAULT_MIME_TYPES = (
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
    "text/plain",
    "text/markdown",
)


_CSP_SOURCE = re.compile(r"[^\s;,]+")
"""One source of a CSP source list: nothing that ends it or the policy."""

StrList = Annotated[list[str], NoDecode]
"""A list read from the environment as JSON (`["a","b"]`) or comma-separated (`a,b`)."""


class GatewaySettings(ServiceSettings, StoreLimits):
    """How the gateway authenticates, limits and proxies. (The store's limits bound the
    answers of chat and store.)"""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_")

    port: int = Field(default=8100, ge=1, le=65535)
    """TCP port of the gateway."""
    max_body_bytes: int = Field(default=5 * 1_048_576, ge=1024)
    """Largest request body of any kind (uploads included); larger ones get 413."""
    max_json_bytes: int = Field(default=1_048_576, ge=1024)
    """Largest JSON body on the chat endpoints; larger ones get 413."""
    public_url: str | None = None
    """Public base URL of the gateway (for upload and preview links); unset: from the request."""

    chat_url: str = "http://127.0.0.1:8101"
    """Base URL of the chat service."""
    store_url: str = "http://127.0.0.1:8103"
    """Base URL of the store service (thread ownership checks, attachment bytes)."""
    retrieval_url: str = "http://127.0.0.1:8102"
    """Base URL of the retrieval service, which serves the book the web client shows."""
    corpus: str = Field(
        default="default",
        min_length=1,
        max_length=255,
        pattern=r"^[^/\x00]+$",
        validation_alias=AliasChoices("GATEWAY_CORPUS", "CHAT_CORPUS"),
    )
    """Which book (retrieval corpus) the web client shows and the assistant answers from:
    `CHAT_CORPUS` names it for chat and gateway both, `GATEWAY_CORPUS` for the gateway alone."""
    book_timeout_s: float = Field(default=10.0, gt=0)
    """Longest silence of the retrieval service within one book call."""
    book_max_bytes: int = Field(default=16 * 1_048_576, ge=65_536)
    """Largest table of contents or page taken from the retrieval service (a larger one
    fails the call, 503)."""
    upstream_connect_timeout_s: float = Field(default=5.0, gt=0)
    """Time allowed to connect to the chat service."""
    upstream_idle_timeout_s: float = Field(default=300.0, gt=0)
    """Longest silence from the chat service before the answer is abandoned."""
    upstream_max_connections: int = Field(default=1000, ge=1)
    """Connection pool size towards the chat service (one per open stream)."""

    auth: Literal["dev", "jwt"] = "dev"
    """`dev`: signed anonymous user cookie per browser; `jwt`: bearer token required."""
    cookie_secret: SecretStr | None = None
    """Signs the dev user cookie; unset, a random per-process secret (cookies die on restart)."""
    cookie_name: str = Field(default="chatkit_uid", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    """Name of the dev user cookie; a `Secure` one is sent as `__Host-<name>` (bound to this
    host, `Path=/`, so no other site or subdomain can set it)."""
    cookie_secure: bool | None = None
    """Mark the dev cookie `Secure`; unset: whenever `public_url` is https."""
    cookie_samesite: Literal["lax", "strict", "none"] = "lax"
    """`SameSite` of the dev cookie. `none` lets a page on another site that embeds the
    assistant (`/embed.js`) send it; browsers then require `Secure` (so `public_url` https or
    `GATEWAY_COOKIE_SECURE=true`), and only `GATEWAY_CORS_ORIGINS` can read the answers.
    It is then also `Partitioned`: a reader has one identity per embedding site."""
    cookie_max_age_s: int = Field(default=365 * 86400, ge=60)
    """Lifetime of the dev user cookie; the gateway refuses an older one too."""
    user_assertion_private_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("USER_ASSERTION_PRIVATE_KEY")
    )
    """Ed25519 private key (PEM) the gateway signs user assertions with; chat and store
    check them with `USER_ASSERTION_PUBLIC_KEY`. Unset: no assertions (the service token
    alone then lets a caller act for any user)."""
    user_assertion_ttl_s: int = Field(default=900, ge=30, le=86400)
    """Lifetime of a user assertion: longer than the longest answer (its store calls carry
    the assertion the answer started with)."""
    jwt_algorithms: StrList = ["RS256"]
    """Accepted JWT signing algorithms (fixed; the token's `alg` cannot widen them), of one
    family: HMAC (HS256, HS384, HS512) with a secret, asymmetric (RS*, PS*, ES*, EdDSA) with
    a JWKS."""
    jwt_secret: SecretStr | None = None
    """Shared secret for HMAC-signed tokens (set GATEWAY_JWT_ALGORITHMS to HS256...); not
    with a JWKS URL."""
    jwt_jwks_url: str | None = None
    """JWKS URL of the identity provider (keys fetched and cached); a token is checked with
    its key's algorithm (the JWK's `alg`, or the one its type implies), which must be listed."""
    jwt_audience: str | None = None
    """Required `aud` claim."""
    jwt_issuer: str | None = None
    """Required `iss` claim."""
    jwt_leeway_s: int = Field(default=30, ge=0, le=600)
    """Clock skew tolerated on `exp`/`nbf`/`iat`."""

    cors_origins: StrList = []
    """Origins allowed to call the gateway from a browser (explicit; `*` is refused)."""
    frame_ancestors: StrList = []
    """Sites that may show the web client in a frame (CSP `frame-ancestors` sources, such as
    `https://portal.example.com`); empty: none may."""

    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("GATEWAY_REDIS_URL", "REDIS_URL")
    )
    """Redis for shared rate limits and stream caps; unset: in-process only."""
    redis_prefix: str = "gateway:"
    """Prefix of every Redis key the gateway writes."""
    redis_timeout_s: float = Field(default=0.25, gt=0)
    """Socket timeout of Redis calls; a slower Redis counts as down."""
    redis_retry_s: float = Field(default=5.0, ge=0)
    """After a Redis failure, use in-process limits for this long before trying Redis again."""
    user_rate_per_s: float = Field(default=2.0, gt=0)
    """Sustained requests per second per user."""
    user_burst: int = Field(default=60, ge=1)
    """Requests a user may make in a burst."""
    ip_rate_per_s: float = Field(default=5.0, gt=0)
    """Sustained requests per second per client IP."""
    ip_burst: int = Field(default=120, ge=1)
    """Requests one IP may make in a burst."""
    max_streams_per_user: int = Field(default=3, ge=1)
    """Answers one user may have streaming at once."""
    max_streams_per_address: int = Field(default=10, ge=1)
    """Answers one client address may have streaming at once, all its users together."""
    max_streams_total: int = Field(default=1000, ge=1)
    """Answers streaming at once through every gateway replica (through this one without Redis)."""
    anon_mint_rate_per_s: float = Field(default=0.5, gt=0)
    """New anonymous users (dev auth) one client address may be given per second, sustained;
    past it, a request without a cookie gets 429."""
    anon_mint_burst: int = Field(default=30, ge=1)
    """New anonymous users one client address may be given in a burst."""
    forwarded_allow_ips: StrList = []
    """Addresses or networks of the proxies whose `X-Forwarded-For`/`-Proto` are believed
    (such as the Ingress controller's pod network, `10.0.0.0/8`); the client address is the
    nearest one they do not name. Empty: none, the peer's address is the client's."""
    stream_lease_s: float = Field(default=120.0, ge=1)
    """A stream slot's lease in Redis, renewed while the stream runs (bounds leaks on a crash)."""

    heartbeat_s: float = Field(default=15.0, gt=0)
    """A comment is sent on a stream quiet for this long."""
    send_timeout_s: float = Field(default=30.0, gt=0)
    """A write to a client that takes longer than this ends the stream (stalled reader)."""
    max_query_chars: int = Field(default=4000, ge=1)
    """Most characters of text in one message, its parts (text and tags) together (413 above)."""
    max_message_parts: int = Field(default=20, ge=1, le=1000)
    """Most content parts (text and tags) in one message (422 above)."""
    max_message_bytes: int = Field(default=65_536, ge=1024)
    """Largest serialized user input of one request: a message with its tags, attachment ids
    and options, a client tool's result, an action's payload, structured answers (413 above)."""
    max_attachments_per_message: int = Field(default=10, ge=0, le=MAX_OWNED_IDS)
    """Most attachment ids one message may name, repeats included (422 above); each distinct
    id is checked and forwarded once."""
    max_feedback_items: int = Field(default=50, ge=1, le=MAX_OWNED_IDS)
    """Most item ids one feedback request may name, repeats included (422 above); each
    distinct id is checked and forwarded once."""
    max_title_chars: int = Field(default=200, ge=1)
    """Longest thread title a client may set (413 above)."""
    max_metadata_bytes: int = Field(default=32_768, ge=1024)
    """Largest serialized `metadata` of a ChatKit request (413 above)."""

    attachment_max_bytes: int = Field(default=4 * 1_048_576, ge=1)
    """Largest attachment accepted (413 above)."""
    attachment_mime_types: StrList = list(DEFAULT_MIME_TYPES)
    """MIME types an attachment may have (415 otherwise)."""

    transcription_model: str | None = Field(
        default=None,
        validation_alias=AliasChoices("GATEWAY_TRANSCRIPTION_MODEL", "CHAT_TRANSCRIPTION_MODEL"),
    )
    """The chat service's speech-to-text model for dictation, e.g. `gpt-4o-mini-transcribe`
    or `whisper-1` (unset: dictation is off, `input.transcribe` is a 400). The gateway reads
    it to tell the web client (`GET /api/features`) to show the microphone;
    `GATEWAY_TRANSCRIPTION_MODEL` sets it for the gateway alone."""
    max_audio_bytes: int = Field(default=700_000, ge=1024)
    """Largest dictated recording (`input.transcribe`, decoded bytes) let through (413
    above); its base64 must fit in `GATEWAY_MAX_JSON_BYTES`. The chat service has its own
    `CHAT_MAX_AUDIO_BYTES` and duration limit."""

    @field_validator("user_assertion_private_key")
    @classmethod
    def _private_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value():
            AssertionSigner(value.get_secret_value(), ttl_s=60)  # an Ed25519 private key
            return value
        return None

    @property
    def dev_cookie(self) -> tuple[str, bool]:
        """The dev cookie's name as sent, and whether it is `Secure`."""
        secure = self.cookie_secure
        if secure is None:
            secure = (self.public_url or "").lower().startswith("https://")
        return (f"__Host-{self.cookie_name}" if secure else self.cookie_name), secure

    @field_validator(
        "jwt_algorithms",
        "cors_origins",
        "frame_ancestors",
        "attachment_mime_types",
        "forwarded_allow_ips",
        mode="before",
    )
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _check(self) -> GatewaySettings:
        if "*" in self.cors_origins:
            raise ValueError("GATEWAY_CORS_ORIGINS must list origins explicitly, not '*'.")
        for proxy in self.forwarded_allow_ips:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ValueError(
                    "GATEWAY_FORWARDED_ALLOW_IPS must list proxy addresses or networks"
                    f" (such as 10.0.0.0/8), not {proxy!r}: a client writes X-Forwarded-For"
                    " itself, so only named proxies are believed."
                ) from None
        if self.cookie_samesite == "none" and not self.dev_cookie[1]:
            raise ValueError(
                "GATEWAY_COOKIE_SAMESITE=none needs a Secure cookie (an https"
                " GATEWAY_PUBLIC_URL, or GATEWAY_COOKIE_SECURE=true): browsers drop it otherwise."
            )
        if any(not _CSP_SOURCE.fullmatch(source) for source in self.frame_ancestors):
            raise ValueError("GATEWAY_FRAME_ANCESTORS must be CSP sources such as https://host.")
        if self.auth == "jwt":
            if not (self.jwt_secret or self.jwt_jwks_url):
                raise ValueError("GATEWAY_AUTH=jwt needs GATEWAY_JWT_JWKS_URL or _JWT_SECRET.")
            if not (self.jwt_audience and self.jwt_issuer):
                raise ValueError("GATEWAY_AUTH=jwt needs GATEWAY_JWT_AUDIENCE and _JWT_ISSUER.")
            if any(alg.lower() == "none" for alg in self.jwt_algorithms):
                raise ValueError("GATEWAY_JWT_ALGORITHMS must not include 'none'.")
            from jwt.algorithms import HMACAlgorithm, get_default_algorithms

            known = get_default_algorithms()
            unknown = [alg for alg in self.jwt_algorithms if alg not in known]
            if unknown or not self.jwt_algorithms:
                raise ValueError(
                    "GATEWAY_JWT_ALGORITHMS must name one or more algorithms PyJWT implements"
                    f" (such as RS256, ES256 or HS256, spelled so); unknown: {unknown}."
                )
            if self.jwt_secret and self.jwt_jwks_url:
                raise ValueError(
                    "GATEWAY_AUTH=jwt takes GATEWAY_JWT_SECRET or GATEWAY_JWT_JWKS_URL, not both"
                    " (tokens would be checked with the JWKS only)."
                )
            hmac = [alg for alg in self.jwt_algorithms if isinstance(known[alg], HMACAlgorithm)]
            if self.jwt_secret and len(hmac) < len(self.jwt_algorithms):
                raise ValueError(
                    "With GATEWAY_JWT_SECRET, GATEWAY_JWT_ALGORITHMS must list HMAC algorithms"
                    " only (HS256, HS384, HS512): a secret cannot check another family."
                )
            if self.jwt_jwks_url and hmac:
                raise ValueError(
                    "With GATEWAY_JWT_JWKS_URL, GATEWAY_JWT_ALGORITHMS must list asymmetric"
                    " algorithms only (RS*, PS*, ES*, EdDSA): with an HMAC one a public key"
                    " could serve as the shared secret."
                )
        if -(-self.max_audio_bytes // 3) * 4 + 65536 > self.max_json_bytes:
            raise ValueError(
                "GATEWAY_MAX_AUDIO_BYTES, base64-encoded, must fit in GATEWAY_MAX_JSON_BYTES"
                " with 64 KiB to spare."
            )
        if self.attachment_max_bytes + 65536 > self.max_body_bytes:
            raise ValueError("GATEWAY_MAX_BODY_BYTES must exceed ATTACHMENT_MAX_BYTES by 64 KiB.")
        return self
