"""`CHAT_MODEL_PROVIDER` -> an Agents SDK `Model`."""

from __future__ import annotations

import os
from dataclasses import dataclass

from agents import (
    Model,
    OpenAIChatCompletionsModel,
    OpenAIResponsesModel,
    set_tracing_disabled,
    set_tracing_export_api_key,
)
from openai import AsyncOpenAI

from services.chat.models.offline import OfflineBookModel
from services.chat.settings import ChatSettings, ModelProviderName

DEFAULT_OPENAI_MODEL = "gpt-4.1-mini"


class ModelConfigError(ValueError):
    """The settings do not describe a usable model."""


@dataclass
class ModelChoice:
    """The model in force and what the service must do for it."""

    provider: ModelProviderName
    model: Model
    name: str
    chains_responses: bool
    """Send only new input with `previous_response_id` (the Responses API keeps the rest)."""
    client: AsyncOpenAI | None = None

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()


def choose_model(settings: ChatSettings) -> ModelChoice:
    """Build the model `settings` ask for (raises `ModelConfigError` when incomplete)."""
    provider = settings.provider
    if provider == "offline":
        model = OfflineBookModel(token_delay_ms=settings.offline_token_delay_ms)
        return ModelChoice(provider, model, "offline-extractive", chains_responses=False)
    if provider == "openai":
        if not settings.api_key:
            raise ModelConfigError("CHAT_MODEL_PROVIDER=openai needs OPENAI_API_KEY.")
        client = AsyncOpenAI(
            api_key=settings.api_key,
            base_url=settings.openai_base_url,
            timeout=settings.model_timeout_s,
            max_retries=1,
        )
        name = settings.model or DEFAULT_OPENAI_MODEL
        responses = OpenAIResponsesModel(model=name, openai_client=client)
        return ModelChoice(provider, responses, name, chains_responses=True, client=client)
    if provider == "openai-compatible":
        if not settings.openai_base_url or not settings.model:
            raise ModelConfigError(
                "CHAT_MODEL_PROVIDER=openai-compatible needs CHAT_OPENAI_BASE_URL (the Chat "
                "Completions server, e.g. http://localhost:11434/v1) and CHAT_MODEL."
            )
        client = AsyncOpenAI(
            # Local servers usually ignore the key, but the client insists on one.
            api_key=settings.api_key or "not-needed",
            base_url=settings.openai_base_url,
            timeout=settings.model_timeout_s,
            max_retries=1,
        )
        completions = OpenAIChatCompletionsModel(model=settings.model, openai_client=client)
        return ModelChoice(
            provider, completions, settings.model, chains_responses=False, client=client
        )
    if provider == "litellm":
        if not settings.model:
            raise ModelConfigError(
                "CHAT_MODEL_PROVIDER=litellm needs CHAT_MODEL (e.g. anthropic/claude-sonnet-4)."
            )
        # Importing LiteLLM fetches its model cost map from GitHub, later calls may fetch other
        # catalogs or tokenizers, and its default DEV mode loads ./.env into os.environ. Use the
        # copies bundled with the package and leave the environment alone (an operator's own
        # setting of these variables wins).
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        os.environ.setdefault("LITELLM_OFFLINE_MODE", "true")
        os.environ.setdefault("LITELLM_MODE", "PRODUCTION")
        try:
            from agents.extensions.models.litellm_model import LitellmModel
        except ImportError as exc:  # optional: litellm is a large dependency
            raise ModelConfigError(
                "CHAT_MODEL_PROVIDER=litellm needs the `litellm` package installed."
            ) from exc
        import litellm

        # LitellmModel takes no timeout; LiteLLM's documented process-wide one applies.
        litellm.request_timeout = settings.model_timeout_s
        key = settings.litellm_api_key.get_secret_value() if settings.litellm_api_key else None
        routed = LitellmModel(model=settings.model, base_url=settings.litellm_api_base, api_key=key)
        return ModelChoice(provider, routed, settings.model, chains_responses=False)
    raise ModelConfigError(f"Unknown model provider {provider!r}.")


def configure_tracing(settings: ChatSettings) -> bool:
    """Export traces to OpenAI only when an OpenAI key is configured; returns whether on."""
    key = settings.api_key
    if key and settings.tracing_enabled:
        set_tracing_export_api_key(key)
        set_tracing_disabled(False)
        return True
    set_tracing_disabled(True)
    return False
