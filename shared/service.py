"""The common shape of a service app and its command line."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence

import uvicorn
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute
from starlette.types import Lifespan

from shared.api import openapi_route
from shared.assertions import AssertionVerifier
from shared.errors import ErrorTable, install_error_handlers
from shared.health import ReadinessCheck, health_routes
from shared.logs import configure_logging
from shared.metrics import with_metrics_listener
from shared.middleware import BodyLimitMiddleware, InternalTokenMiddleware, RequestContextMiddleware
from shared.settings import ServiceSettings, is_loopback, load_settings
from shared.tracing import UNTRACED_PATHS, configure_tracing

VERSION = "0.1.0"


def build_app(
    name: str,
    settings: ServiceSettings,
    routes: Sequence[BaseRoute],
    *,
    lifespan: Lifespan[Starlette] | None = None,
    readiness: Mapping[str, ReadinessCheck] | None = None,
    check_service_token: bool = True,
    body_limits: Mapping[str, int] | None = None,
    errors: ErrorTable | None = None,
    middleware: Sequence[Middleware] = (),
) -> Starlette:
    """A Starlette app with the platform's middleware, errors, health, metrics and OpenAPI.

    `body_limits` maps path patterns to body limits other than `settings.max_body_bytes`;
    `errors` maps the service's domain errors to HTTP statuses (its one error table);
    `middleware` is the service's own, inside the platform's (its errors carry the
    request id).
    A service that checks the token exits when it has none and listens beyond loopback.
    """
    if check_service_token and settings.token is None and not is_loopback(settings.host):
        prefix = settings.model_config.get("env_prefix", "")
        sys.exit(
            f"{name}: INTERNAL_TOKEN is not set, so the service would act for any X-User-ID;"
            f" that is allowed on loopback only, and it listens on {settings.host}"
            f" ({prefix}HOST or --host). Set INTERNAL_TOKEN, the same for every service."
        )
    configure_logging(name, settings.log_level, settings.log_json)
    own, middleware = middleware, []
    if configure_tracing(name):
        # A server span per request (not per send and receive: one span per streamed event).
        middleware.append(
            Middleware(
                OpenTelemetryMiddleware,
                excluded_urls=UNTRACED_PATHS,
                exclude_spans=["receive", "send"],
            )
        )
    middleware += [
        Middleware(RequestContextMiddleware),
        Middleware(BodyLimitMiddleware, limit=settings.max_body_bytes, overrides=body_limits),
    ]
    if check_service_token:
        middleware.append(Middleware(InternalTokenMiddleware, token=settings.token))
    middleware += own
    app = Starlette(
        routes=[
            *routes,
            *health_routes(readiness or {}, metrics=settings.metrics_port is None),
            openapi_route(f"{name} service", VERSION),
        ],
        middleware=middleware,
        lifespan=(
            lifespan
            if settings.metrics_port is None
            else with_metrics_listener(lifespan, settings.host, settings.metrics_port)
        ),
    )
    install_error_handlers(app, errors)
    app.state.settings = settings
    if check_service_token and settings.user_assertion_public_key:
        app.state.user_assertions = AssertionVerifier(settings.user_assertion_public_key)
    return app


def run_service(
    name: str, settings_cls: type[ServiceSettings], argv: Sequence[str] | None = None
) -> None:
    """`python -m services.<name> [--host H] [--port P]`: serve the app factory with uvicorn."""
    settings = load_settings(settings_cls)
    parser = argparse.ArgumentParser(prog=f"python -m services.{name}")
    parser.add_argument("--host", default=settings.host)
    parser.add_argument("--port", type=int, default=settings.port)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    # The app factory reads the settings again: they must name the host uvicorn binds.
    os.environ[f"{settings_cls.model_config.get('env_prefix', '')}HOST"] = args.host
    uvicorn.run(
        f"services.{name}.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=settings.log_level,
        access_log=False,
        # The gateway reads forwarded headers itself, from the proxies it is told to trust.
        proxy_headers=False,
        timeout_graceful_shutdown=30,
        # As in the Dockerfiles: longer than the callers' pooled keep-alive (15 s), so a
        # caller never reuses a connection the server is closing (uvicorn's default is 5 s).
        timeout_keep_alive=20,
    )
