"""What the retrieval service's domain can fail with; `app.py` maps each to its HTTP status."""

from __future__ import annotations

from shared.errors import DomainError


class RetrievalError(DomainError):
    """Base of the retrieval service's errors."""


class DocumentError(RetrievalError):
    """A document that cannot be ingested."""


class UnsupportedDocument(DocumentError):
    """A file type the service does not parse."""


class InvalidDocument(DocumentError):
    """A document (or batch of them) that is malformed: unsafe path, binary data, bad front
    matter, the same page twice."""


class ScopeError(RetrievalError):
    """A narrow search scope without the page context it filters on."""

    code = "missing_page_context"


class DependencyError(RetrievalError):
    """The embedding provider or the index failed; the caller may retry shortly.

    `str()` is the detail, for the log; the caller sees one message that names no internals.
    """

    def __init__(self, detail: str) -> None:
        super().__init__(
            "A dependency of the retrieval service failed; retry shortly.",
            headers={"Retry-After": "1"},
        )
        self.detail = detail

    def __str__(self) -> str:
        return self.detail
