"""Both index engines held to the same behaviour: qdrant-edge and AsyncQdrantClient (local mode)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from qdrant_client import AsyncQdrantClient

from services.retrieval.index.base import IndexPoint, ScopeFilter, VectorIndex
from services.retrieval.index.edge import EdgeIndex
from services.retrieval.index.server import ServerIndex
from services.retrieval.lexical import Bm25Encoder

DIM = 8
encoder = Bm25Encoder()


def vec(*hot: int) -> np.ndarray:
    v = np.full(DIM, 0.01, dtype=np.float32)
    for i in hot:
        v[i] = 1.0
    return v / np.linalg.norm(v)


def point(corpus: str, doc: str, n: int, text: str, chapter: int, dense: np.ndarray) -> IndexPoint:
    return IndexPoint(
        id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{corpus}/{doc}/{n}")),
        dense=dense,
        sparse=encoder.document(text),
        payload={
            "corpus": corpus,
            "document_id": doc,
            "page": doc,
            "chapter": chapter,
            "lesson": doc.split("/")[-1],
            "text": text,
            "text_hash": f"{doc}-{n}",
        },
    )


@pytest.fixture(params=["edge", "server-local-mode"])
async def index(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[VectorIndex]:
    idx: VectorIndex
    if request.param == "edge":
        idx = EdgeIndex(tmp_path / "edge", DIM, threads=2)
    else:
        idx = ServerIndex(AsyncQdrantClient(location=":memory:"), "chunks", DIM)
    await idx.open()
    yield idx
    await idx.close()


POINTS = [
    point("a", "ch1/intro", 0, "installing the gateway with make install", 1, vec(0)),
    point("a", "ch1/intro", 1, "requirements: python and redis", 1, vec(1)),
    point("a", "ch2/search", 0, "reciprocal rank fusion of rankings", 2, vec(2)),
    point("a", "ch2/cache", 0, "redis cache of embeddings float32 bytes", 2, vec(1, 3)),
    point("b", "ch1/intro", 0, "a different book about the gateway", 1, vec(0)),
]


async def test_search_filters_by_corpus_chapter_and_page(index: VectorIndex) -> None:
    await index.upsert(POINTS)
    assert await index.count("a") == 4
    assert await index.count("b") == 1
    [dense] = await index.search([vec(0)], [], ScopeFilter("a"), 10)
    assert dense[0].id == POINTS[0].id
    assert {c.id for c in dense} == {p.id for p in POINTS[:4]}  # never corpus b
    assert dense[0].chapter == 1 and dense[0].lesson == "intro"
    [ch2] = await index.search([vec(0)], [], ScopeFilter("a", chapter=2), 10)
    assert {c.id for c in ch2} == {POINTS[2].id, POINTS[3].id}
    [page] = await index.search([vec(2)], [], ScopeFilter("a", page="ch1/intro"), 10)
    assert {c.id for c in page} == {POINTS[0].id, POINTS[1].id}
    [only_b] = await index.search([vec(0)], [], ScopeFilter("b"), 10)
    assert [c.id for c in only_b] == [POINTS[4].id]


async def test_dense_and_lexical_rankings_in_one_batch(index: VectorIndex) -> None:
    await index.upsert(POINTS)
    rankings = await index.search(
        [vec(2), vec(0)],
        [encoder.query("redis cache"), encoder.query("the"), encoder.query("fusion")],
        ScopeFilter("a"),
        10,
    )
    # Two dense rankings, then one per non-empty lexical query ("the" is a stop word).
    assert len(rankings) == 4
    assert rankings[0][0].id == POINTS[2].id
    assert rankings[1][0].id == POINTS[0].id
    assert rankings[2][0].id == POINTS[3].id  # both terms beat one
    assert {c.id for c in rankings[2]} == {POINTS[1].id, POINTS[3].id}
    assert [c.id for c in rankings[3]] == [POINTS[2].id]


async def test_payloads_point_ids_documents_and_deletes(index: VectorIndex) -> None:
    await index.upsert(POINTS)
    payloads = await index.payloads([POINTS[0].id, str(uuid.uuid4())])
    assert list(payloads) == [POINTS[0].id]
    assert payloads[POINTS[0].id]["text"] == "installing the gateway with make install"
    assert await index.point_ids("a", "ch1/intro") == {POINTS[0].id, POINTS[1].id}
    assert await index.documents("a") == {"ch1/intro": 2, "ch2/search": 1, "ch2/cache": 1}
    await index.delete([POINTS[1].id])
    assert await index.point_ids("a", "ch1/intro") == {POINTS[0].id}
    assert await index.delete_document("a", "ch1/intro") == 1
    assert await index.delete_document("a", "ch1/intro") == 0
    assert await index.point_ids("b", "ch1/intro") == {POINTS[4].id}  # other corpus untouched
    assert await index.count("a") == 2
    await index.optimize()
    await index.ping()


async def test_upsert_is_idempotent(index: VectorIndex) -> None:
    await index.upsert(POINTS)
    await index.upsert(POINTS)
    assert await index.count("a") == 4


async def test_edge_index_persists_and_refuses_another_dimension(tmp_path: Path) -> None:
    first = EdgeIndex(tmp_path / "edge", DIM)
    await first.open()
    await first.upsert(POINTS)
    await first.close()
    again = EdgeIndex(tmp_path / "edge", DIM)
    await again.open()
    assert await again.count("a") == 4
    await again.close()
    wrong = EdgeIndex(tmp_path / "edge", DIM * 2)
    with pytest.raises(RuntimeError, match="dim"):
        await wrong.open()
    await wrong.close()


async def test_server_index_refuses_another_dimension() -> None:
    client = AsyncQdrantClient(location=":memory:")
    await ServerIndex(client, "chunks", DIM).open()
    with pytest.raises(RuntimeError, match="dim"):
        await ServerIndex(client, "chunks", DIM * 2).open()
    await client.close()
