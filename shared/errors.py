"""The one JSON error envelope every service returns, and the handlers that produce it."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from shared.logs import current_request_id

logger = logging.getLogger(__name__)

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    502: "bad_gateway",
    503: "unavailable",
    504: "timeout",
}


class ErrorDetail(BaseModel):
    """What went wrong, in a form both people and programs can use."""

    code: str
    """Stable machine-readable error code, e.g. `not_found`."""
    message: str
    """Human-readable explanation."""
    request_id: str | None = None
    """Id of the request, to find it in the logs."""
    details: list[dict[str, Any]] | None = None
    """Per-field problems for validation errors."""


class ErrorResponse(BaseModel):
    """Body of every non-2xx response from every service."""

    error: ErrorDetail
    """The error."""


class DomainError(Exception):
    """Base of the errors domain modules raise. They know nothing of HTTP: each app's
    error table (`ErrorTable`, given to `shared.service.build_app`) maps them to a status.

    The message is shown to the caller, so it must not leak internals.
    """

    code: str | None = None
    """Stable machine-readable code; by default the status's (`not_found`, ...)."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: list[dict[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details
        self.headers = headers


ErrorTable = Mapping[type[Exception], int]
"""Error types and the HTTP status each maps to. Starlette picks the handler of the
nearest class along the raised error's MRO, so a subclass may map to its own status."""


class ApiError(Exception):
    """An error with an HTTP status, raised by a route handler (the HTTP layer)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or _STATUS_CODES.get(status, "error")
        self.message = message
        self.details = details


def error_response(
    status: int,
    message: str,
    *,
    code: str | None = None,
    details: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """Build the JSON error envelope."""
    body = ErrorResponse(
        error=ErrorDetail(
            code=code or _STATUS_CODES.get(status, "error"),
            message=message,
            request_id=current_request_id(),
            details=details,
        )
    )
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, headers=headers)


def validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    """Pydantic errors reduced to location and message (no input echo)."""
    return [
        {"loc": [str(part) for part in err["loc"]], "msg": err["msg"], "type": err["type"]}
        for err in exc.errors(include_url=False, include_input=False)
    ]


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.message, code=exc.code, details=exc.details)


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error_response(exc.status_code, str(exc.detail), headers=exc.headers)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ValidationError)
    return error_response(
        422, "The request does not match the contract.", details=validation_details(exc)
    )


async def _client_gone(request: Request, exc: Exception) -> Response:
    # The caller hung up while sending its body: nothing to answer, nothing broken.
    logger.info("client disconnected before its request body arrived")
    return Response(status_code=499)


async def _unhandled(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error", exc_info=exc)
    return error_response(500, "Internal server error.")


def _mapped(status: int) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def handler(request: Request, exc: Exception) -> Response:
        code = getattr(exc, "code", None)
        details = getattr(exc, "details", None)
        headers = getattr(exc, "headers", None)
        message = getattr(exc, "message", None) or str(exc) or _STATUS_CODES.get(status, "error")
        if status >= 500:
            logger.warning("%s: %s", type(exc).__name__, exc)
        return error_response(status, message, code=code, details=details, headers=headers)

    return handler


def install_error_handlers(app: Starlette, table: ErrorTable | None = None) -> None:
    """Route every error a handler can raise into the envelope; `table` maps the
    service's domain errors to their status."""
    for error_type, status in (table or {}).items():
        app.add_exception_handler(error_type, _mapped(status))
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(HTTPException, _http_exception)
    app.add_exception_handler(ValidationError, _validation_error)
    app.add_exception_handler(ClientDisconnect, _client_gone)
    app.add_exception_handler(Exception, _unhandled)
