"""`RetrievalClient`: the chat service's view of the retrieval service's search API."""

from __future__ import annotations

import httpx
from pydantic import ValidationError

from shared.contracts.retrieval import SearchRequest, SearchResponse
from shared.http import service_client


class RetrievalUnavailable(Exception):
    """The retrieval service could not be reached, timed out or failed (5xx): worth a retry."""


class RetrievalRequestError(Exception):
    """The retrieval service refused the request (4xx): a bug or bad input, not worth a retry."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"retrieval service answered {status}: {message}")
        self.status = status


class RetrievalClient:
    """Searches the book through the retrieval service."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        """`client` is a shared `AsyncClient` whose base URL is the retrieval service."""
        self.client = client

    @classmethod
    def connect(
        cls, base_url: str, *, token: str | None = None, timeout: float = 10.0
    ) -> RetrievalClient:
        """A client with its own `shared.http.service_client` (close it with `aclose`)."""
        return cls(service_client(base_url, token=token, timeout=timeout))

    async def search(self, request: SearchRequest) -> SearchResponse:
        """Run one search. Raises `RetrievalUnavailable` or `RetrievalRequestError`."""
        try:
            response = await self.client.post(
                "/v1/search",
                content=request.model_dump_json(),
                headers={"content-type": "application/json"},
            )
        except httpx.TransportError as exc:  # connect errors, timeouts, broken connections
            raise RetrievalUnavailable(f"retrieval service unreachable: {exc!r}") from exc
        if response.status_code >= 500:
            raise RetrievalUnavailable(
                f"retrieval service failed with {response.status_code}: {_message(response)}"
            )
        if response.status_code != 200:
            raise RetrievalRequestError(response.status_code, _message(response))
        try:
            return SearchResponse.model_validate_json(response.content)
        except ValidationError as exc:
            raise RetrievalUnavailable(f"retrieval service sent a malformed answer: {exc}") from exc

    async def aclose(self) -> None:
        await self.client.aclose()


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.text[:200]
