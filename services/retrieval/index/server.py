"""A Qdrant server (what Kubernetes runs) through `AsyncQdrantClient`.

The same class runs against the client's local mode (`location=":memory:"` or `path=`)
in tests, since no Qdrant server runs on development machines.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

import numpy as np
import numpy.typing as npt
from qdrant_client import AsyncQdrantClient, models
from qdrant_client.http.exceptions import ApiException

from services.retrieval.index.base import (
    CANDIDATE_FIELDS,
    DENSE,
    INTEGER_FIELDS,
    KEYWORD_FIELDS,
    SPARSE,
    Candidate,
    IndexPoint,
    IndexUnavailable,
    ScopeFilter,
)
from services.retrieval.lexical import Sparse

_UPSERT_BATCH = 256
P = ParamSpec("P")
T = TypeVar("T")


def _server_call(
    method: Callable[P, Coroutine[Any, Any, T]],
) -> Callable[P, Coroutine[Any, Any, T]]:
    """A call to the server that fails as `IndexUnavailable` (a 503 to the service's caller)
    when the server does not answer or answers with an error."""

    @functools.wraps(method)
    async def call(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await method(*args, **kwargs)
        except ApiException as exc:
            raise IndexUnavailable(f"Qdrant: {type(exc).__name__}: {exc}") from exc

    return call


def _filter(corpus: str, **fields: Any) -> models.Filter:
    must: list[models.Condition] = [
        models.FieldCondition(key="corpus", match=models.MatchValue(value=corpus))
    ]
    for key, value in fields.items():
        if value is not None:
            must.append(models.FieldCondition(key=key, match=models.MatchValue(value=value)))
    return models.Filter(must=must)


class ServerIndex:
    """`VectorIndex` on a collection of a Qdrant server (or the client's local mode)."""

    def __init__(self, client: AsyncQdrantClient, collection: str, dimension: int) -> None:
        self.client = client
        self.collection = collection
        self.dimension = dimension

    @_server_call
    async def open(self) -> None:
        if not await self.client.collection_exists(self.collection):
            await self.client.create_collection(
                self.collection,
                vectors_config={
                    DENSE: models.VectorParams(size=self.dimension, distance=models.Distance.COSINE)
                },
                sparse_vectors_config={
                    SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)
                },
            )
        else:
            info = await self.client.get_collection(self.collection)
            vectors = info.config.params.vectors
            size = vectors[DENSE].size if isinstance(vectors, dict) and DENSE in vectors else None
            if size != self.dimension:
                raise RuntimeError(
                    f"Collection {self.collection!r} holds {size}-dim vectors, "
                    f"the embedder makes {self.dimension}: use another collection."
                )
        indexes: dict[str, models.PayloadSchemaType | models.KeywordIndexParams] = {
            "corpus": models.KeywordIndexParams(
                type=models.KeywordIndexType.KEYWORD, is_tenant=True
            )
        }
        indexes.update({name: models.PayloadSchemaType.KEYWORD for name in KEYWORD_FIELDS})
        indexes.update({name: models.PayloadSchemaType.INTEGER for name in INTEGER_FIELDS})
        with warnings.catch_warnings():
            # Local mode warns that payload indexes are a no-op there; servers use them.
            warnings.simplefilter("ignore", UserWarning)
            for name, schema in indexes.items():
                await self.client.create_payload_index(
                    self.collection, name, field_schema=schema, wait=True
                )

    async def close(self) -> None:
        await self.client.close()

    @_server_call
    async def ping(self) -> None:
        await self.client.get_collection(self.collection)

    @_server_call
    async def upsert(self, points: list[IndexPoint]) -> None:
        for start in range(0, len(points), _UPSERT_BATCH):
            batch = [
                models.PointStruct(
                    id=p.id,
                    vector={
                        DENSE: p.dense.astype(np.float32).tolist(),
                        SPARSE: models.SparseVector(
                            indices=p.sparse.indices, values=p.sparse.values
                        ),
                    },
                    payload=p.payload,
                )
                for p in points[start : start + _UPSERT_BATCH]
            ]
            await self.client.upsert(self.collection, points=batch, wait=True)

    @_server_call
    async def delete(self, ids: list[str]) -> None:
        if ids:
            await self.client.delete(
                self.collection,
                points_selector=models.PointIdsList(points=list(ids)),
                wait=True,
            )

    @_server_call
    async def delete_document(self, corpus: str, document_id: str) -> int:
        flt = _filter(corpus, document_id=document_id)
        count = (await self.client.count(self.collection, count_filter=flt, exact=True)).count
        if count:
            await self.client.delete(
                self.collection, points_selector=models.FilterSelector(filter=flt), wait=True
            )
        return count

    @_server_call
    async def point_ids(self, corpus: str, document_id: str) -> set[str]:
        ids: set[str] = set()
        offset: Any = None
        flt = _filter(corpus, document_id=document_id)
        while True:
            records, offset = await self.client.scroll(
                self.collection,
                scroll_filter=flt,
                limit=1000,
                offset=offset,
                with_payload=False,
                with_vectors=False,
            )
            ids.update(str(r.id) for r in records)
            if offset is None:
                return ids

    @_server_call
    async def count(self, corpus: str) -> int:
        result = await self.client.count(self.collection, count_filter=_filter(corpus), exact=True)
        return result.count

    @_server_call
    async def documents(self, corpus: str) -> dict[str, int]:
        response = await self.client.facet(
            self.collection,
            key="document_id",
            facet_filter=_filter(corpus),
            limit=100_000,
            exact=True,
        )
        return {str(hit.value): int(hit.count) for hit in response.hits}

    @_server_call
    async def search(
        self,
        dense: list[npt.NDArray[np.float32]],
        sparse: list[Sparse],
        scope: ScopeFilter,
        limit: int,
    ) -> list[list[Candidate]]:
        flt = _filter(scope.corpus, chapter=scope.chapter, page=scope.page)
        requests = [
            models.QueryRequest(
                query=vector.astype(np.float32).tolist(),
                using=DENSE,
                filter=flt,
                limit=limit,
                with_payload=CANDIDATE_FIELDS,
            )
            for vector in dense
        ] + [
            models.QueryRequest(
                query=models.SparseVector(indices=s.indices, values=s.values),
                using=SPARSE,
                filter=flt,
                limit=limit,
                with_payload=CANDIDATE_FIELDS,
            )
            for s in sparse
            if s
        ]
        responses = await self.client.query_batch_points(self.collection, requests=requests)
        return [
            [
                Candidate(
                    id=str(point.id),
                    score=float(point.score),
                    chapter=(point.payload or {}).get("chapter"),
                    lesson=(point.payload or {}).get("lesson"),
                    text_hash=(point.payload or {}).get("text_hash"),
                )
                for point in response.points
            ]
            for response in responses
        ]

    @_server_call
    async def payloads(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        if not ids:
            return {}
        records = await self.client.retrieve(
            self.collection, ids=list(ids), with_payload=True, with_vectors=False
        )
        return {str(r.id): dict(r.payload or {}) for r in records}

    async def optimize(self) -> None:
        """The server indexes in the background; nothing to do."""
