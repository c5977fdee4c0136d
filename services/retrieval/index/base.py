"""What every index engine offers the service, and the records passed across it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from services.retrieval.errors import DependencyError
from services.retrieval.lexical import Sparse

DENSE = "dense"
"""Name of the dense vector of every point."""
SPARSE = "bm25"
"""Name of the sparse (lexical) vector of every point; the index applies IDF."""
CANDIDATE_FIELDS = ["chapter", "lesson", "text_hash"]
"""Payload fields read with each candidate: what boosting and dedup need."""
KEYWORD_FIELDS = ("document_id", "page", "lesson")
"""Filtered keyword fields (besides `corpus`, the tenant field)."""
INTEGER_FIELDS = ("chapter",)
"""Filtered integer fields."""


class IndexUnavailable(DependencyError):
    """The index engine did not answer, or answered with an error."""


@dataclass(frozen=True)
class IndexPoint:
    """One chunk as stored: id, both vectors, payload."""

    id: str
    dense: npt.NDArray[np.float32]
    sparse: Sparse
    payload: dict[str, Any]


@dataclass(frozen=True)
class ScopeFilter:
    """The strict part of a search: always the corpus, optionally a chapter or a page."""

    corpus: str
    chapter: int | None = None
    page: str | None = None


@dataclass(frozen=True)
class Candidate:
    """One entry of one ranking, with what ranking needs from its payload."""

    id: str
    score: float
    chapter: int | None
    lesson: str | None
    text_hash: str | None


class VectorIndex(Protocol):
    """A Qdrant collection of chunks; every method is safe to await on the event loop."""

    async def open(self) -> None:
        """Create the collection and payload indexes if missing; check the vector size."""
        ...

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise if the engine cannot answer."""
        ...

    async def upsert(self, points: list[IndexPoint]) -> None: ...

    async def delete(self, ids: list[str]) -> None: ...

    async def delete_document(self, corpus: str, document_id: str) -> int:
        """Remove every chunk of a document; returns how many there were."""
        ...

    async def point_ids(self, corpus: str, document_id: str) -> set[str]:
        """Ids of the chunks stored for one document."""
        ...

    async def count(self, corpus: str) -> int: ...

    async def documents(self, corpus: str) -> dict[str, int]:
        """Chunk count per document id."""
        ...

    async def search(
        self,
        dense: list[npt.NDArray[np.float32]],
        sparse: list[Sparse],
        scope: ScopeFilter,
        limit: int,
    ) -> list[list[Candidate]]:
        """One ranking per dense query, then one per non-empty sparse query, in one batch."""
        ...

    async def payloads(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        """Full payload of each id that exists."""
        ...

    async def optimize(self) -> None:
        """Build indexes after bulk writes (a no-op where the engine does it itself)."""
        ...
