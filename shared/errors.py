"""The one JSON error envelope every service returns, and the handlers that produce it."""

from __future__ import annotations

import logging
from collections.abc import Mapping
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


class ApiError(Exception):
    """An error with an HTTP status, raised anywhere in a handler."""

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


def install_error_handlers(app: Starlette) -> None:
    """Route every error a handler can raise into the envelope."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(HTTPException, _http_exception)
    app.add_exception_handler(ValidationError, _validation_error)
    app.add_exception_handler(ClientDisconnect, _client_gone)
    app.add_exception_handler(Exception, _unhandled)
