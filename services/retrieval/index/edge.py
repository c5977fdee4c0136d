"""The embedded engine: a qdrant-edge shard on local disk, driven from a thread pool.

qdrant-edge is synchronous (and fast: ~1 ms for a filtered batch at 20k points); every
call runs in the pool so the event loop never waits on it. Writes take one lock so an
ingestion's read-compare-write stays consistent; searches run concurrently.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import qdrant_edge as qe

from services.retrieval.index.base import (
    CANDIDATE_FIELDS,
    DENSE,
    INTEGER_FIELDS,
    KEYWORD_FIELDS,
    SPARSE,
    Candidate,
    IndexPoint,
    ScopeFilter,
)
from services.retrieval.lexical import Sparse

T = TypeVar("T")
_UPSERT_BATCH = 512


def _filter(corpus: str, **fields: Any) -> qe.Filter:
    must: list[Any] = [qe.FieldCondition("corpus", match=qe.MatchValue(corpus))]
    for key, value in fields.items():
        if value is not None:
            must.append(qe.FieldCondition(key, match=qe.MatchValue(value)))
    return qe.Filter(must=must)


def _candidate(point: Any) -> Candidate:
    payload = point.payload or {}
    return Candidate(
        id=str(point.id),
        score=float(point.score),
        chapter=payload.get("chapter"),
        lesson=payload.get("lesson"),
        text_hash=payload.get("text_hash"),
    )


class EdgeIndex:
    """`VectorIndex` on a qdrant-edge shard stored at `path`."""

    def __init__(self, path: Path, dimension: int, *, threads: int = 4) -> None:
        self.path = Path(path)
        self.dimension = dimension
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="edge")
        self._write_lock = threading.Lock()
        self._shard: qe.EdgeShard | None = None

    @property
    def shard(self) -> qe.EdgeShard:
        if self._shard is None:
            raise RuntimeError("EdgeIndex is not open")
        return self._shard

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def _config(self) -> qe.EdgeConfig:
        return qe.EdgeConfig(
            vectors={DENSE: qe.EdgeVectorParams(size=self.dimension, distance=qe.Distance.Cosine)},
            sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
            payload_memory=qe.Memory.Cached,
        )

    def _open_sync(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        config = self._config()
        if any(self.path.iterdir()):
            try:
                shard = qe.EdgeShard.load(str(self.path), config)
            except Exception as exc:
                raise RuntimeError(
                    f"Cannot open the index at {self.path} with {self.dimension}-dim vectors "
                    f"(was it made with another embedding model?): {exc}"
                ) from exc
        else:
            shard = qe.EdgeShard.create(str(self.path), config)
        existing = set(shard.info().payload_schema)
        wanted: dict[str, Any] = {"corpus": qe.KeywordIndexParams(is_tenant=True)}
        wanted.update({name: qe.PayloadSchemaType.Keyword for name in KEYWORD_FIELDS})
        wanted.update({name: qe.PayloadSchemaType.Integer for name in INTEGER_FIELDS})
        for name, schema in wanted.items():
            if name not in existing:
                shard.update(qe.UpdateOperation.create_field_index(name, schema))
        self._shard = shard

    async def open(self) -> None:
        await self._run(self._open_sync)

    async def close(self) -> None:
        shard, self._shard = self._shard, None
        if shard is not None:
            await self._run(self._close_sync, shard)
        self._executor.shutdown(wait=True)

    @staticmethod
    def _close_sync(shard: qe.EdgeShard) -> None:
        shard.flush()
        shard.close()

    async def ping(self) -> None:
        await self._run(lambda: self.shard.info())

    def _upsert_sync(self, points: list[IndexPoint]) -> None:
        with self._write_lock:
            for start in range(0, len(points), _UPSERT_BATCH):
                batch = [
                    qe.Point(
                        p.id,
                        {
                            DENSE: p.dense.astype(np.float32).tolist(),
                            SPARSE: qe.SparseVector(p.sparse.indices, p.sparse.values),
                        },
                        p.payload,
                    )
                    for p in points[start : start + _UPSERT_BATCH]
                ]
                self.shard.update(qe.UpdateOperation.upsert_points(batch))
            self.shard.flush()

    async def upsert(self, points: list[IndexPoint]) -> None:
        if points:
            await self._run(self._upsert_sync, points)

    def _delete_sync(self, ids: list[str]) -> None:
        with self._write_lock:
            self.shard.update(qe.UpdateOperation.delete_points(list(ids)))
            self.shard.flush()

    async def delete(self, ids: list[str]) -> None:
        if ids:
            await self._run(self._delete_sync, ids)

    def _delete_document_sync(self, corpus: str, document_id: str) -> int:
        flt = _filter(corpus, document_id=document_id)
        with self._write_lock:
            count = self.shard.count(qe.CountRequest(filter=flt, exact=True))
            if count:
                self.shard.update(qe.UpdateOperation.delete_points_by_filter(flt))
                self.shard.flush()
        return count

    async def delete_document(self, corpus: str, document_id: str) -> int:
        return await self._run(self._delete_document_sync, corpus, document_id)

    def _point_ids_sync(self, corpus: str, document_id: str) -> set[str]:
        ids: set[str] = set()
        offset: Any = None
        flt = _filter(corpus, document_id=document_id)
        while True:
            records, offset = self.shard.scroll(
                qe.ScrollRequest(
                    offset=offset, limit=1000, filter=flt, with_payload=False, with_vector=False
                )
            )
            ids.update(str(r.id) for r in records)
            if offset is None:
                return ids

    async def point_ids(self, corpus: str, document_id: str) -> set[str]:
        return await self._run(self._point_ids_sync, corpus, document_id)

    async def count(self, corpus: str) -> int:
        return await self._run(
            lambda: self.shard.count(qe.CountRequest(filter=_filter(corpus), exact=True))
        )

    def _documents_sync(self, corpus: str) -> dict[str, int]:
        response = self.shard.facet(
            qe.FacetRequest(key="document_id", limit=100_000, exact=True, filter=_filter(corpus))
        )
        return {str(hit.value): int(hit.count) for hit in response.hits}

    async def documents(self, corpus: str) -> dict[str, int]:
        return await self._run(self._documents_sync, corpus)

    def _search_sync(
        self,
        dense: list[npt.NDArray[np.float32]],
        sparse: list[Sparse],
        scope: ScopeFilter,
        limit: int,
    ) -> list[list[Candidate]]:
        flt = _filter(scope.corpus, chapter=scope.chapter, page=scope.page)
        fields = qe.PayloadSelector.Include(CANDIDATE_FIELDS)
        requests = [
            qe.QueryRequest(
                limit=limit,
                query=qe.Query.Nearest(vector.astype(np.float32).tolist(), using=DENSE),
                filter=flt,
                with_payload=fields,
            )
            for vector in dense
        ] + [
            qe.QueryRequest(
                limit=limit,
                query=qe.Query.Nearest(qe.SparseVector(s.indices, s.values), using=SPARSE),
                filter=flt,
                with_payload=fields,
            )
            for s in sparse
            if s
        ]
        results = self.shard.query_batch(qe.QueryBatchRequest(requests))
        return [[_candidate(point) for point in ranking] for ranking in results]

    async def search(
        self,
        dense: list[npt.NDArray[np.float32]],
        sparse: list[Sparse],
        scope: ScopeFilter,
        limit: int,
    ) -> list[list[Candidate]]:
        return await self._run(self._search_sync, dense, sparse, scope, limit)

    def _payloads_sync(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        records = self.shard.retrieve(list(ids), with_payload=True, with_vector=False)
        return {str(r.id): dict(r.payload or {}) for r in records}

    async def payloads(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        if not ids:
            return {}
        return await self._run(self._payloads_sync, ids)

    def _optimize_sync(self) -> None:
        with self._write_lock:
            self.shard.optimize()

    async def optimize(self) -> None:
        await self._run(self._optimize_sync)
