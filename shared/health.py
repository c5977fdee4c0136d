"""Health (`/healthz`: the process is up) and readiness (`/readyz`: dependencies answer).

`/readyz` is as public as the service: its answer names the dependency that is not ready,
never where it lives or what it said (that goes to the log).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from shared.errors import error_response
from shared.metrics import metrics_endpoint

logger = logging.getLogger(__name__)

ReadinessCheck = Callable[[], Awaitable[None]]
"""A probe of one dependency; raises when the dependency is not usable."""

READINESS_TIMEOUT_S = 2.0


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def readyz_endpoint(
    checks: Mapping[str, ReadinessCheck],
) -> Callable[[Request], Awaitable[Response]]:
    """A `/readyz` handler running every check concurrently, each with a timeout."""

    last_failed: dict[str, str] = {}

    async def readyz(request: Request) -> Response:
        async def run(name: str, check: ReadinessCheck) -> tuple[str, Exception | None]:
            try:
                await asyncio.wait_for(check(), READINESS_TIMEOUT_S)
                return name, None
            except Exception as exc:
                return name, exc

        results = await asyncio.gather(*(run(n, c) for n, c in checks.items()))
        errors = {name: exc for name, exc in results if exc is not None}
        failed = {name: f"{type(exc).__name__}: {exc}"[:200] for name, exc in errors.items()}
        if failed.keys() != last_failed.keys():  # log changes, not every probe
            if failed:
                logger.warning("not ready: %s", failed)
            else:
                logger.info("ready")
            last_failed.clear()
            last_failed.update(failed)
        if failed:
            return error_response(
                503,
                "Not ready: " + ", ".join(sorted(failed)),
                details=[
                    {"check": name, "problem": _problem(exc)}
                    for name, exc in sorted(errors.items())
                ],
            )
        return JSONResponse({"status": "ready", "checks": sorted(checks)})

    return readyz


def _problem(exc: Exception) -> str:
    return "timed out" if isinstance(exc, TimeoutError) else "unavailable"


def health_routes(checks: Mapping[str, ReadinessCheck], *, metrics: bool = True) -> list[Route]:
    """`/healthz`, `/readyz` and (unless served apart) `/metrics`."""
    routes = [
        Route("/healthz", healthz, methods=["GET"], include_in_schema=False),
        Route("/readyz", readyz_endpoint(checks), methods=["GET"], include_in_schema=False),
    ]
    if metrics:
        routes.append(Route("/metrics", metrics_endpoint, methods=["GET"], include_in_schema=False))
    return routes
