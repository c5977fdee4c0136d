"""The vector index: one interface, two engines (embedded qdrant-edge, Qdrant server)."""

from __future__ import annotations

from services.retrieval.index.base import Candidate, IndexPoint, ScopeFilter, VectorIndex
from services.retrieval.settings import RetrievalSettings


def build_index(settings: RetrievalSettings, dimension: int) -> VectorIndex:
    """A Qdrant server client when `QDRANT_URL` is set, else the embedded engine."""
    if settings.qdrant_url:
        from qdrant_client import AsyncQdrantClient

        from services.retrieval.index.server import ServerIndex

        client = AsyncQdrantClient(
            url=settings.qdrant_url,
            api_key=settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None,
            timeout=10,
        )
        return ServerIndex(client, settings.collection, dimension)
    from services.retrieval.index.edge import EdgeIndex

    return EdgeIndex(
        settings.data_dir / "edge" / settings.collection,
        dimension,
        threads=settings.index_threads,
    )


__all__ = ["Candidate", "IndexPoint", "ScopeFilter", "VectorIndex", "build_index"]
