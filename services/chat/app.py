"""The chat service app: `uvicorn services.chat.app:create_app --factory`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from chatkit.store import NotFoundError, Store
from starlette.applications import Starlette

from services.chat.clients.retrieval import RetrievalClient
from services.chat.context import SearchBackend
from services.chat.errors import ChatError, QuotaExceeded, RecordTooLarge, UnknownMention
from services.chat.models.providers import ModelChoice, choose_model, configure_tracing
from services.chat.routes import ChatState, routes
from services.chat.server import BookChatServer
from services.chat.settings import ChatSettings
from services.chat.shared_runs import SharedLimits, SharedRuns
from services.chat.store_client import HttpStore
from services.chat.streams import Gone, Runs, StreamLimits
from services.chat.transcription import AudioTooLarge, AudioTooLong, Transcriber
from shared.contracts.retrieval import MAX_TOP_K
from shared.errors import ErrorTable
from shared.http import UPSTREAM_ERRORS, ServiceHttp
from shared.service import build_app
from shared.settings import load_settings

logger = logging.getLogger(__name__)

ERRORS: ErrorTable = {
    **UPSTREAM_ERRORS,
    NotFoundError: 404,
    ChatError: 400,
    QuotaExceeded: 403,
    RecordTooLarge: 413,
    AudioTooLarge: 413,
    AudioTooLong: 413,
    UnknownMention: 422,
    Gone: 410,
}
"""The chat service's one error table: error -> HTTP status. (A stream that has started
ends with an `error` event instead, see `routes.py`.)"""

SEARCH_HIT_BYTES = 32 * 1024
"""Room for one search result: a chunk of up to 4,000 characters (`RETRIEVAL_CHUNK_MAX_CHARS`'s
default) as JSON, at up to 6 bytes a character (24,000), with its source and headings. A
retrieval service set to longer chunks needs this raised with it."""


class _Probes:
    """What `/readyz` checks: the `/healthz` of each dependency the lifespan reaches over
    HTTP (none for one given in-process). Readiness checks get no request, so they cannot
    read the lifespan state; the lifespan fills this in."""

    def __init__(self) -> None:
        self.healthz: dict[str, Callable[[], Awaitable[int]]] = {}

    def check(self, name: str) -> Callable[[], Awaitable[None]]:
        async def ready() -> None:
            status = self.healthz.get(name)
            if status is not None and (code := await status()) != 200:
                raise RuntimeError(f"/healthz answered {code}")

        return ready


def create_app(
    settings: ChatSettings | None = None,
    *,
    store: Store[Any] | None = None,
    search: SearchBackend | None = None,
    model: ModelChoice | None = None,
) -> Starlette:
    """Build the chat service. Store and search are the HTTP clients of the store and
    retrieval services unless given (tests, the in-process benchmark baseline); what the
    lifespan opens it closes, and it hands handlers the server as its state."""
    settings = settings or load_settings(ChatSettings)
    configure_tracing(settings)
    probes = _Probes()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[ChatState]:
        async with AsyncExitStack() as stack:
            chosen = model or choose_model(settings)
            if model is None:
                stack.push_async_callback(chosen.close)
            chat_store = store
            if chat_store is None:
                store_http = await stack.enter_async_context(
                    ServiceHttp(
                        settings.store_url,
                        service="store",
                        token=settings.token,
                        timeout_s=settings.store_timeout_s,
                        max_body_bytes=settings.store_answer_bytes,
                    )
                )
                probes.healthz["store"] = store_http.status
                chat_store = HttpStore(store_http)
            backend = search
            if backend is None:
                retrieval_http = await stack.enter_async_context(
                    ServiceHttp(
                        settings.retrieval_url,
                        service="retrieval",
                        token=settings.token,
                        timeout_s=settings.retrieval_timeout_s,
                        max_body_bytes=MAX_TOP_K * SEARCH_HIT_BYTES,
                    )
                )
                probes.healthz["retrieval"] = retrieval_http.status
                backend = RetrievalClient(retrieval_http)
            transcriber = Transcriber.from_settings(settings)
            if transcriber is not None:
                stack.push_async_callback(transcriber.close)
                logger.info("dictation with %s", transcriber.model)
            logger.info("chat service using model provider %s (%s)", chosen.provider, chosen.name)
            server = BookChatServer(chat_store, backend, chosen, settings, transcriber=transcriber)
            limits = StreamLimits(
                grace_s=settings.resume_grace_s,
                keep_s=settings.resume_keep_s,
                max_bytes=settings.resume_max_bytes,
                max_detached_per_user=settings.resume_max_detached_per_user,
            )
            shared = None
            if settings.redis_url:
                shared = SharedRuns(
                    settings.redis_url,
                    settings.redis_prefix,
                    limits,
                    SharedLimits(
                        timeout_s=settings.redis_timeout_s,
                        lease_s=settings.resume_lease_s,
                        max_remote_readers=settings.resume_max_remote_readers,
                    ),
                )
            runs = Runs(limits, shared)
            stack.push_async_callback(runs.close)
            yield ChatState(server=server, runs=runs)

    return build_app(
        "chat",
        settings,
        routes,
        lifespan=lifespan,
        readiness={"store": probes.check("store"), "retrieval": probes.check("retrieval")},
        errors=ERRORS,
    )
