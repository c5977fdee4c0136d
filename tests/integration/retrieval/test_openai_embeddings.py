"""The OpenAI-compatible provider against a fake embeddings server on a real port."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.retrieval.app import create_app
from services.retrieval.embeddings import EmbeddingError, OpenAIEmbedder
from services.retrieval.settings import RetrievalSettings
from tests.integration.retrieval.conftest import TINY_BOOK
from tests.support.servers import serve

DIM = 32


class FakeOpenAI:
    """`POST /v1/embeddings` like OpenAI: bag-of-words vectors, out-of-order data, base64 when
    asked (unless `floats_only`, as some compatible servers do), faults on cue."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail_next: list[int] = []
        self.floats_only = False

    @staticmethod
    def vector(text: str, dimensions: int) -> list[float]:
        v = np.zeros(dimensions)
        for word in text.lower().split():
            v[int(hashlib.md5(word.strip(".,?!`").encode()).hexdigest(), 16) % dimensions] += 1
        return (v * 3.0).tolist()  # not normalised: the client must normalise

    async def embeddings(self, request: Request) -> JSONResponse:
        body = await request.json()
        self.requests.append({**body, "auth": request.headers.get("authorization")})
        if self.fail_next:
            return JSONResponse({"error": {"message": "boom"}}, status_code=self.fail_next.pop(0))
        inputs = body["input"]
        dims = body.get("dimensions", DIM)
        data: list[dict[str, Any]] = [
            {"object": "embedding", "index": i, "embedding": self.vector(t, dims)}
            for i, t in enumerate(inputs)
        ]
        if body.get("encoding_format") == "base64" and not self.floats_only:
            for item in data:
                raw = np.asarray(item["embedding"], dtype="<f4").tobytes()
                item["embedding"] = base64.b64encode(raw).decode()
        return JSONResponse(
            {"object": "list", "data": list(reversed(data)), "model": body["model"]}
        )

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/embeddings", self.embeddings, methods=["POST"])])


@pytest.fixture
def fake_openai() -> Iterator[tuple[FakeOpenAI, str]]:
    fake = FakeOpenAI()
    with serve(fake.app()) as url:
        yield fake, f"{url}/v1"


@pytest.mark.parametrize("floats_only", [False, True], ids=["base64", "floats"])
async def test_batches_orders_normalises_and_authenticates(
    fake_openai: tuple[FakeOpenAI, str], floats_only: bool
) -> None:
    fake, base_url = fake_openai
    fake.floats_only = floats_only
    embedder = OpenAIEmbedder(
        base_url, "text-embedding-3-small", DIM, api_key="sk-test", batch_size=2
    )
    texts = ["alpha beta", "gamma", "delta epsilon", "alpha"]
    vectors = await embedder.embed(texts)
    assert vectors.shape == (4, DIM) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    expected = np.asarray(FakeOpenAI.vector("gamma", DIM))
    np.testing.assert_allclose(vectors[1], expected / np.linalg.norm(expected), rtol=1e-5)
    assert [r["input"] for r in fake.requests] == [texts[:2], texts[2:]]
    assert fake.requests[0]["dimensions"] == DIM
    assert fake.requests[0]["auth"] == "Bearer sk-test"
    await embedder.close()


async def test_retries_5xx_and_429_and_refuses_4xx(fake_openai: tuple[FakeOpenAI, str]) -> None:
    fake, base_url = fake_openai
    embedder = OpenAIEmbedder(base_url, "m", DIM, retries=2)
    fake.fail_next = [503, 429]
    assert (await embedder.embed(["x"])).shape == (1, DIM)
    assert len(fake.requests) == 3
    fake.requests.clear()
    fake.fail_next = [400]
    with pytest.raises(EmbeddingError, match=r"refused the call: HTTP 400 .*boom"):
        await embedder.embed(["x"])
    assert len(fake.requests) == 1
    fake.requests.clear()
    fake.fail_next = [500, 500, 500]
    with pytest.raises(EmbeddingError, match=r"failed after 3 tries: HTTP 500"):
        await embedder.embed(["x"])
    assert len(fake.requests) == 3
    await embedder.close()


async def test_retries_connection_errors() -> None:
    """A server that hangs up on every connection: each try is a new connection."""
    connections = 0

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    embedder = OpenAIEmbedder(f"http://127.0.0.1:{port}/v1", "m", DIM, retries=1)
    with pytest.raises(EmbeddingError, match=r"failed after 2 tries: \w+"):
        await embedder.embed(["x"])
    assert connections == 2
    await embedder.close()
    server.close()
    await server.wait_closed()


async def test_dimensions_are_asked_for_and_checked(
    fake_openai: tuple[FakeOpenAI, str],
) -> None:
    _, base_url = fake_openai
    embedder = OpenAIEmbedder(base_url, "m", DIM + 1)  # the server makes DIM + 1 dims...
    assert (await embedder.embed(["x"])).shape == (1, DIM + 1)
    wrong = OpenAIEmbedder(base_url, "text-embedding-ada-002", DIM + 1)  # ...unless not asked
    with pytest.raises(EmbeddingError, match=rf"shape \(1, {DIM}\), expected \(1, {DIM + 1}\)"):
        await wrong.embed(["x"])
    await embedder.close()
    await wrong.close()


def test_service_runs_on_the_openai_provider(
    fake_openai: tuple[FakeOpenAI, str], tmp_path: Path
) -> None:
    fake, base_url = fake_openai
    settings = RetrievalSettings(
        data_dir=tmp_path / "index",
        log_level="warning",
        log_json=False,
        redis_url=None,
        embedding_provider="openai",
        openai_base_url=base_url,
        embedding_model="fake-embed",
        embedding_dimensions=DIM,
        openai_api_key="sk-x",
    )
    with serve(create_app(settings)) as url, httpx.Client(base_url=url, timeout=30) as client:
        body = {"documents": [{"path": p, "content": c} for p, c in TINY_BOOK.items()]}
        assert client.post("/v1/documents", json=body).status_code == 200
        result = client.post(
            "/v1/search", json={"queries": ["Prometheus scrapes metrics"], "top_k": 1}
        ).json()
        assert result["results"][0]["source"]["heading_path"][-1] == "Metrics"
        fake.fail_next = [500, 500, 500]
        failed = client.post("/v1/search", json={"queries": ["something new entirely"]})
        assert failed.status_code == 503
        assert failed.json()["error"]["code"] == "unavailable"
