"""Embedding providers behind one interface: the bundled local model, or an OpenAI-compatible API.

Vectors are float32, L2-normalised rows of a `(len(texts), dimension)` array.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from services.retrieval.errors import DependencyError
from services.retrieval.local_model import (
    DOCUMENT_TOKENS,
    INPUT_NAMES,
    MODEL_NAME,
    Precision,
    max_tokens,
    model_file,
    weights_dir,
)
from services.retrieval.settings import DEFAULT_MODEL_DIR, RetrievalSettings

if TYPE_CHECKING:
    import httpx2

Vectors = npt.NDArray[np.float32]
Purpose = Literal["query", "document"]


class EmbeddingError(DependencyError):
    """The provider failed to embed (after retries)."""


class Embedder(Protocol):
    """Turns texts into vectors."""

    model_id: str
    """Names the model (and provider) so cached vectors never mix models."""
    dimension: int
    """Length of every vector."""

    async def embed(self, texts: list[str], purpose: Purpose = "query") -> Vectors:
        """One row per text, in order. `purpose` separates a reader's queries from bulk
        document embedding (providers may schedule them apart)."""
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


DOCUMENT_BATCH = 4
"""Passages per model run when ingesting, sorted by length so little is padded."""


class LocalEmbedder:
    """all-MiniLM-L6-v2 (384 dims) on the CPU with ONNX Runtime, offline, off the event loop.

    Queries and documents run on separate sessions and worker threads, so a long ingestion
    never queues a reader's search behind it. Queries run one at a time on `threads`
    threads. Passages run on a single-threaded session from `document_threads` workers at
    once, in length-sorted batches of DOCUMENT_BATCH (fp32; int8 one at a time): measured
    here (fp32, 128 word pieces, 2 cores) 101 passages/s in batches, 93 one at a time, 74
    one at a time on a two-threaded session.
    """

    dimension = 384

    def __init__(
        self,
        *,
        cache_dir: Path = DEFAULT_MODEL_DIR,
        precision: Precision = "fp32",
        threads: int = 1,
        document_threads: int = 0,
        document_tokens: int = DOCUMENT_TOKENS,
    ) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        limit = max_tokens()
        document_tokens = min(document_tokens, limit)
        self.model_id = (
            f"local/{MODEL_NAME}"
            + ("" if precision == "fp32" else f"-{precision}")
            + ("" if document_tokens == limit else f"-d{document_tokens}")
        )
        path = model_file(cache_dir, precision)
        self._tokenizers = {}
        for purpose, tokens in (("query", limit), ("document", document_tokens)):
            tokenizer = Tokenizer.from_file(str(weights_dir() / "tokenizer.json"))
            tokenizer.no_padding()
            tokenizer.enable_truncation(tokens)
            self._tokenizers[purpose] = tokenizer

        def session(count: int) -> onnxruntime.InferenceSession:
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = count
            options.inter_op_num_threads = 1
            return onnxruntime.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )

        workers = {"query": 1, "document": document_threads or os.cpu_count() or 1}
        # One session per purpose: ONNX Runtime sessions may run from several threads.
        self._sessions = {"query": session(threads), "document": session(1)}
        # int8 scales activations per run, so a passage's vector would depend on the
        # passages batched with it: int8 runs them one at a time.
        batch = DOCUMENT_BATCH if precision == "fp32" else 1
        self._batch: dict[Purpose, int] = {"query": 1, "document": batch}
        self._executors = {
            purpose: ThreadPoolExecutor(max_workers=count, thread_name_prefix=f"embed-{purpose}")
            for purpose, count in workers.items()
        }

    def _groups(self, texts: list[str], purpose: Purpose) -> list[tuple[list[int], list[Any]]]:
        """`(rows, encodings)` batches of `texts`, each of similar lengths."""
        encodings = self._tokenizers[purpose].encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        size = self._batch[purpose]
        return [
            (rows, [encodings[i] for i in rows])
            for rows in (order[k : k + size] for k in range(0, len(order), size))
        ]

    def _run(self, purpose: Purpose, encodings: list[Any]) -> np.ndarray:
        """Mean-pooled (not yet normalised) vectors of one batch, padding masked out."""
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        inputs = (ids, mask, np.zeros_like(ids))
        hidden = self._sessions[purpose].run(None, dict(zip(INPUT_NAMES, inputs, strict=True)))[0]
        return np.asarray((hidden * mask[..., None]).sum(axis=1) / mask.sum(axis=1, keepdims=True))

    def embed_sync(self, texts: list[str], purpose: Purpose = "query") -> Vectors:
        """Embed on the calling thread (offline tools and tests)."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for rows, encodings in self._groups(texts, purpose):
            out[rows] = self._run(purpose, encodings)
        return normalize(out)

    async def embed(self, texts: list[str], purpose: Purpose = "query") -> Vectors:
        loop = asyncio.get_running_loop()
        executor = self._executors[purpose]
        groups = await loop.run_in_executor(executor, self._groups, texts, purpose)
        runs = [loop.run_in_executor(executor, self._run, purpose, enc) for _, enc in groups]
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for (rows, _), vectors in zip(groups, await asyncio.gather(*runs), strict=True):
            out[rows] = vectors
        return normalize(out)

    async def close(self) -> None:
        for executor in self._executors.values():
            executor.shutdown(wait=False, cancel_futures=True)


class OpenAIEmbedder:
    """Any OpenAI-compatible `POST {base_url}/embeddings` endpoint, through the openai SDK.

    The SDK retries connection errors, timeouts, 408, 409, 429 and 5xx with backoff (and
    `Retry-After`); any other refusal fails at once. Vectors travel as base64 float32, as the
    SDK asks by default; a server that answers with float lists instead is read as well.
    """

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
    ) -> None:
        import openai  # about a second to import: only when this provider is chosen

        self.model = model
        self.model_id = f"openai/{model}"
        self.dimension = dimension
        self.batch_size = batch_size
        self._client = openai.AsyncOpenAI(
            base_url=base_url,
            # Local servers usually ignore the key, but the SDK insists on one.
            api_key=api_key or "not-needed",
            timeout=timeout,
            max_retries=retries,
        )

    async def embed(self, texts: list[str], purpose: Purpose = "query") -> Vectors:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        parts = [
            await self._call(texts[i : i + self.batch_size])
            for i in range(0, len(texts), self.batch_size)
        ]
        return normalize(np.concatenate(parts))

    async def _call(self, texts: list[str]) -> Vectors:
        import openai

        # ada-002 has one size and refuses the parameter.
        ada = self.model.startswith("text-embedding-ada")
        try:
            # Read from the raw body: for a server that answers float lists, the SDK's
            # models made a batch of 64 x 1536 dims about 7x slower to read, measured here.
            raw = await self._client.embeddings.with_raw_response.create(
                model=self.model,
                input=texts,
                encoding_format="base64",
                dimensions=openai.omit if ada else self.dimension,
            )
        except openai.APIStatusError as exc:
            tries = _tries(exc.request)
            if tries == 1:  # not retried (a refusal, or retries=0): the body says why
                raise EmbeddingError(
                    f"Embeddings endpoint refused the call: HTTP {exc.status_code} "
                    f"{exc.response.text[:200]}"
                ) from None
            raise EmbeddingError(
                f"Embeddings endpoint failed after {tries} tries: HTTP {exc.status_code}"
            ) from None
        except openai.APIConnectionError as exc:
            cause = exc.__cause__ or exc
            raise EmbeddingError(
                f"Embeddings endpoint failed after {_tries(exc.request)} tries: "
                f"{type(cause).__name__}: {cause}"
            ) from None
        return self._parse(raw.http_response.content, len(texts))

    def _parse(self, body: bytes, count: int) -> Vectors:
        try:
            data = sorted(json.loads(body)["data"], key=lambda item: item["index"])
            vectors = np.stack([_vector(item["embedding"]) for item in data])
        except (ValueError, KeyError, TypeError) as exc:
            raise EmbeddingError(f"Malformed embeddings response: {exc}") from None
        if vectors.shape != (count, self.dimension):
            raise EmbeddingError(
                f"Embeddings response has shape {vectors.shape}, "
                f"expected ({count}, {self.dimension})"
            )
        return vectors

    async def close(self) -> None:
        await self._client.close()


def _vector(embedding: str | list[float]) -> Vectors:
    """One embedding as sent: base64 of little-endian float32, or a list of floats."""
    if isinstance(embedding, str):
        return np.frombuffer(base64.b64decode(embedding, validate=True), dtype="<f4")
    return np.asarray(embedding, dtype=np.float32)


def _tries(request: httpx2.Request) -> int:
    """How many tries the SDK made, from the retry count it stamps on each request."""
    return 1 + int(request.headers.get("x-stainless-retry-count", "0"))


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
        cache_dir=settings.model_dir,
        precision=settings.local_model_precision,
        threads=settings.embedding_threads,
        document_threads=settings.embedding_document_threads,
        document_tokens=settings.local_model_document_tokens,
    )
