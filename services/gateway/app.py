"""The gateway app: `uvicorn services.gateway.app:create_app --factory`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from services.gateway import errors
from services.gateway.attachments import Uploads
from services.gateway.auth import Authenticator, DevCookieMiddleware, cookie_signer
from services.gateway.book import Book
from services.gateway.proxy import ChatUpstream, StreamClock, StreamTiming
from services.gateway.ratelimit import Decision, Limiter
from services.gateway.retrieval_client import RetrievalClient
from services.gateway.rewrite import Limits
from services.gateway.routes import edge_headers, routes
from services.gateway.settings import GatewaySettings
from services.gateway.state import Gateway, GatewayState
from services.gateway.store_client import StoreClient
from shared.assertions import AssertionSigner
from shared.contracts.chat import RESUMABLE_HEADER
from shared.contracts.gateway import PAGE_CONTEXT_HEADER, SELECTED_TEXT_HEADER
from shared.contracts.store import ENVELOPE_BYTES
from shared.errors import ErrorTable
from shared.http import UPSTREAM_ERRORS, ServiceHttp
from shared.logs import REQUEST_ID_HEADER
from shared.middleware import ResponseHeadersMiddleware
from shared.service import build_app
from shared.settings import load_settings

ERRORS: ErrorTable = {
    **UPSTREAM_ERRORS,
    errors.MalformedRequest: 400,
    errors.NotAuthenticated: 401,
    errors.OriginRefused: 403,
    errors.QuotaExceeded: 403,
    errors.NotFound: 404,
    errors.AlreadyUploaded: 409,
    errors.TooLarge: 413,
    errors.UnsupportedMedia: 415,
    errors.ContractMismatch: 422,
    errors.RateLimited: 429,
}
"""The gateway's domain errors and their HTTP statuses."""


def create_app(settings: GatewaySettings | None = None) -> Starlette:
    """Build the gateway; upstream clients and Redis open in the lifespan."""
    settings = settings or load_settings(GatewaySettings)

    # Readiness checks get no request, so they reach the chat upstream through this (the
    # lifespan fills it in); handlers get the gateway as lifespan state.
    opened: dict[str, Gateway] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[GatewayState]:
        chat = ChatUpstream(
            settings.chat_url,
            token=settings.token,
            connect_timeout_s=settings.upstream_connect_timeout_s,
            idle_timeout_s=settings.upstream_idle_timeout_s,
            max_connections=settings.upstream_max_connections,
            max_answer_bytes=settings.chat_answer_bytes,
        )
        key = settings.user_assertion_private_key
        store = StoreClient(
            ServiceHttp(
                settings.store_url,
                service="store",
                token=settings.token,
                # attachment bytes come back whole; metadata records are bounded by the store
                max_body_bytes=max(settings.attachment_max_bytes, settings.store_max_metadata_bytes)
                + ENVELOPE_BYTES,
            ),
            AssertionSigner(key.get_secret_value(), settings.user_assertion_ttl_s) if key else None,
        )
        limits = Limits.from_settings(settings)
        gateway = Gateway(
            settings=settings,
            chat=chat,
            store=store,
            limiter=Limiter.from_settings(settings),
            auth=Authenticator(settings),
            uploads=Uploads(store, limits, settings.public_url),
            book=Book(
                RetrievalClient(
                    ServiceHttp(
                        settings.retrieval_url,
                        service="retrieval",
                        token=settings.token,
                        timeout_s=settings.book_timeout_s,
                        connect_timeout_s=settings.upstream_connect_timeout_s,
                        max_body_bytes=settings.book_max_bytes,
                    )
                ),
                settings.corpus,
            ),
            limits=limits,
            clock=StreamClock(StreamTiming(settings.heartbeat_s, settings.send_timeout_s)),
        )
        opened["gateway"] = gateway
        try:
            yield GatewayState(gateway=gateway)
        finally:
            opened.clear()
            await gateway.close()

    async def chat_reachable() -> None:
        await opened["gateway"].chat.healthy()

    async def mint(address: str) -> Decision:
        return await opened["gateway"].limiter.mint(address)

    app = build_app(
        "gateway",
        settings,
        routes,
        lifespan=lifespan,
        readiness={"chat": chat_reachable},
        check_service_token=False,
        errors=ERRORS,
        middleware=[
            Middleware(
                DevCookieMiddleware, settings=settings, signer=cookie_signer(settings), mint=mint
            )
        ]
        if settings.auth == "dev"
        else [],
    )
    app.add_middleware(ResponseHeadersMiddleware, headers=edge_headers(settings.frame_ancestors))
    # Added last, so outermost: error responses (401, 413, 429) carry CORS headers too.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_credentials=True,
        allow_methods=["GET", "POST", "PUT", "DELETE"],
        allow_headers=[
            "authorization",
            "content-type",
            "idempotency-key",
            "last-event-id",
            RESUMABLE_HEADER,
            PAGE_CONTEXT_HEADER,
            SELECTED_TEXT_HEADER,
            REQUEST_ID_HEADER,
        ],
        expose_headers=[REQUEST_ID_HEADER, "retry-after", "traceresponse"],
        max_age=600,
    )
    # Outermost: every limit and log sees the client address a trusted proxy named (uvicorn
    # runs with --no-proxy-headers; its own default trusts 127.0.0.1).
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.forwarded_allow_ips)
    return app
