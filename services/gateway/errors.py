"""The gateway's domain errors; `app.py`'s `ERRORS` gives each its HTTP status."""

from __future__ import annotations

from shared.contracts.store import QUOTA_EXCEEDED
from shared.errors import DomainError


class MalformedRequest(DomainError):
    """Not JSON, an unknown request type, a badly encoded header, an empty upload (400)."""


class ContractMismatch(DomainError):
    """Well-formed, but not what the contract describes (422)."""


class TooLarge(DomainError):
    """A body, question, selection or attachment over its limit (413)."""


class UnsupportedMedia(DomainError):
    """An attachment type outside the allow-list, or bytes that are not that type (415)."""


class NotFound(DomainError):
    """No such thread, attachment or page for this user (404)."""


class AlreadyUploaded(DomainError):
    """The attachment's bytes were uploaded before (409)."""


class OriginRefused(DomainError):
    """A browser calling from an origin that may not (403)."""


class QuotaExceeded(DomainError):
    """The store keeps as many attachment bytes of the user as it may (403)."""

    code = QUOTA_EXCEEDED


class NotAuthenticated(DomainError):
    """No or an invalid credential (401, with the `WWW-Authenticate` challenge)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"})


class RateLimited(DomainError):
    """Over a rate limit or the concurrent-stream cap (429, with `Retry-After`)."""

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, retry_after_s))})
