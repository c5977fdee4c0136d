"""Settings of the chat service (environment prefix `CHAT_`)."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from shared.contracts.store import StoreLimits
from shared.settings import ServiceSettings

ModelProviderName = Literal["offline", "openai", "openai-compatible", "litellm"]
BASE64_ENVELOPE_BYTES = 65_536
"""Room in a request body for what surrounds the base64 audio of `input.transcribe`."""


class ChatSettings(ServiceSettings, StoreLimits):
    """Where the store and retrieval services are, which model answers, and the budgets.
    (The store's limits bound the answers read from it.)"""

    model_config = SettingsConfigDict(env_prefix="CHAT_")

    port: int = Field(default=8101, ge=1, le=65535)
    """TCP port of the chat service."""

    # -- provider services ------------------------------------------------------
    store_url: str = "http://127.0.0.1:8103"
    """Base URL of the store service."""
    retrieval_url: str = "http://127.0.0.1:8102"
    """Base URL of the retrieval service."""
    store_timeout_s: float = Field(default=5.0, gt=0)
    """Timeout of one store call; a slower store ends the stream with a retryable error."""
    retrieval_timeout_s: float = Field(default=5.0, gt=0)
    """Timeout of one search; a slower search becomes a tool error the model explains."""
    corpus: str = Field(default="default", min_length=1, max_length=255)
    """Which book (retrieval corpus) the assistant answers from."""
    search_top_k: int = Field(default=5, ge=1, le=20)
    """Passages one `search_book` call returns to the model."""

    # -- model ------------------------------------------------------------------
    model_provider: ModelProviderName | None = None
    """`offline`, `openai`, `openai-compatible` or `litellm`. Unset: `openai` when an OpenAI
    API key is configured, else `offline`."""
    model: str | None = None
    """Model name. Unset: the provider's default (`gpt-4.1-mini` for `openai`)."""
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("CHAT_OPENAI_API_KEY", "OPENAI_API_KEY")
    )
    """API key for `openai` (and for `openai-compatible` servers that want one)."""
    openai_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("CHAT_OPENAI_BASE_URL", "OPENAI_BASE_URL")
    )
    """Base URL of the Responses API (`openai`) or the Chat Completions server
    (`openai-compatible`: vLLM, Ollama, llama.cpp server)."""
    litellm_api_base: str | None = None
    """`api_base` passed to LiteLLM, if the vendor needs one."""
    litellm_api_key: SecretStr | None = None
    """API key passed to LiteLLM (else LiteLLM reads the vendor's own variable)."""
    tracing: bool | None = None
    """Export Agents SDK traces to OpenAI. Unset: on only for `openai` with an API key and
    OpenAI's own endpoint (no `CHAT_OPENAI_BASE_URL`)."""
    model_timeout_s: float = Field(default=60.0, gt=0)
    """Timeout of one model call over the network."""
    max_turns: int = Field(default=6, ge=1, le=50)
    """Most model calls in one reply (each tool round trip is one)."""
    offline_token_delay_ms: float = Field(default=15.0, ge=0)
    """Pause between streamed tokens of the offline model (0: as fast as possible)."""

    # -- conversation -----------------------------------------------------------
    history_max_items: int = Field(default=40, ge=1, le=200)
    """Most earlier thread items sent to the model."""
    history_max_tokens: int = Field(default=6000, ge=100)
    """Rough token budget (4 characters a token) of the earlier items sent to the model."""
    cancel_persist_timeout_s: float = Field(default=5.0, gt=0)
    """How long a cancelled stream may spend saving its partial reply."""

    # -- resumable streams (requests with `X-ChatKit-Resumable: 1`) ---------------
    resume_grace_s: float = Field(default=30.0, ge=0, le=600)
    """How long a resumable answer runs on after its reader's connection dropped; nobody
    resuming by then cancels it (its partial reply is saved)."""
    resume_keep_s: float = Field(default=60.0, ge=0, le=3600)
    """How long a finished resumable answer's events stay for a reader that reconnects late."""
    resume_max_bytes: int = Field(default=2_000_000, ge=10_000)
    """Most event bytes buffered per resumable answer (older events are dropped beyond)."""
    resume_max_detached_per_user: int = Field(default=2, ge=0, le=50)
    """Most answers of one user running with nobody reading; a drop beyond cancels at once."""
    resume_lease_s: float = Field(default=10.0, ge=0.5, le=300)
    """With Redis: how long a run's keys outlive the last renewal by the replica running it,
    so a replica that died mid-answer is noticed by readers elsewhere within this."""
    resume_max_remote_readers: int = Field(default=100, ge=1, le=10_000)
    """With Redis: most readers this replica serves at once for answers other replicas run
    (each holds a Redis connection); beyond, a resume waits `CHAT_REDIS_TIMEOUT_S`, then 503."""
    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("CHAT_REDIS_URL", "REDIS_URL")
    )
    """Redis that shares resumable answers between chat replicas (resume and stop through
    any of them). Unset: each replica keeps its own, in memory."""
    redis_prefix: str = "chat:"
    """Prefix of every Redis key the chat service writes."""
    redis_timeout_s: float = Field(default=0.5, gt=0)
    """Timeout of one Redis call; a failure stops sharing that answer, never the answer."""

    # -- dictation (input.transcribe) ------------------------------------------
    transcription_model: str | None = None
    """Speech-to-text model of dictation, e.g. `gpt-4o-mini-transcribe`, `whisper-1`, or
    what a local server calls its model. Unset: dictation is off (`input.transcribe` is a
    400). The gateway reads this variable too, to show the microphone button."""
    transcription_base_url: str | None = None
    """Base URL of an OpenAI-compatible `/audio/transcriptions` endpoint (a local whisper
    server). Unset: OpenAI's API (`CHAT_OPENAI_BASE_URL` is the chat model's alone)."""
    transcription_api_key: SecretStr | None = None
    """API key of the transcription endpoint. Unset: `CHAT_OPENAI_API_KEY`."""
    transcription_timeout_s: float = Field(default=30.0, gt=0)
    """Timeout of one transcription call."""
    transcription_retries: int = Field(default=1, ge=0, le=5)
    """Retries of a transcription call that failed with a connection error, 408, 409, 429
    or 5xx (the `openai` SDK's own retry rule)."""
    max_audio_bytes: int = Field(default=700_000, ge=1024)
    """Largest dictated recording (decoded bytes); larger ones get 413. Its base64 must fit
    in `CHAT_MAX_BODY_BYTES`."""
    max_audio_seconds: float = Field(default=120.0, gt=0, le=1500)
    """Longest dictated recording; longer ones get 413."""

    @model_validator(mode="after")
    def _dictation(self) -> ChatSettings:
        if -(-self.max_audio_bytes // 3) * 4 + BASE64_ENVELOPE_BYTES > self.max_body_bytes:
            raise ValueError(
                "CHAT_MAX_AUDIO_BYTES, base64-encoded, must fit in CHAT_MAX_BODY_BYTES with"
                " 64 KiB to spare."
            )
        if self.transcription_model and not (self.transcription_key or self.transcription_base_url):
            raise ValueError(
                "CHAT_TRANSCRIPTION_MODEL needs an API key (CHAT_TRANSCRIPTION_API_KEY or"
                " CHAT_OPENAI_API_KEY) or a CHAT_TRANSCRIPTION_BASE_URL."
            )
        return self

    @property
    def provider(self) -> ModelProviderName:
        """The provider in force (the default resolved)."""
        if self.model_provider is not None:
            return self.model_provider
        return "openai" if self.openai_api_key else "offline"

    @property
    def tracing_enabled(self) -> bool:
        """Whether traces are exported to OpenAI (never without an API key)."""
        if not self.api_key:
            return False
        if self.tracing is not None:
            return self.tracing
        return self.provider == "openai" and self.openai_base_url is None

    @property
    def api_key(self) -> str | None:
        """The OpenAI API key as plain text, if any."""
        return self.openai_api_key.get_secret_value() if self.openai_api_key else None

    @property
    def transcription_key(self) -> str | None:
        """The transcription endpoint's API key as plain text (the OpenAI key by default);
        a placeholder for a keyless local server, which the `openai` SDK insists on."""
        key = self.transcription_api_key or self.openai_api_key
        if key:
            return key.get_secret_value()
        return "unused" if self.transcription_base_url else None
