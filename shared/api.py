"""Routes that declare their contract, and the OpenAPI document built from them.

An `ApiRoute` is a Starlette `Route` that also knows its request body, query
parameters and response models, so `/openapi.json` is generated from the same
pydantic models the handlers validate with.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.json_schema import GenerateJsonSchema
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from shared.assertions import AssertionVerifier
from shared.contracts.common import MAX_ID_LENGTH, USER_ASSERTION_HEADER, USER_ID_HEADER
from shared.errors import ApiError, ErrorResponse, validation_details

Schema = type[BaseModel] | TypeAdapter[Any]
M = TypeVar("M", bound=BaseModel)


class ApiRoute(Route):
    """A route with its contract attached for the OpenAPI document.

    `streams`: the answer may be a long stream, so the handler's request is not kept
    while it runs (see `_StreamingEndpoint`).
    """

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        method: str,
        summary: str,
        body: Schema | None = None,
        query: type[BaseModel] | None = None,
        response: Schema | None = None,
        status: int = 200,
        errors: Sequence[int] = (),
        headers: Sequence[str] = (),
        streams: bool = False,
    ) -> None:
        app = _StreamingEndpoint(endpoint) if streams else endpoint
        super().__init__(path, app, methods=[method], name=endpoint.__name__)
        self.method = method
        self.summary = summary
        self.body = body
        self.query = query
        self.response = response
        self.status = status
        self.errors = tuple(errors)
        self.headers = tuple(headers)
        self.streams = streams


class _StreamingEndpoint:
    """Runs `handler(request)` and then its response, keeping only the scope meanwhile.

    Starlette's own wrapper keeps the `Request` (its cached body, headers and cookies)
    for as long as the response runs: for an SSE answer, the whole stream. Errors from
    the handler reach the app's handlers through `ExceptionMiddleware`, as they do from
    a plain route.
    """

    def __init__(self, handler: Callable[[Request], Any]) -> None:
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.handler(Request(scope, receive, send))
        await response(scope, receive, send)


# `\u0000` not itself escaped (`\\u0000` is the six characters, which is fine).
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


def refuse_nul(raw: bytes) -> None:
    """400 for JSON carrying a NUL character: PostgreSQL cannot store it in text or JSONB,
    so it must be refused where it enters, before anything is saved."""
    if b"\x00" in raw or _NUL_ESCAPE.search(raw):
        raise ApiError(400, "Text may not contain NUL (\\u0000) characters.")


async def read_json(request: Request[Any], schema: Schema) -> Any:
    """Parse the request body against `schema`: 400 for bad JSON, 422 for a contract miss."""
    return parse_json(await request.body(), schema)


def parse_json(raw: bytes, schema: Schema) -> Any:
    """Parse a JSON body against `schema`: 400 for no or bad JSON (or a NUL in it), 422
    for a contract miss."""
    check_json_body(raw)
    return validate_json(raw, schema)


def check_json_body(raw: bytes) -> None:
    """400 for an empty body or one with a NUL character in it."""
    if not raw:
        raise ApiError(400, "Request body is empty; a JSON document is required.")
    refuse_nul(raw)


def validate_json(raw: bytes, schema: Schema) -> Any:
    """`raw` validated against `schema`: 400 for bad JSON, 422 for a contract miss."""
    try:
        if isinstance(schema, TypeAdapter):
            return schema.validate_json(raw)
        return schema.model_validate_json(raw)
    except ValidationError as exc:
        if any(err["type"] == "json_invalid" for err in exc.errors()):
            raise ApiError(400, "Request body is not valid JSON.") from None
        raise ApiError(
            422, "Request body does not match the contract.", details=validation_details(exc)
        ) from None


def user_id_header(request: Request[Any]) -> str:
    """The user a service-to-service call acts for (`X-User-ID`, set by the gateway), and
    vouched for by the gateway's assertion when the service checks them (401 otherwise)."""
    user_id = request.headers.get(USER_ID_HEADER, "")
    if not user_id:
        raise ApiError(400, "The X-User-ID header is required.", code="missing_user")
    if len(user_id) > MAX_ID_LENGTH:
        raise ApiError(400, f"X-User-ID is longer than {MAX_ID_LENGTH} characters.")
    verifier: AssertionVerifier | None = getattr(request.app.state, "user_assertions", None)
    asserted = verifier and verifier.user_id(request.headers.get(USER_ASSERTION_HEADER))
    if verifier is not None and asserted != user_id:
        raise ApiError(401, "The call carries no valid gateway assertion of its X-User-ID.")
    return user_id


def read_query(request: Request[Any], model: type[M]) -> M:
    """Validate query parameters against `model` (422 on a miss)."""
    try:
        return model.model_validate(dict(request.query_params))
    except ValidationError as exc:
        raise ApiError(
            422, "Query parameters do not match the contract.", details=validation_details(exc)
        ) from None


def json_response(model: BaseModel, status: int = 200) -> Response:
    """Serialize a contract model (pydantic's own JSON encoder, no re-encoding)."""
    return Response(model.model_dump_json(), status_code=status, media_type="application/json")


def openapi_document(title: str, version: str, routes: Sequence[BaseRoute]) -> dict[str, Any]:
    """OpenAPI 3.1 document for every `ApiRoute` in `routes`."""
    defs: dict[str, Any] = {}
    paths: dict[str, dict[str, Any]] = {}

    def ref(schema: Schema) -> dict[str, Any]:
        adapter = schema if isinstance(schema, TypeAdapter) else TypeAdapter(schema)
        generated = adapter.json_schema(
            ref_template="#/components/schemas/{model}", schema_generator=GenerateJsonSchema
        )
        defs.update(generated.pop("$defs", {}))
        if "title" in generated and generated.get("type") == "object":
            name = generated["title"]
            defs[name] = generated
            return {"$ref": f"#/components/schemas/{name}"}
        return generated

    error_ref = ref(ErrorResponse)
    for route in routes:
        if not isinstance(route, ApiRoute):
            continue
        operation: dict[str, Any] = {
            "summary": route.summary,
            "operationId": f"{route.method.lower()}_{route.name}",
            "parameters": [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in route.param_convertors
            ],
            "responses": {},
        }
        for header in route.headers:
            operation["parameters"].append(
                {"name": header, "in": "header", "required": True, "schema": {"type": "string"}}
            )
        if route.query is not None:
            query_schema = route.query.model_json_schema()
            required = set(query_schema.get("required", []))
            for name, prop in query_schema.get("properties", {}).items():
                operation["parameters"].append(
                    {"name": name, "in": "query", "required": name in required, "schema": prop}
                )
        if route.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref(route.body)}},
            }
        if route.streams:
            success: dict[str, Any] = {
                "description": "Server-sent events",
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            }
        elif route.response is not None:
            success = {
                "description": "OK",
                "content": {"application/json": {"schema": ref(route.response)}},
            }
        else:
            success = {"description": "No content"}
        operation["responses"][str(route.status)] = success
        for status in sorted({*route.errors, 422 if route.body or route.query else 400}):
            operation["responses"][str(status)] = {
                "description": "Error",
                "content": {"application/json": {"schema": error_ref}},
            }
        # `{name:path}` is Starlette's converter syntax; OpenAPI wants `{name}`.
        path = re.sub(r"{(\w+):\w+}", r"{\1}", route.path)
        paths.setdefault(path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {"schemas": defs},
    }


def openapi_route(title: str, version: str) -> Route:
    """`GET /openapi.json`, built once from the app's routes on first request."""
    cache: dict[str, bytes] = {}

    async def endpoint(request: Request) -> Response:
        if "doc" not in cache:
            doc = openapi_document(title, version, request.app.routes)
            cache["doc"] = json.dumps(doc).encode()
        return Response(cache["doc"], media_type="application/json")

    return Route("/openapi.json", endpoint, methods=["GET"], include_in_schema=False)


__all__ = [
    "ApiRoute",
    "JSONResponse",
    "json_response",
    "openapi_document",
    "openapi_route",
    "read_json",
    "read_query",
]
