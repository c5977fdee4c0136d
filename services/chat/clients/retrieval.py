"""`RetrievalClient`: the chat service's view of the retrieval service's search API."""

from __future__ import annotations

from pydantic import ValidationError

from shared.contracts.retrieval import SearchRequest, SearchResponse
from shared.http import ServiceHttp
from shared.http1 import UpstreamError


class RetrievalUnavailable(Exception):
    """The retrieval service could not be reached, timed out or failed (5xx): worth a retry."""


class RetrievalRequestError(Exception):
    """The retrieval service refused the request (4xx): a bug or bad input, not worth a retry."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"retrieval service answered {status}: {message}")
        self.status = status


class RetrievalClient:
    """Searches the book through the retrieval service."""

    def __init__(self, client: ServiceHttp) -> None:
        """`client` is a shared `ServiceHttp` for the retrieval service."""
        self.client = client

    @classmethod
    def connect(
        cls, base_url: str, *, token: str | None = None, timeout: float = 10.0
    ) -> RetrievalClient:
        """A client with its own `shared.http.ServiceHttp` (close it with `aclose`)."""
        return cls(ServiceHttp(base_url, token=token, timeout_s=timeout))

    async def search(self, request: SearchRequest) -> SearchResponse:
        """Run one search. Raises `RetrievalUnavailable` or `RetrievalRequestError`."""
        try:
            response = await self.client.request(
                "POST", "/v1/search", body=request.model_dump_json().encode()
            )
        except UpstreamError as exc:  # connect errors, timeouts, broken connections
            raise RetrievalUnavailable(f"retrieval service unreachable: {exc!r}") from exc
        if response.status >= 500:
            raise RetrievalUnavailable(
                f"retrieval service failed with {response.status}: {response.error_message()}"
            )
        if response.status != 200:
            raise RetrievalRequestError(response.status, response.error_message())
        try:
            return SearchResponse.model_validate_json(response.content)
        except ValidationError as exc:
            raise RetrievalUnavailable(f"retrieval service sent a malformed answer: {exc}") from exc

    async def aclose(self) -> None:
        await self.client.aclose()
